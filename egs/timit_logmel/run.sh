#!/usr/bin/env bash
# Deep generative models of log-mel windows with frame-aligned 48-phone labels: a convolutional VAE,
# WAE (MMD and GAN variants), a phone-conditional WGAN-GP and a VAE-GAN, on TIMIT, on any corpus with phone
# alignments (--corpus KIND --corpus-path PATH), or on the embedded synthetic corpus by default.
#
# Stages:
#   0  data: the corpus (--corpus, --corpus-path; the embedded eSpeak NG corpus by default) with a phone
#      alignment of every utterance; Kaldi data dirs train/dev/test split by --split: the corpus's own
#      split (TIMIT: 462/50/24 speakers, SA excluded) when it has one, otherwise 2 dev and 2 test speakers
#      of each gender -> $data/{train,dev,test,lang}
#   1  features: 40 log-mel + deltas + delta-deltas (120 dims, 25 ms / 10 ms) and the phone id of every
#      frame (49 ids of the seed's table) as Kaldi ark/scp, $nj jobs -> $dump/{train,dev,test}/{feats,ali}.scp;
#      cmvn.npz from the training set only
#   2  phone classifier (MLP on 9-frame windows of real training frames), the judge of the scores, and the
#      model-free baselines it scores (PCA of the training windows, 32 and 128 components)
#      -> $exp/classifier_phone/, with its test accuracy and reference Fréchet distances
#   3  training of each model in --models (conf/<model>.yaml) on --ngpu GPUs, on 9-frame windows labelled by
#      their centre frame (--windows: one per non-silence phone run as the seed made them, or one per
#      frame); reconstructions (or samples) of fixed test windows after every epoch
#      -> $exp/train_<model>/{loss.png,figures/epoch<N>.png,figures/epochs.gif,...}
#   4  evaluation of each model: test reconstruction MSE, classifier-based Fréchet distance, accuracy of
#      class-conditional samples, phone coverage; samples, final reconstructions, t-SNE of the codes
#      -> $exp/train_<model>/{eval/scores.json,figures/{samples,fixed_windows,tsne}.png}
#   5  $exp/RESULTS.md: data sizes and the score table
#   6  (--pack true) every model packed into one file -> $exp/packed/<model>.tar.gz, for
#      speechgen.load_model and speechgen-resynth anywhere
#
# Each stage skips an output whose stamp (.stamp) records the same options and inputs as now, and redoes
# from scratch one whose options or inputs changed (a model trained on other features trains afresh).
# Another run.sh on the same --data/--dump/--exp dirs is refused while this one runs (a lock on each).
#
# Usage: ./run.sh [--corpus-path /path/to/corpus --corpus KIND] [--stage N] [--stop-stage M] [options]
#   e.g. ./run.sh --corpus timit --corpus-path /data/TIMIT   (--timit /data/TIMIT for short)
#        ./run.sh --stage 3          re-train (finished epochs are kept; training resumes)
#        ./run.sh --debug true       tiny corpus and conf/*_debug.yaml: the whole recipe in about 70 s (CI)
#        ./run.sh --stage 2 --ngpu 4 train on 4 GPUs (torchrun, DistributedDataParallel)
set -euo pipefail

corpus=synth        # corpus kind: see speechgen-prepare-data --help (synth: the embedded eSpeak NG corpus)
corpus_path=""      # the corpus root (kaldi: the data dir); empty with --corpus synth: made under --corpus-dir
timit=""            # shorthand: --timit PATH is --corpus timit --corpus-path PATH
speaker_pattern=""  # wavdir: regex on a file's path under the root, group 'spk' its speaker (default: its top folder)
phone_map=""        # alignments with labels beyond TIMIT-61/ARPAbet: a file of 'label timit61' lines
stage=0
stop_stage=100
nj=2                # parallel jobs: feature jobs, and trainings and evaluations at a time (CPU)
models="vae wae_mmd wae_gan wgan_gp wgan_gp_uncond vaegan"  # model configs conf/<name>.yaml, trained in turn
debug=false         # true: small synthetic corpus and conf/<name>_debug.yaml
n_female=20         # speakers of each gender of the synthetic corpus
n_male=20
synth_sentences=12  # sentences per synthetic speaker
split="corpus|speakers:2,2"  # the corpus's own split, else 2 dev + 2 test speakers per gender (speechgen-prepare-data --help)
seed=0
corpus_dir=corpus   # where the synthetic corpus is generated
data=data           # Kaldi data dirs
dump=dump           # features
exp=exp             # experiments, figures, RESULTS.md
windows=phone_centres  # phone_centres: one window per non-silence phone run, zero-padded (the seed's data);
                       # every_frame: a window at every frame, silence included, edge frames repeated
