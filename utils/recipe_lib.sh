# Shell helpers shared by the recipes' run.sh (sourced after the options are parsed).

# the launcher of the parallel stages (JOB=1:N) for cmd.sh's (or --cmd-backend's) cmd_backend
case "${cmd_backend:-local}" in
  local) train_cmd="utils/run.py" ;;
  slurm) train_cmd="utils/slurm.py --config conf/slurm.conf" ;;
  *) echo "$0: cmd_backend=$cmd_backend (cmd.sh or --cmd-backend): expected local or slurm" >&2; exit 1 ;;
esac
cpu_cmd=$train_cmd

# log STAGE MESSAGE...: a time-stamped progress line
log() { echo "$(date '+%H:%M:%S') [stage $1] ${*:2}"; }

# conf_of NAME: the config of a model: conf/NAME_debug.yaml with --debug true; conf/NAME_SET.yaml with
# --conf-set SET where the recipe has one (e.g. timit_fdnf's longer *_paper.yaml); else conf/NAME.yaml
conf_of() {
  if [ "$debug" = true ]; then echo "conf/${1}_debug.yaml"
  elif [ -n "${conf_set:-}" ] && [ -f "conf/${1}_${conf_set}.yaml" ]; then echo "conf/${1}_${conf_set}.yaml"
  else echo "conf/$1.yaml"; fi
}

