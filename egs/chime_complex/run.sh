#!/usr/bin/env bash
# Complex-spectrogram VAE recipe (Nugraha, Sekiguchi & Yoshii, "A deep generative model of speech
# complex spectrograms", ICASSP 2019) on the clean speech of CHiME-4, on any corpus (--corpus KIND
# --corpus-path PATH), or on the embedded synthetic corpus by default.
#
# Stages:
#   0  data: the corpus (--corpus, --corpus-path; the embedded eSpeak NG corpus by default), split by --split:
#      CHiME-4's clean speech by its sets (--chime4-train/dev/test-sets), any other corpus by speaker
#      (1 dev and 2 test speakers of each gender) -> $data/{train,dev,test}
#   1  with --speed-perturb (the default) the training audio also at speeds 0.9 and 1.1 -> $data/train_sp;
#      features: complex STFT (FFT 512 / hop 128, frames x 2F: real | imag) as Kaldi ark/scp, $nj jobs
#      -> $dump/{train_sp,dev,test}; per-bin log-magnitude statistics of the training set -> $dump/train_sp/cmvn.npz
#      ($dump/train instead with --speed-perturb "")
#   2  training of each model in --models (conf/<model>.yaml), on --ngpu GPUs: PCA (the probabilistic PCA
#      of the training frames with M's latent size, no training: the classical baseline of the magnitude
#      model), M (magnitude only, started from that PCA), then the joint models J1..J7 (started from M's
#      encoder and magnitude decoder with --init-joint-from-m; with --conf-set paper conf/J*_paper.yaml,
#      the paper's joint training from scratch) -> $exp/<model>/
#   3  decoding of at most --max-test-utts test utterances: oracle-magnitude references and the
#      original audio -> $exp/reference/audio/; per model the estimated magnitude with the estimated
#      (J*) or random (PCA, M) phase and with PGHI's phase (the model-free baseline), each without and with
#      --gla-iters Griffin-Lim, and (--oracle-conditioned)
#      the oracle magnitude with the phase each J model estimates from it -> $exp/<model>/audio/
#   4  scores (PESQ-WB, PESQ-NB, STOI, SI-SDR, LSD) of every decoded file -> $exp/*/scores.csv
#   5  $exp/RESULTS.md (mean ± standard error per model x condition) and the listening page
#      $exp/index.html (audio players, spectrograms, score table)
#   6  (--pack true) every model packed into one file -> $exp/packed/<model>.tar.gz, for
#      speechgen.load_model and speechgen-resynth anywhere
#
# Each stage skips an output whose stamp (.stamp) records the same options and inputs as now, and redoes
# from scratch one whose options or inputs changed (a model trained on other features trains afresh).
# Another run.sh on the same --data/--dump/--exp dirs is refused while this one runs (a lock on each).
#
# Usage: ./run.sh [--corpus-path /path/to/corpus --corpus KIND] [--stage N] [--stop-stage M] [options]
#   e.g. ./run.sh --corpus chime4 --corpus-path /data/CHiME4   (--chime4 /data/CHiME4 for short)
#        ./run.sh --stage 3          re-decode and re-score what is not up to date
#        ./run.sh --debug true       tiny corpus and conf/*_debug.yaml: the whole recipe in about two minutes
#        ./run.sh --stage 2 --ngpu 4 train on 4 GPUs (torchrun, DistributedDataParallel)
#        ./run.sh --conf-set paper --exp exp_paper   the J models as the paper trains them, beside exp/
set -euo pipefail