windows_per_epoch=30000  # training windows drawn afresh each epoch (empty: all of them)
valid_windows=4000  # fixed subset of dev windows for validation
eval_windows=4000   # test windows (seeded subset) for the classifier-based scores
tsne_points=1000    # codes in each t-SNE figure
num_threads=1       # torch threads per process (OMP_NUM_THREADS); 1 is fastest on a busy or small CPU
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

export OMP_NUM_THREADS=$num_threads MKL_NUM_THREADS=$num_threads

if [ "$debug" = true ]; then
  n_female=${SPEECHGEN_DEBUG_FEMALE:-3}; n_male=${SPEECHGEN_DEBUG_MALE:-3}; synth_sentences=6
  split="corpus|speakers:1,1"; windows_per_epoch=2000; valid_windows=500; eval_windows=500; tsne_points=200
fi
for m in $models classifier_phone; do
  [ -f "$(conf_of "$m")" ] || { echo "$0: no config $(conf_of "$m") for model '$m'" >&2; exit 1; }
done

resolve_corpus timit
case "$windows" in
  phone_centres) centres=phone_runs; edge=zero ;;
  every_frame) centres=frames; edge=clamp ;;
  *) echo "$0: --windows $windows: expected phone_centres or every_frame" >&2; exit 1 ;;
esac
# the frame-window options of every training (data_conf of the configs' data: frame_windows); a training
# dir made with other ones is trained afresh
data_args=(--override "data_conf.centres=$centres" "data_conf.edge=$edge"
           "data_conf.windows_per_epoch=${windows_per_epoch:-null}" "data_conf.valid_windows=$valid_windows")
window_opts="${data_args[*]:1}"

claim_dirs data dump exp  # writable, and this run's alone until it ends

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  want=$(corpus_stamp)
  if ! data_prepared "$data" "$want"; then
    prepare_data timit_logmel
    echo "$want" > "$data/.done"
  fi
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  for x in train dev test; do
    # (features=kaldi: the dumps made before the features followed Kaldi's framing are made again)
    fresh 1 "$dump/$x" "$dump/$x/.stamp" "features=kaldi" "$data/$x" "$data/lang" && continue
    log 1 "log-mel features and frame labels of $data/$x -> $dump/$x ($nj jobs, logs in $dump/$x/log)"
    feature_jobs speechgen-compute-logmel feats "$data/$x" "$dump/$x"
    if [ "$x" = train ]; then speechgen-compute-cmvn "$dump/train"; fi
    write_stamp "$dump/$x/.stamp" "features=kaldi" "$data/$x" "$data/lang"
  done