# check_conf_set: a --conf-set that names no config of this recipe is an error (not a silent fall-back);
# a set is the SET of conf/NAME_SET.yaml beside a conf/NAME.yaml (debug apart)
check_conf_set() {
  [ -z "${conf_set:-}" ] && return 0
  local f base sets=()
  for f in conf/*_*.yaml; do
    base=${f%_*}.yaml; f=${f##*_}; f=${f%.yaml}
    [ -f "$base" ] && [ "$f" != debug ] && sets+=("$f")
  done
  [[ " ${sets[*]} " == *" $conf_set "* ]] && return 0
  echo "$0: --conf-set $conf_set: no conf/*_${conf_set}.yaml here; the sets: $(printf '%s\n' "${sets[@]}" | sort -u | tr '\n' ' ')" >&2
  exit 1
}

# data_prepared DATA WANT: true when DATA was prepared with the settings WANT (the stamp DATA/.done);
# false when it was not prepared yet; stops the recipe when it was prepared with other settings.
data_prepared() {
  local dir=$1 want=$2
  [ -f "$dir/.done" ] || return 1
  if [ "$(cat "$dir/.done")" = "$want" ]; then
    log 0 "$dir already prepared ($want)"
    return 0
  fi
  echo "$0: $dir was prepared with other settings ($(cat "$dir/.done")); remove $dir (the later" \
    "stages then redo what depends on it) or pass --data elsewhere, to prepare: $want" >&2
  exit 1
}

# make_synth_corpus DIR: generate the embedded synthetic corpus once (n_female, n_male,
# synth_sentences, seed, nj from the recipe's options)
make_synth_corpus() {
  [ -f "$1/.done" ] && return 0
  claim_dirs corpus_dir
  log 0 "generating the embedded synthetic corpus -> $1"
  speechgen-make-synth "$1" --n-female "$n_female" --n-male "$n_male" \
    --n-sentences "$synth_sentences" --seed "$seed" --nj "$nj"
}

# The corpus of stage 0: --corpus KIND --corpus-path PATH (the recipe's --timit PATH / --chime4 PATH are
# shorthands for --corpus timit / chime4 with that path). --corpus synth without a path is the embedded
# eSpeak NG corpus, made under --corpus-dir from n_female, n_male, synth_sentences and seed. The kinds and
# their layouts are speechgen-prepare-data's (--help lists them); it checks KIND and PATH in stage 0.

# resolve_corpus SHORTHAND...: set corpus and corpus_path (and make_synth=true when the recipe makes the
# embedded corpus)
resolve_corpus() {
  local short
  for short; do
    if [ -n "${!short}" ]; then corpus=$short; corpus_path=${!short}; fi
  done
  make_synth=false
  if [ "$corpus" = synth ] && [ -z "$corpus_path" ]; then
    corpus_path=$corpus_dir/synth_${n_female}f${n_male}m${synth_sentences}s_seed$seed
    make_synth=true
  fi
}

# corpus_stamp: the stage-0 settings of the corpus (kind, path, split and reader options), for data_prepared
corpus_stamp() {
  echo "corpus=$corpus path=${corpus_path:+$(realpath -m "$corpus_path")} split=$split seed=$seed" \
    "speaker_pattern=$speaker_pattern phone_map=${phone_map:+$(realpath -m "$phone_map")}"
}

# prepare_data RECIPE [OPTION...]: stage 0: the embedded corpus made when needed, then the data dirs of
# the corpus for RECIPE (speechgen-prepare-data) -> $data, each validated
prepare_data() {
  [ "$make_synth" = true ] && make_synth_corpus "$corpus_path"
  if [ "$corpus" = chime4 ]; then
    log 0 "clean speech of CHiME-4 ($corpus_path) -> $data"
  else
    log 0 "preparing Kaldi data dirs of the $corpus corpus $corpus_path -> $data"
  fi
  speechgen-prepare-data "$data" --recipe "$1" --corpus "$corpus" --corpus-path "$corpus_path" --split "$split" \
    --seed "$seed" --speaker-pattern "$speaker_pattern" --phone-map "$phone_map" "${@:2}"
  for x in train dev test; do utils/validate_data_dir.py "$data/$x"; done
}

# feature_jobs SCRIPT LOG DATA_DIR OUT_DIR [OPTION...]: a feature stage script's $nj jobs through
# $train_cmd (logs OUT_DIR/log/LOG.JOB.log), then its --merge; OPTIONs go to both
feature_jobs() {
  local script=$1 logname=$2 src=$3 dst=$4
  shift 4
  $train_cmd JOB=1:"$nj" "$dst/log/$logname.JOB.log" "$script" --nj "$nj" --job JOB "$@" "$src" "$dst"
  "$script" --nj "$nj" --merge "$@" "$src" "$dst"
}

# bg_progress: print each background training's newest epoch line once, as it appears in its log
# (epoch, loss, seconds per epoch and the time left), so trainings side by side show how they go
declare -A bg_shown=()
bg_names=()
bg_progress() {
  local name line
  for name in "${bg_names[@]}"; do
    line=$(grep -h " INFO epoch [0-9]*/[0-9]* step " "$exp/log/$name.log" 2>/dev/null | tail -n 1) || true
    if [ -z "$line" ] || [ "$line" = "${bg_shown[$name]:-}" ]; then continue; fi
    bg_shown[$name]=$line
    echo "$line" | awk -v job="$name" '{
      for (i = 1; i <= NF; i++) if ($i == "epoch") { split($(i + 1), e, "/"); sec = $(i + 4); sub(/s$/, "", sec) }
      loss = ""; for (i = 1; i <= NF; i++) if ($i ~ /^(valid|train)_loss=/ && loss !~ /^valid/) loss = $i
      printf "%s   %s: epoch %d/%d %s (%.0f s/epoch, about %.0f min left)\n", $2, job, e[1], e[2], loss, sec,
             (e[2] - e[1]) * sec / 60 }'
  done
}

# bg_slot N: wait until fewer than N of this recipe's background jobs run, showing their progress
bg_slot() { while [ "$(jobs -rp | wc -l)" -ge "$1" ]; do sleep 1; bg_progress; done; }

# bg_watch: wait for every background job, showing the progress of those in bg_names (then emptied)
bg_watch() {
  bg_slot 1
  wait
  bg_progress
  bg_names=()
}

