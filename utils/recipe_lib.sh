# Shell helpers shared by the recipes' run.sh (sourced after the options are parsed).

# log STAGE MESSAGE...: a time-stamped progress line
log() { echo "$(date '+%H:%M:%S') [stage $1] ${*:2}"; }

# conf_of MODEL: the model's config, its _debug twin when --debug true
conf_of() { if [ "$debug" = true ]; then echo "conf/${1}_debug.yaml"; else echo "conf/$1.yaml"; fi; }

# data_prepared DATA WANT: true when DATA was prepared with the settings WANT (the stamp DATA/.done);
# false when it was not prepared yet; stops the recipe when it was prepared with other settings.
data_prepared() {
  local dir=$1 want=$2
  [ -f "$dir/.done" ] || return 1
  if [ "$(cat "$dir/.done")" = "$want" ]; then
    log 0 "$dir already prepared ($want)"
    return 0
  fi
  echo "$0: $dir was prepared with other settings:" >&2
  echo "    $(cat "$dir/.done")" >&2
  echo "  remove $dir $dump $exp (or pass --data/--dump/--exp elsewhere) to prepare: $want" >&2
  exit 1
}

# make_synth_corpus DIR: generate the embedded synthetic corpus once (n_female, n_male,
# synth_sentences, seed, nj from the recipe's options)
make_synth_corpus() {
  [ -f "$1/.done" ] && return 0
  log 0 "generating the embedded synthetic corpus -> $1"
  speechgen-make-synth "$1" --n-female "$n_female" --n-male "$n_male" \
    --n-sentences "$synth_sentences" --seed "$seed" --nj "$nj"
}