fi
# what a model is trained on (a training dir made from other inputs is trained afresh)
train_inputs=("$dump/train/.stamp" "$dump/dev/.stamp" "$dump/test/.stamp" "$data/lang")
clf=$exp/classifier_phone
# evaluate N DIR [OPTION...]: DIR's model scored on the test windows by the phone classifier -> DIR/eval, in the
# background ($nj at a time, log $exp/log/eval_<dir>.log); the job's name joins eval_jobs for bg_wait
eval_jobs=()
# eval_inputs DIR: what DIR/eval is made from -> the array inputs
eval_inputs() { inputs=("$1/best.pt" "$clf/best.pt" "$dump/test/.stamp"); }
evaluate() {
  local n=$1 d=$2 name="eval_$(basename "$2")"
  shift 2
  # (scores=pca: evaluations made before the classifier's scores had the PCA baselines are made again)
  local opts="max_windows=$eval_windows seed=$seed scores=pca $*" inputs
  eval_inputs "$d"
  fresh "$n" "$d/eval" "$d/eval/.stamp" "$opts" "${inputs[@]}" && return 0
  bg_slot "$nj"
  log "$n" "evaluating $d (log: $exp/log/$name.log)"
  bg_job "$nj" "$name" eval_job "$d" "$opts" "$@"
  eval_jobs+=("$name")
}
# eval_job DIR STAMP_OPTIONS [OPTION...]: speechgen-eval-logmel, then DIR/eval's stamp if it succeeded
eval_job() {
  local d=$1 opts=$2 inputs
  shift 2
  eval_inputs "$d"
  speechgen-eval-logmel --exp-dir "$d" --test-dir "$dump/test" --classifier "$clf" \
    --max-windows "$eval_windows" --seed "$seed" "$@" && write_stamp "$d/eval/.stamp" "$opts" "${inputs[@]}"
}

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  if ! training_done 2 "$clf" "$(conf_of classifier_phone)" "$window_opts" "${train_inputs[@]}"; then
    log 2 "phone classifier ($(conf_of classifier_phone)) -> $clf"
    run_training speechgen-train --config "$(conf_of classifier_phone)" --train-dir "$dump/train" \
      --valid-dir "$dump/dev" --lang-dir "$data/lang" --exp-dir "$clf" "${data_args[@]}" data_conf.figure_windows=0 \
      --resume
  fi
  evaluate 2 "$clf"
  bg_wait "${eval_jobs[@]}"
  eval_jobs=()
fi

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  # $nj trainings at a time on the CPU, one torch thread each; one at a time on GPUs. They start in
  # reverse --models order: the defaults' longest trainings (VAE-GAN, WGAN-GPs) go first, so no core
  # waits alone for them at the end
  names=()
  for m in $(reversed_words $models); do
    training_done 3 "$exp/train_$m" "$(conf_of "$m")" "$window_opts" "${train_inputs[@]}" && continue
    bg_slot "$(training_jobs)"
    log 3 "training $m ($(conf_of "$m")) -> $exp/train_$m (log: $exp/log/train_$m.log)"
    bg_job "$(training_jobs)" "train_$m" run_training speechgen-train --config "$(conf_of "$m")" \
      --train-dir "$dump/train" --valid-dir "$dump/dev" --figure-dir "$dump/test" --lang-dir "$data/lang" \
      --exp-dir "$exp/train_$m" "${data_args[@]}" --resume
    names+=("train_$m")
  done
  bg_wait "${names[@]}"
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  for m in $models; do
    evaluate 4 "$exp/train_$m" --tsne-points "$tsne_points"
  done
  bg_wait "${eval_jobs[@]}"
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  src="the $corpus corpus $corpus_path"
  made=$(cat "$data/split.txt" 2>/dev/null || echo "unknown split")
  speechgen-make-logmel-results --exp-root "$exp" --dump-dir "$dump" --title "timit_logmel results" \
    --order "$models" --notes "Corpus: $src; split: $made. Features: 40 log-mel + deltas + delta-deltas (25 ms / 10 ms), \
normalised with training-set statistics; 9-frame windows labelled by the centre frame's phone (49 ids), \
--windows $windows ($centres centres, $edge edges), training windows per epoch: ${windows_per_epoch:+at most }${windows_per_epoch:-all} (all of them when there are fewer). This run of run.sh (stages $stage..$stop_stage): ${SECONDS} s."
  log 5 "results in $exp/RESULTS.md"
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ] && [ "$pack" = true ]; then
  pack_models 6 $(for m in $models; do echo "$exp/train_$m"; done)
fi