# bg_job N NAME CMD...: run CMD in the background once fewer than N of this recipe's jobs run;
# its output goes to $exp/log/NAME.log, its exit status to $exp/log/NAME.rc
bg_job() {
  local n=$1 name=$2
  shift 2
  mkdir -p "$exp/log"
  bg_slot "$n"
  rm -f "$exp/log/$name.rc"
  bg_names+=("$name")
  ( rc=0; "$@" > "$exp/log/$name.log" 2>&1 || rc=$?; echo "$rc" > "$exp/log/$name.rc" ) &
}

# bg_wait NAME...: wait for the background jobs (showing progress); stop the recipe naming the log of each failed one
# (a job's "nothing to do" notice, e.g. of a finished training, is repeated on stderr)
bg_wait() {
  bg_watch
  local name failed=0
  for name in "$@"; do
    grep -h "nothing to do" "$exp/log/$name.log" >&2 2>/dev/null || true
    if [ "$(cat "$exp/log/$name.rc" 2>/dev/null)" != 0 ]; then
      tail -5 "$exp/log/$name.log" >&2
      echo "$0: $name failed (see $exp/log/$name.log)" >&2
      failed=1
    fi
  done
  [ "$failed" = 0 ] || exit 1
}

# check_ngpu: stop the recipe when --ngpu is not a number, or asks for more CUDA devices than torch sees
check_ngpu() {
  check_int_option ngpu 0
  [ "$ngpu" -eq 0 ] && return 0
  local seen
  seen=$(python -c "import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)")
  if [ "$seen" -lt "$ngpu" ]; then
    echo "$0: --ngpu $ngpu but torch sees $seen CUDA device(s) here; use at most --ngpu $seen (0 trains on the CPU)" >&2
    exit 1
  fi
}

# run_training CMD ARGS...: a training stage script on --ngpu devices: 0 the CPU, 1 one CUDA device,
# N > 1 N processes of DistributedDataParallel on this machine (torchrun), each on its own GPU with
# its share of every batch. The device reaches the script as the override trainer.device.
run_training() {
  if [ "$ngpu" -eq 0 ]; then
    "$@" --override trainer.device=cpu
  elif [ "$ngpu" -eq 1 ]; then
    "$@" --override trainer.device=cuda
  else
    python -m torch.distributed.run --standalone --nproc_per_node "$ngpu" --no-python \
      "$@" --override trainer.device=cuda
  fi
}

# reversed_words WORD...: the words one per line, last first (jobs started longest first)
reversed_words() { printf '%s\n' "$@" | tac; }

# training_jobs: how many trainings run at a time: $nj on the CPU, one when they use the GPUs
training_jobs() { if [ "$ngpu" -eq 0 ]; then echo "$nj"; else echo 1; fi; }

# train_slot LEFT TOTAL: wait until the next of a queue of TOTAL trainings of about equal length may
# start, LEFT of them still to start counting this one, and set train_threads to the torch threads it
# gets. On the CPU they run $nj at a time with one thread each, and the last round, the TOTAL % $nj
# left over, waits for the others and shares the $nj cores (a core left idle for the minutes a lone
# training takes costs more than the seconds it waits; a queue of one gets them all). On GPUs: one at
# a time, one thread.
train_threads=1
train_slot() {
  local last_round=$(( $2 % nj ))
  if [ "$ngpu" -ne 0 ] || [ "$1" -gt "$last_round" ]; then
    bg_slot "$(training_jobs)"
    train_threads=1
    return 0
  fi
  if [ "$1" -eq "$last_round" ]; then bg_slot 1; fi  # its first job waits for the rounds before
  train_threads=$(( nj / last_round ))
}

