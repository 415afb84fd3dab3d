# Sourced by each recipe's path.sh once SPEECHGEN_ROOT is set: puts speechgen's environment
# (tools/venv) on PATH, or keeps the current one with SPEECHGEN_USE_CURRENT_ENV=1.
export SPEECHGEN_ROOT
if [ -z "${SPEECHGEN_USE_CURRENT_ENV:-}" ]; then
  if [ ! -x "$SPEECHGEN_ROOT/tools/venv/bin/python" ]; then
    echo "path.sh: $SPEECHGEN_ROOT/tools/venv is missing: run \`make install\` first (in $SPEECHGEN_ROOT)," >&2
    echo "         or set SPEECHGEN_USE_CURRENT_ENV=1 to use a Python environment where speechgen is installed" >&2
    return 1 2>/dev/null || exit 1
  fi
  # shellcheck disable=SC1091
  . "$SPEECHGEN_ROOT/tools/venv/bin/activate"
fi
export PYTHONUNBUFFERED=1
export LC_ALL=C