corpus=synth        # corpus kind: see speechgen-prepare-data --help (synth: the embedded eSpeak NG corpus)
corpus_path=""      # the corpus root (kaldi: the data dir); empty with --corpus synth: made under --corpus-dir
chime4=""           # shorthand: --chime4 PATH is --corpus chime4 --corpus-path PATH (the root holding data/audio/16kHz)
speaker_pattern=""  # wavdir: regex on a file's path under the root, group 'spk' its speaker (default: its top folder)
phone_map=""        # alignments with labels beyond TIMIT-61/ARPAbet: a file of 'label timit61' lines
split="corpus|speakers:1,2"  # the corpus's own split (CHiME-4: the sets below), else 1 dev + 2 test speakers per gender
chime4_train_sets="tr05_simu"   # CHiME-4 sets of each split (see speechgen-prepare-data --help)
chime4_dev_sets="dt05_simu"
chime4_test_sets="et05_simu"
chime4_channel=5    # channel of the simulated clean speech images
stage=0
stop_stage=100
nj=2                # parallel jobs (features, Griffin-Lim groups, scoring processes)
# model configs conf/<name>.yaml: PCA (the classical baseline of the magnitude model), M (magnitude only),
# then the joint models J1..J7 (they start from M)
models="PCA M J1 J2 J3 J4 J5 J6 J7"
init_joint_from_m=""  # true: J models start from M's encoder and magnitude decoder (conf: freeze_magnitude);
                      # false: from scratch; empty: true, false with --conf-set paper
conf_set=""         # paper: J models from conf/J*_paper.yaml, the paper's joint training (every network
                    # from scratch, the phase terms differences of one phase field)
debug=false         # true: small synthetic corpus and conf/<name>_debug.yaml
n_female=12         # synthetic speakers of each gender
n_male=12
synth_sentences=12  # sentences per synthetic speaker
seed=0
corpus_dir=corpus   # where the synthetic corpus is generated
data=data           # Kaldi data dirs
dump=dump           # features
exp=exp             # experiments, audio, RESULTS.md, index.html
n_fft=512
hop_length=128
speed_perturb="0.9 1.0 1.1"  # speed factors of the training audio (Kaldi's 3-way perturbation; "" none):
                    # stage 1 adds $data/train_sp, on which the models train (results/dev_magnitude.md)
segment_frames=64   # frames per training crop
max_test_utts=20    # test utterances decoded and scored (evenly spread over speakers; 0: all)
examples=2          # listening examples on the page (F05_440C020I_PED, M05_443C020S_BUS when present)
gla_iters=100
gla_momentum=0      # 0: Griffin-Lim, as the paper (results/dev_gla.md); 0.99: fast Griffin-Lim
oracle_conditioned=true  # also score each J model's phase estimated from the oracle magnitude (orcMag_estPha)
ngpu=0              # training devices: 0 the CPU, 1 one CUDA GPU, N > 1 N GPUs (torchrun, one process each)
pack=false          # true: stage 6 packs every trained model into $exp/packed/<model>.tar.gz (speechgen-pack)

cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh
. utils/parse_options.sh
. utils/recipe_lib.sh
check_stages 6
check_int_option nj 1
check_ngpu
check_conf_set
if [ -z "$init_joint_from_m" ]; then
  init_joint_from_m=true; [ "$conf_set" = paper ] && init_joint_from_m=false
fi

if [ "$debug" = true ]; then
  n_female=3; n_male=3; synth_sentences=4; split="corpus|speakers:1,1"; max_test_utts=4; gla_iters=10
  segment_frames=32
fi
for m in $models; do
  [ -f "$(conf_of "$m")" ] || { echo "$0: no config $(conf_of "$m") for model '$m'" >&2; exit 1; }
done

resolve_corpus chime4
want=$(corpus_stamp)
[ "$corpus" = chime4 ] && want+=" train=$chime4_train_sets dev=$chime4_dev_sets test=$chime4_test_sets channel=$chime4_channel"

claim_dirs data dump exp  # writable, and this run's alone until it ends

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  if ! data_prepared "$data" "$want"; then
    prepare_data chime_complex --chime4-train-sets "$chime4_train_sets" --chime4-dev-sets "$chime4_dev_sets" \
      --chime4-test-sets "$chime4_test_sets" --chime4-channel "$chime4_channel"
    echo "$want" > "$data/.done"
  fi