# check_int_option NAME MIN: stop the recipe unless option --NAME is a whole number of at least MIN
check_int_option() {
  local opt=--${1//_/-} value=${!1}
  if ! [[ $value =~ ^[0-9]{1,9}$ ]] || [ "$value" -lt "$2" ]; then
    echo "$0: $opt '$value': expected a whole number >= $2 (e.g. $opt $2)" >&2
    exit 1
  fi
}

# check_stages LAST: stop the recipe unless --stage and --stop-stage are whole numbers, --stage is at
# most LAST (the recipe's last stage) and --stop-stage is not before --stage
check_stages() {
  check_int_option stage 0
  check_int_option stop_stage 0
  if [ "$stage" -gt "$1" ]; then
    echo "$0: --stage $stage: this recipe's stages are 0 to $1 (pass --stage 0..$1)" >&2
    exit 1
  fi
  if [ "$stop_stage" -lt "$stage" ]; then
    echo "$0: --stop-stage $stop_stage is before --stage $stage: nothing would run (pass --stop-stage $stage or more)" >&2
    exit 1
  fi
}

# claim_dirs NAME...: the dirs of options --NAME (e.g. data dump exp) created, checked writable and
# locked for this run; stops the recipe naming the dir when one is not writable or in use
claim_dirs() {
  local name
  for name; do
    writable_dir "--${name//_/-}" "${!name}"
    lock_dir "--${name//_/-}" "${!name}"
  done
}

# writable_dir OPTION DIR: stop the recipe unless DIR (of OPTION) can be created and written
writable_dir() {
  local test=$2/.write_test.$$
  if mkdir -p "$2" 2>/dev/null && { : > "$test"; } 2>/dev/null; then
    rm -f "$test"
    return 0
  fi
  echo "$0: $1 $2: cannot create or write this directory; make it writable or pass $1 a writable path" >&2
  exit 1
}

# lock_dir OPTION DIR: an exclusive lock on DIR/.lock (holding this run's pid) until this run ends,
# however it ends: the lock goes with the open file, which this shell and its jobs hold. Stops the
# recipe when another run holds it. Without flock(1) (util-linux), a warning instead (once).
lock_dir() {
  local fd pid
  if ! command -v flock > /dev/null; then
    [ -n "${__unlocked:-}" ] || echo "$0: warning: flock (util-linux) not found: nothing keeps another run.sh off $1 $2" >&2
    __unlocked=1
    return 0
  fi
  case " ${__locked:-} " in *" $(realpath -m "$2") "*) return 0 ;; esac
  exec {fd}>> "$2/.lock"
  if ! flock -n "$fd"; then
    pid=$(cat "$2/.lock" 2> /dev/null || true)
    echo "$0: $2 ($1) is in use by another run.sh${pid:+ (pid $pid)}; wait for it to end, or pass $1 elsewhere" >&2
    exit 1
  fi
  echo "$$" > "$2/.lock"
  __locked="${__locked:-} $(realpath -m "$2")"
}

# Stage freshness: an output is up to date when its stamp records the options and the inputs it was
# made from and they are still the same. An INPUT is a file (compared by checksum: a model's best.pt,
# a feature dir's stamp) or a Kaldi data dir (the checksums of its files, all small text). A later
# stage lists an earlier stage's stamp among its inputs, so a redone stage redoes those after it.

# stamp_inputs INPUT...: a line "parent/name checksum size" per input file (per file of an input dir)
stamp_inputs() {
  local f label
  for f; do
    label=$(basename "$(dirname "$f")")/${f##*/}
    if [ -d "$f" ]; then
      stamp_inputs "$f"/*
    elif [ -f "$f" ]; then
      echo "$label $(cksum < "$f")"
    elif [ "${f##*/}" != "*" ]; then  # (not the unexpanded pattern of an empty dir)
      echo "$label missing"
    fi
  done
}

# up_to_date STAMP OPTIONS INPUT...: true when STAMP records these options and these inputs
up_to_date() {
  local stamp=$1
  shift
  [ -f "$stamp" ] && [ "$(tail -n +2 "$stamp")" = "$(echo "options: $1"; stamp_inputs "${@:2}")" ]
}

