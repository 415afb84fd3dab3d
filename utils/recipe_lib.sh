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

# feature_jobs SCRIPT LOG DATA_DIR OUT_DIR [OPTION...]: a feature stage script's $nj jobs through
# $train_cmd (logs OUT_DIR/log/LOG.JOB.log), then its --merge; OPTIONs go to both
feature_jobs() {
  local script=$1 logname=$2 src=$3 dst=$4
  shift 4
  $train_cmd JOB=1:"$nj" "$dst/log/$logname.JOB.log" "$script" --nj "$nj" --job JOB "$@" "$src" "$dst"
  "$script" --nj "$nj" --merge "$@" "$src" "$dst"
}

# bg_slot N: wait until fewer than N of this recipe's background jobs run
bg_slot() { while [ "$(jobs -rp | wc -l)" -ge "$1" ]; do wait -n || true; done; }

# bg_job N NAME CMD...: run CMD in the background once fewer than N of this recipe's jobs run;
# its output goes to $exp/log/NAME.log, its exit status to $exp/log/NAME.rc
bg_job() {
  local n=$1 name=$2
  shift 2
  mkdir -p "$exp/log"
  bg_slot "$n"
  rm -f "$exp/log/$name.rc"
  ( rc=0; "$@" > "$exp/log/$name.log" 2>&1 || rc=$?; echo "$rc" > "$exp/log/$name.rc" ) &
}

# bg_wait NAME...: wait for the background jobs; stop the recipe naming the log of each failed one
# (a job's "nothing to do" notice, e.g. of a finished training, is repeated on stderr)
bg_wait() {
  wait
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
  case "$ngpu" in
    ''|*[!0-9]*) echo "$0: --ngpu $ngpu: expected 0 (the CPU) or a number of CUDA devices" >&2; exit 1 ;;
  esac
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

# training_jobs: how many trainings run at a time: $nj on the CPU, one when they use the GPUs
training_jobs() { if [ "$ngpu" -eq 0 ]; then echo "$nj"; else echo 1; fi; }