fi
train_set=train; [ -n "$speed_perturb" ] && train_set=train_sp

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  if [ -n "$speed_perturb" ] && ! fresh 1 "$data/train_sp" "$data/train_sp.stamp" "factors=$speed_perturb" "$data/train"; then
    log 1 "speed perturbation ($speed_perturb) of $data/train -> $data/train_sp (audio in $data/train_sp_wav)"
    rm -rf "$data/train_sp_wav"
    speechgen-perturb-speed "$data/train" "$data/train_sp" --factors "$speed_perturb" --wav-dir "$data/train_sp_wav"
    write_stamp "$data/train_sp.stamp" "factors=$speed_perturb" "$data/train"
  fi
  stft_opts="n_fft=$n_fft hop_length=$hop_length"
  for x in $train_set dev test; do
    fresh 1 "$dump/$x" "$dump/$x/.stamp" "$stft_opts" "$data/$x" && continue
    log 1 "complex STFT of $data/$x -> $dump/$x ($nj jobs, logs in $dump/$x/log)"
    utils/validate_data_dir.py "$data/$x"
    stats=(); [ "$x" = "$train_set" ] && stats=(--stats)  # the merge writes the training set's statistics
    feature_jobs speechgen-compute-stft stft "$data/$x" "$dump/$x" --n-fft "$n_fft" --hop-length "$hop_length" "${stats[@]}"
    write_stamp "$dump/$x/.stamp" "$stft_opts" "$data/$x"
  done