# write_stamp STAMP OPTIONS INPUT...: record them, once the output is complete. The first line (when,
# by which run) differs each time, so a stage that lists STAMP as input is redone after this one.
write_stamp() {
  local stamp=$1
  shift
  { echo "made $(date '+%F %T.%N') by run.sh pid $$"; echo "options: $1"; stamp_inputs "${@:2}"; } > "$stamp.tmp"
  mv "$stamp.tmp" "$stamp"
}

# fresh N OUT STAMP OPTIONS INPUT...: true, logging "OUT up to date", when OUT exists and STAMP records
# these options and inputs; otherwise false, with OUT and STAMP removed (nothing stale is kept)
fresh() {
  local n=$1 out=$2
  shift 2
  if [ -e "$out" ] && up_to_date "$@"; then
    log "$n" "$out up to date"
    return 0
  fi
  rm -rf "$out" "$1"
  return 1
}

# fresh_training DIR CONFIG OPTIONS INPUT...: keep the training dir DIR (its training resumes) when it was
# started from this config file, these options and inputs; otherwise start it afresh: removed, then
# stamped anew (an edited config, or another one, trains from scratch)
fresh_training() {
  local dir=$1 config=$2 options=$3
  shift 3
  up_to_date "$dir/.stamp" "$options" "$config" "$@" && return 0
  rm -rf "$dir"
  mkdir -p "$dir"
  write_stamp "$dir/.stamp" "$options" "$config" "$@"
}

# trained N DIR: whether the training in DIR (kept by fresh_training) has run all its epochs: its
# summary.json says so and its resume state (checkpoint.pt, saved after the summary) is not older. Then
# it is logged as up to date and no speechgen-train need start (it would load everything to say
# "nothing to do"); an unfinished or interrupted one is left to speechgen-train --resume.
trained() {
  local dir=$2 epochs max
  [ -f "$dir/best.pt" ] && [ -f "$dir/checkpoint.pt" ] && [ -f "$dir/summary.json" ] || return 1
  [ "$dir/summary.json" -nt "$dir/checkpoint.pt" ] && return 1
  epochs=$(sed -n 's/^ *"epochs": *\([0-9]*\),*$/\1/p' "$dir/summary.json")
  max=$(sed -n 's/^ *"max_epochs": *\([0-9]*\),*$/\1/p' "$dir/summary.json")
  [ -n "$epochs" ] && [ -n "$max" ] && [ "$epochs" -ge "$max" ] || return 1
  log "$1" "$dir up to date ($epochs of $max epochs trained)"
}

# training_done N DIR CONFIG OPTIONS INPUT...: fresh_training DIR CONFIG OPTIONS INPUT... (a failure stops
# the recipe), then whether the kept training has run all its epochs (trained N DIR: logged as up to date)
training_done() {
  local n=$1
  shift
  fresh_training "$@" || exit 1
  trained "$n" "$1"
}

# pack_models N DIR...: each trained model dir (exp/train_<name> or exp/<name>) packed into one file,
# $exp/packed/<name>.tar.gz (speechgen-pack: weights, config, feature settings, label tables and the
# model's rows of $exp/RESULTS.md), for speechgen.load_model and speechgen-convert/-resynth anywhere.
# A pack whose checkpoint and results are unchanged is kept; the others are packed in one process.
pack_models() {
  local n=$1 d name todo=()
  shift
  for d; do
    name=$(basename "$d")
    name=${name#train_}
    fresh "$n" "$exp/packed/$name.tar.gz" "$exp/packed/.$name.stamp" "" "$d/best.pt" "$exp/RESULTS.md" && continue
    todo+=("$d")
  done
  if [ ${#todo[@]} -gt 0 ]; then
    speechgen-pack "${todo[@]}" --out-dir "$exp/packed"
    for d in "${todo[@]}"; do
      name=$(basename "$d")
      write_stamp "$exp/packed/.${name#train_}.stamp" "" "$d/best.pt" "$exp/RESULTS.md"
    done
  fi
  log "$n" "packed models in $exp/packed/"
}
