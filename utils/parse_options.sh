#!/usr/bin/env bash
# Source this from a recipe after setting default values of its variables:
#     stage=0; timit=""; . utils/parse_options.sh
# Each `--some-name VALUE` on the command line sets the variable some_name (dashes become
# underscores) when a variable of that name already exists; an unknown option is an error.
# `--help` prints the recipe's header comment (the lines starting with '#' after the shebang)
# and the current values of its options. A positional argument is an error: every setting is an
# option (a path, e.g. `./run.sh /data/TIMIT`, is pointed to the option that the header's
# `# Usage: ./run.sh [--timit /path/...]` line gives a path).

__po_help() {
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
  echo
  echo "Options (current values):"
  for __po_var in $__po_vars; do
    printf '  --%s %s\n' "${__po_var//_/-}" "${!__po_var}"
  done
}

# __po_meant ARG [NEXT]: the option that a stray ARG was probably meant for, as `--name value`
__po_meant() {
  local name=${1%%=*}
  name=${name//-/_}
  if [[ $1 == *=* && " $__po_vars " == *" $name "* ]]; then
    echo "--${name//_/-} ${1#*=}"
  elif [[ $# -gt 1 && " $__po_vars " == *" $name "* ]]; then
    echo "--${name//_/-} $2"
  elif [[ $1 == */* ]]; then
    name=$(sed -n 's/^# Usage:[^[]*\[--\([a-z0-9-]*\) \/.*/\1/p' "$0" | head -n 1)
    [ -z "$name" ] || echo "--$name $1"
  fi
}

# __po_stray ARG [NEXT]: stop the recipe at a positional argument, with the option it was probably meant for
__po_stray() {
  local meant
  meant=$(__po_meant "$@")
  echo "$0: unexpected argument '$1'; options are --name value (${meant:+did you mean $meant? }see --help)" >&2
  exit 1
}

# the lower-case shell variables (not exported ones from the environment) defined before sourcing
__po_vars=$(declare -p | sed -n 's/^declare -- \([a-z][a-z0-9_]*\)=.*/\1/p' | grep -v '^__po_' | tr '\n' ' ')

while [ $# -gt 0 ]; do
  case "$1" in
    --help|-h) __po_help; exit 0 ;;
    --*=*) __po_name=${1%%=*}; __po_value=${1#*=}; shift ;;
    --*)
      __po_name=$1
      if [ $# -lt 2 ]; then echo "$0: option $1 needs a value (see --help)" >&2; exit 1; fi
      __po_value=$2; shift 2 ;;
    *) __po_stray "${@:1:2}" ;;
  esac
  __po_var=${__po_name#--}; __po_var=${__po_var//-/_}
  case " $__po_vars " in
    *" $__po_var "*) printf -v "$__po_var" '%s' "$__po_value" ;;
    *) echo "$0: unknown option $__po_name (see --help)" >&2; exit 1 ;;
  esac
done
unset __po_name __po_value __po_var