fi

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  init_of() {  # init_of NAME: sets init (speechgen-train options) and from (inputs) of model NAME
    init=() from=()
    if [[ $1 == J* ]] && [ "$init_joint_from_m" = true ]; then
      init=(--init-from "$exp/M")
      from=("$exp/M/.stamp")  # a J model started from a since retrained M is trained afresh
    elif [[ $1 == J* ]]; then
      init=(--override model_conf.freeze_magnitude=false)  # all three networks trained jointly from scratch
    fi
  }
  up_to_date_training() {  # up_to_date_training NAME: training_done for model NAME with its init options
    local init from
    init_of "$1"
    training_done 2 "$exp/$1" "$(conf_of "$1")" "${init[*]}" "$dump/$train_set/.stamp" "$dump/dev/.stamp" "${from[@]}"
  }
  train_model() {  # train_model NAME THREADS: one model; output in $exp/log/train_NAME.log, status in .../train_NAME.rc
    local m=$1 threads=$2 init from rc=0
    init_of "$m"
    run_training speechgen-train --config "$(conf_of "$m")" --train-dir "$dump/$train_set" --valid-dir "$dump/dev" \
      --exp-dir "$exp/$m" --override "data_conf.segment_frames=$segment_frames" "trainer.num_threads=$threads" "${init[@]}" \
      --resume > "$exp/log/train_$m.log" 2>&1 || rc=$?
    echo $rc > "$exp/log/train_$m.rc"
  }
  mkdir -p "$exp/log"
  joint=()
  for m in $models; do
    if [[ $m != J* ]]; then  # PCA, M: trained on their own, before the joint models
      up_to_date_training "$m" && continue
      train_slot 1 1
      log 2 "training $m ($(conf_of "$m")) -> $exp/$m ($train_threads thread(s), log: $exp/log/train_$m.log)"
      bg_names+=("train_$m")
      train_model "$m" "$train_threads" &
      bg_watch
      [ "$(cat "$exp/log/train_$m.rc")" = 0 ] || {
        tail -5 "$exp/log/train_$m.log" >&2; echo "$0: training $m failed" >&2; exit 1; }
      grep -h "nothing to do" "$exp/log/train_$m.log" || true
    else
      joint+=("$m")
    fi
  done
  if [ ${#joint[@]} -gt 0 ] && [ "$init_joint_from_m" = true ] && [ ! -f "$exp/M/best.pt" ]; then
    echo "$0: the joint models start from model M: train M first (include it in --models)" >&2; exit 1
  fi
  queued=()
  for m in "${joint[@]}"; do
    up_to_date_training "$m" || queued+=("$m")
  done
  joint=("${queued[@]}")
  # the joint models, $nj at a time on the CPU (one thread each: threads oversubscribed on shared cores
  # are slow; the last ones share the cores), one at a time on GPUs
  left=${#joint[@]}
  for m in "${joint[@]}"; do
    train_slot "$left" "${#joint[@]}"
    left=$(( left - 1 ))
    log 2 "training $m ($(conf_of "$m")) -> $exp/$m ($train_threads thread(s), log: $exp/log/train_$m.log)"
    bg_names+=("train_$m")
    train_model "$m" "$train_threads" &
  done
  bg_watch
  for m in "${joint[@]}"; do
    if [ "$(cat "$exp/log/train_$m.rc" 2>/dev/null)" != 0 ]; then
      tail -5 "$exp/log/train_$m.log" >&2; echo "$0: training $m failed (see $exp/log/train_$m.log)" >&2; exit 1
    fi
    grep -h "nothing to do" "$exp/log/train_$m.log" || true
  done
fi

decode_opts=(--feats-dir "$dump/test" --max-utts "$max_test_utts" --examples "$examples" --gla-iters "$gla_iters"
             --gla-momentum "$gla_momentum" --seed "$seed" --nj "$nj")
# what a decode dir's $exp/<dir>/.decode.stamp records besides the test set's and the model's files
decode_set="max_utts=$max_test_utts examples=$examples gla_iters=$gla_iters gla_momentum=$gla_momentum seed=$seed"
if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  ref=$exp/reference
  if ! fresh 3 "$ref" "$ref/.decode.stamp" "$decode_set" "$dump/test/.stamp"; then
    log 3 "oracle-magnitude references of $dump/test -> $ref"
    speechgen-decode-complex --reference --out-dir "$ref" "${decode_opts[@]}"
    write_stamp "$ref/.decode.stamp" "$decode_set" "$dump/test/.stamp"
  fi
  decode_set+=" oracle_conditioned=$oracle_conditioned"
  todo=()
  for m in $models; do
    fresh 3 "$exp/$m/decode.json" "$exp/$m/.decode.stamp" "$decode_set" "$exp/$m/best.pt" "$dump/test/.stamp" && continue
    rm -rf "$exp/$m/audio"
    todo+=("$m")
  done
  if [ ${#todo[@]} -gt 0 ]; then
    log 3 "decoding $dump/test with ${todo[*]}"
    oracle=(); [ "$oracle_conditioned" = true ] && oracle=(--oracle-conditioned)
    speechgen-decode-complex --exp-dir "${todo[@]/#/$exp/}" "${decode_opts[@]}" "${oracle[@]}"
    for m in "${todo[@]}"; do write_stamp "$exp/$m/.decode.stamp" "$decode_set" "$exp/$m/best.pt" "$dump/test/.stamp"; done
  fi
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  todo=()
  for d in reference $models; do
    fresh 4 "$exp/$d/scores.csv" "$exp/$d/.scores.stamp" "" "$exp/$d/.decode.stamp" || todo+=("$d")
  done
  if [ ${#todo[@]} -gt 0 ]; then
    log 4 "scoring ${#todo[@]} decode dirs ($nj processes)"
    speechgen-score "${todo[@]/#/$exp/}" --jobs "$nj"
    for d in "${todo[@]}"; do write_stamp "$exp/$d/.scores.stamp" "" "$exp/$d/.decode.stamp"; done
  fi
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  src="$corpus corpus $corpus_path"
  speechgen-complex-results --exp-root "$exp" --models "$models" --title "chime_complex results" \
    --notes "Corpus: $src; STFT $n_fft/$hop_length (Hann); test: at most $max_test_utts held-out utterances; GLA: $gla_iters iterations, momentum $gla_momentum."
  speechgen-make-page --exp-root "$exp" --models "$models"
  log 5 "results in $exp/RESULTS.md, listening page $exp/index.html"
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ] && [ "$pack" = true ]; then
  pack_models 6 $(for m in $models; do echo "$exp/$m"; done)
fi
