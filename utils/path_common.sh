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
# The CPU kernels. torch, oneDNN, MKL and numpy's OpenBLAS run AVX-512 code where the CPU has it and
# AVX2 code where it has not, and the two round differently: a training on one kind of machine ends
# with other numbers than the same training on the other (e.g. a test accuracy 0.625 instead of 0.582),
# and a t-SNE with another embedding. On a CPU with AVX-512 the recipes use the AVX2 kernels, so that
# they give the same results on both kinds (the tables in the README are from an AVX2 machine);
# SPEECHGEN_CPU_ISA=native keeps the machine's own.
case "${SPEECHGEN_CPU_ISA:-avx2}" in
  avx2)
    if grep -q -m1 -w avx512f /proc/cpuinfo 2>/dev/null; then
      export ATEN_CPU_CAPABILITY=avx2 MKL_ENABLE_INSTRUCTIONS=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 \
        OPENBLAS_CORETYPE=Haswell
    fi ;;
  native) ;;
  *) echo "path.sh: SPEECHGEN_CPU_ISA=$SPEECHGEN_CPU_ISA: expected avx2 (the default) or native" >&2
     return 1 2>/dev/null || exit 1 ;;
esac
