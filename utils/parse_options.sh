#!/usr/bin/env bash
# Source this from a recipe after setting default values of its variables:
#     stage=0; timit=""; . utils/parse_options.sh
# Each `--some-name VALUE` on the command line sets the variable some_name (dashes become
# underscores) when a variable of that name already exists; an unknown option is an error.
# `--help` prints the recipe's header comment (the lines starting with '#' after the shebang)
# and the current values of its options. Remaining positional arguments stay in "$@".

__po_help() {
  sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
  echo
  echo "Options (current values):"
  for __po_var in $__po_vars; do
    printf '  --%s %s\n' "${__po_var//_/-}" "${!__po_var}"
  done
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
    *) break ;;
  esac
  __po_var=${__po_name#--}; __po_var=${__po_var//-/_}
  case " $__po_vars " in
    *" $__po_var "*) printf -v "$__po_var" '%s' "$__po_value" ;;
    *) echo "$0: unknown option $__po_name (see --help)" >&2; exit 1 ;;
  esac
done
unset __po_name __po_value __po_var
