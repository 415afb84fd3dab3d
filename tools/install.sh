#!/usr/bin/env bash
# Build tools/venv: torch first (pinned, CPU wheel where the machine offers one), then speechgen.
#   TORCH_VERSION=2.13.0 tools/install.sh        # default
#   EXTRAS=all tools/install.sh                  # extras of setup.py to install (default: all)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
venv="$here/venv"
python=${PYTHON:-python3}
torch_version=${TORCH_VERSION:-2.13.0}
extras=${EXTRAS:-all}

if [ ! -x "$venv/bin/python" ]; then
  echo "creating $venv"
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip setuptools wheel
if ! "$venv/bin/python" -c "import torch, sys; sys.exit(0 if torch.__version__.split('+')[0] == '$torch_version' else 1)" 2>/dev/null; then
  echo "installing torch==$torch_version"
  "$venv/bin/python" -m pip install --quiet "torch==$torch_version"
fi
echo "installing speechgen[$extras] (editable)"
"$venv/bin/python" -m pip install --quiet -e "$root[$extras]"
"$venv/bin/python" -c "import torch, speechgen; print('speechgen', speechgen.__version__, 'torch', torch.__version__)"
touch "$venv/.installed"
