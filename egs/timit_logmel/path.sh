# Sourced by run.sh: puts speechgen's environment (tools/venv) on PATH (see utils/path_common.sh).
SPEECHGEN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck disable=SC1091
. "$SPEECHGEN_ROOT/utils/path_common.sh"
