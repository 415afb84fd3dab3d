#!/usr/bin/env bash
# Factorial discriminative normalising flow recipe (Sun et al., ICASSP 2021) on TIMIT, on any corpus with
# phone alignments (--corpus KIND --corpus-path PATH), or on the embedded synthetic corpus by default.
#
# Stages:
#   0  data: the corpus (--corpus, --corpus-path; the embedded eSpeak NG corpus by default) with a phone
#      alignment of every utterance and each speaker's gender; Kaldi data dirs of 20F+20M speakers split
#      by --split (utterances:8,1,1: each speaker's utterances 8:1:1, so every split has the same speakers),
#      one 200 ms segment per phone -> $data/{train,dev,test,lang}; the number of phone and speaker
#      classes of every model comes from $data/lang
#   1  features: 20 x 200 log-magnitude spectrograms (25 ms / 10 ms, 400-point FFT, DC dropped)
#      as Kaldi ark/scp, $nj parallel jobs -> $dump/{train,dev,test}; cmvn.npz from train only
#   2  training of each model in --models (conf/<model>.yaml) -> $exp/train_<model>/; on --ngpu GPUs.
#      `identity` is the model-free baseline (each segment its own code): nothing to train. Then the
#      posterior MLPs for phone and speaker (stage 5's judges) -> $exp/classifier_{phone,spk}
#   3  encoding of the evaluated set (--eval-set, test by default) -> $exp/train_<model>/encode_test/
#   4  t-SNE of the codes coloured by phone and by speaker (the 10 most frequent classes of each, the
#      others grey) -> $exp/train_<model>/figures/tsne.png,
#      all models side by side -> $exp/tsne_grid.png (2 rows x one column per model), and the
#      phone and speaker parts of factorial codes -> $exp/train_<model>/figures/tsne_parts.png;
#      k-NN accuracy and t-SNE silhouette per factor -> encode_test/structure_{all,phone,spk}.json
#   5  the posterior MLPs' test accuracies (trained here if stage 2 was skipped); mean-shift manipulation
#      of phone and of speaker with every model, scored by the MLPs and by a class-matched Frechet
#      distance to real segments, with example spectrograms and audio
#      -> $exp/train_<model>/manipulation/{results.json,examples.png,audio/}
#   6  $exp/RESULTS.md: data sizes, losses, classifier accuracies, latent structure, the paper's
#      manipulation tables with the identity baseline's row, naturalness
#   7  (--pack true) every model packed into one file -> $exp/packed/<model>.tar.gz, for
#      speechgen.load_model and speechgen-convert anywhere
#   With --eval-set dev, stages 3-6 evaluate the dev set instead (for tuning): encode_dev/,
#   figures/*_dev.png, manipulation_dev/, RESULTS_dev.md.
#
# Each stage skips an output whose stamp (.stamp) records the same options and inputs as now, and redoes
# from scratch one whose options or inputs changed (a model trained on other features trains afresh).
# Another run.sh on the same --data/--dump/--exp dirs is refused while this one runs (a lock on each).
#
# Usage: ./run.sh [--corpus-path /path/to/corpus --corpus KIND] [--stage N] [--stop-stage M] [options]
#   e.g. ./run.sh --corpus timit --corpus-path /data/TIMIT   (--timit /data/TIMIT for short)
#        ./run.sh --stage 2          re-train (finished epochs are kept; training resumes)
#        ./run.sh --debug true       tiny corpus and conf/*_debug.yaml: the whole recipe in a minute
#        ./run.sh --stage 2 --ngpu 4 train on 4 GPUs (torchrun, DistributedDataParallel)
#        ./run.sh --stage 3 --eval-set dev   the tables of the dev set, for tuning (RESULTS_dev.md)
set -euo pipefail

corpus=synth        # corpus kind: see speechgen-prepare-data --help (synth: the embedded eSpeak NG corpus)
corpus_path=""      # the corpus root (kaldi: the data dir); empty with --corpus synth: made under --corpus-dir
timit=""            # shorthand: --timit PATH is --corpus timit --corpus-path PATH
speaker_pattern=""  # wavdir: regex on a file's path under the root, group 'spk' its speaker (default: its top folder)
phone_map=""        # alignments with labels beyond TIMIT-61/ARPAbet: a file of 'label timit61' lines
stage=0
stop_stage=100
nj=2              # parallel jobs: feature jobs, trainings at a time (one torch thread each)
models="identity vae nf phone_dnf speaker_dnf fdnf"  # conf/<name>.yaml, $nj trained at a time; identity: no model
train_override=""  # speechgen-train --override KEY=VALUE... for every model of --models, e.g. trainer.steps=1710
conf_set=""       # paper: the longer conf/<name>_paper.yaml of the flows (1710 steps) instead of conf/<name>.yaml
pack=false        # true: stage 7 packs every trained model into $exp/packed/<model>.tar.gz (speechgen-pack)
debug=false       # true: small synthetic corpus and conf/<name>_debug.yaml
n_female=20       # speakers of each gender selected for the f-DNF setup
n_male=20
split=utterances:8,1,1  # train:dev:test ratio of each speaker's utterances (see speechgen-prepare-data --help)
synth_sentences=12  # sentences per speaker of the synthetic corpus
seed=0
ngpu=0            # training devices: 0 the CPU, 1 one CUDA GPU, N > 1 N GPUs (torchrun, one process each)
corpus_dir=corpus # where the synthetic corpus is generated
data=data         # Kaldi data dirs
dump=dump         # features
exp=exp           # experiments, figures, RESULTS.md
max_tsne_points=2000
per_segment=2     # manipulation targets drawn per test segment
examples=4        # example segments with spectrogram figure and audio per model
phase=gla         # phase of the example audio: gla (fast Griffin-Lim, 100 iterations) or original
eval_set=test     # set of stages 3-6: test (the reported tables) or dev (for tuning; *_dev outputs)

cd "$(dirname "$0")"
. ./path.sh
. ./cmd.sh
. utils/parse_options.sh
. utils/recipe_lib.sh
check_stages 7
check_int_option nj 1
check_ngpu
check_conf_set

case "$eval_set" in
  test) sfx="" ;;
  dev) sfx="_dev" ;;
  *) echo "$0: --eval-set $eval_set: expected test or dev" >&2; exit 1 ;;
esac
enc=encode_$eval_set  # per-model dir of the codes of the evaluated set

if [ "$debug" = true ]; then
  n_female=3; n_male=3; synth_sentences=10; max_tsne_points=300; per_segment=1; examples=2
fi
for m in $models; do
  [ -f "$(conf_of "$m")" ] || { echo "$0: no config $(conf_of "$m") for model '$m'" >&2; exit 1; }
done

resolve_corpus timit

claim_dirs data dump exp  # writable, and this run's alone until it ends

if [ "$stage" -le 0 ] && [ "$stop_stage" -ge 0 ]; then
  want="$(corpus_stamp) female=$n_female male=$n_male"
  if ! data_prepared "$data" "$want"; then
    prepare_data timit_fdnf --n-female "$n_female" --n-male "$n_male"
    echo "$want" > "$data/.done"
  fi
fi

if [ "$stage" -le 1 ] && [ "$stop_stage" -ge 1 ]; then
  for x in train dev test; do
    fresh 1 "$dump/$x" "$dump/$x/.stamp" "" "$data/$x" && continue
    log 1 "features of $data/$x -> $dump/$x ($nj jobs, logs in $dump/$x/log)"
    feature_jobs speechgen-compute-feats feats "$data/$x" "$dump/$x"
    if [ "$x" = train ]; then speechgen-compute-cmvn "$dump/train"; fi
    write_stamp "$dump/$x/.stamp" "" "$data/$x"
  done
fi
# what a model is trained on (a training dir made from other inputs is trained afresh)
train_inputs=("$dump/train/.stamp" "$dump/dev/.stamp" "$data/lang")

# train_classifiers N: the posterior MLPs of phone and speaker -> $exp/classifier_{phone,spk}, queued on
# the training pool (stage 2 puts them behind the models, so they fill the cores the last models leave)
train_classifiers() {
  local f
  classifier_jobs=()
  for f in phone spk; do
    training_done "$1" "$exp/classifier_$f" "$(conf_of "classifier_$f")" "" "${train_inputs[@]}" && continue
    bg_slot "$(training_jobs)"
    log "$1" "posterior classifier of $f -> $exp/classifier_$f (log: $exp/log/classifier_$f.log)"
    bg_job "$(training_jobs)" "classifier_$f" run_training speechgen-train --config "$(conf_of classifier_$f)" \
      --train-dir "$dump/train" --valid-dir "$dump/dev" --cmvn "$dump/train/cmvn.npz" --lang-dir "$data/lang" \
      --exp-dir "$exp/classifier_$f" --resume
    classifier_jobs+=("classifier_$f")
  done
}

if [ "$stage" -le 2 ] && [ "$stop_stage" -ge 2 ]; then
  # $nj trainings at a time, one torch thread each (threads oversubscribed on shared cores are slow),
  # started in reverse --models order: the defaults' flows (the f-DNF, 4 epochs, the longest) go
  # first, the VAE's short epochs and the two MLPs then fill the cores to the end
  names=()
  for m in $(reversed_words $models); do
    training_done 2 "$exp/train_$m" "$(conf_of "$m")" "$train_override" "${train_inputs[@]}" && continue
    bg_slot "$(training_jobs)"
    log 2 "training $m ($(conf_of "$m")) -> $exp/train_$m (log: $exp/log/train_$m.log)"
    bg_job "$(training_jobs)" "train_$m" run_training speechgen-train --config "$(conf_of "$m")" \
      --train-dir "$dump/train" --valid-dir "$dump/dev" --cmvn "$dump/train/cmvn.npz" --lang-dir "$data/lang" \
      --exp-dir "$exp/train_$m" --override $train_override --resume
    names+=("train_$m")
  done
  train_classifiers 2
  bg_wait "${names[@]}" "${classifier_jobs[@]}"
fi

# encode_with N DIR...: the codes of the evaluated set by the model (or classifier) of each DIR -> DIR/$enc,
# $nj at a time, one torch thread each
encode_with() {
  local n=$1 d names=() done=()
  shift
  for d in "$@"; do
    fresh "$n" "$d/$enc" "$d/$enc/.stamp" "" "$d/best.pt" "$dump/$eval_set/.stamp" && continue
    log "$n" "encoding $dump/$eval_set with $d (log: $exp/log/encode${sfx}_$(basename "$d").log)"
    bg_job "$nj" "encode${sfx}_$(basename "$d")" env OMP_NUM_THREADS=1 speechgen-encode --exp-dir "$d" \
      --feats-dir "$dump/$eval_set" --out-dir "$d/$enc"
    names+=("encode${sfx}_$(basename "$d")"); done+=("$d")
  done
  bg_wait "${names[@]}"
  for d in "${done[@]}"; do
    write_stamp "$d/$enc/.stamp" "" "$d/best.pt" "$dump/$eval_set/.stamp"
  done
}

if [ "$stage" -le 3 ] && [ "$stop_stage" -ge 3 ]; then
  encode_with 3 $(for m in $models; do echo "$exp/train_$m"; done)
fi

if [ "$stage" -le 4 ] && [ "$stop_stage" -ge 4 ]; then
  # each t-SNE call also writes the codes' k-NN accuracy and silhouette: $d/$enc/structure_*.json;
  # $nj at a time, one thread each; the grid then reuses their cached embeddings
  tsne_opts="max_points=$max_tsne_points seed=$seed"
  grid_args=()
  grid_inputs=()
  names=()
  made=()  # the stamp of each job's figure
  for m in $models; do
    d=$exp/train_$m
    grid_args+=("$m=$d/$enc")
    grid_inputs+=("$d/$enc/.stamp")
    for kind in tsne tsne_parts; do
      [ "$kind" = tsne ] || [ -f "$d/$enc/factor_slices.json" ] || continue
      png=$d/figures/$kind$sfx.png
      fresh 4 "$png" "$d/figures/.$kind$sfx.stamp" "$tsne_opts" "$d/$enc/.stamp" && continue
      sets=("$m=$d/$enc")
      [ "$kind" = tsne ] || sets=("$m z_phone=$d/$enc:phone" "$m z_spk=$d/$enc:spk")
      log 4 "t-SNE and k-NN accuracy of ${sets[*]} -> $png (log: $exp/log/$kind${sfx}_$m.log)"
      bg_job "$nj" "$kind${sfx}_$m" env OMP_NUM_THREADS=1 speechgen-plot-tsne "${sets[@]}" --out "$png" \
        --max-points "$max_tsne_points" --seed "$seed"
      names+=("$kind${sfx}_$m")
      made+=("$d/figures/.$kind$sfx.stamp")
    done
  done
  bg_wait "${names[@]}"
  for i in "${!names[@]}"; do
    write_stamp "${made[$i]}" "$tsne_opts" "$(dirname "$(dirname "${made[$i]}")")/$enc/.stamp"
    cat "$exp/log/${names[$i]}.log"
  done
  png=$exp/tsne_grid$sfx.png
  if [ ${#grid_args[@]} -gt 1 ] && ! fresh 4 "$png" "$exp/.tsne_grid$sfx.stamp" "$tsne_opts $models" "${grid_inputs[@]}"; then
    log 4 "t-SNE grid of all models -> $png"
    speechgen-plot-tsne "${grid_args[@]}" --out "$png" --max-points "$max_tsne_points" --seed "$seed"
    write_stamp "$exp/.tsne_grid$sfx.stamp" "$tsne_opts $models" "${grid_inputs[@]}"
  fi
fi

if [ "$stage" -le 5 ] && [ "$stop_stage" -ge 5 ]; then
  if [ "$stage" -gt 2 ]; then  # stage 2 trains them
    train_classifiers 5
    bg_wait "${classifier_jobs[@]}"
  fi
  encode_with 5 "$exp/classifier_phone" "$exp/classifier_spk"
  phase_args=()
  [ "$phase" = original ] && phase_args=(--data-dir "$data/$eval_set")
  # what a model's manipulation depends on besides its best.pt
  manip_opts="per_segment=$per_segment examples=$examples seed=$seed phase=$phase"
  manip_inputs=("$exp/classifier_phone/best.pt" "$exp/classifier_spk/best.pt" "$dump/train/.stamp"
                "$dump/$eval_set/.stamp")
  names=()
  # in reverse order: the flows (the f-DNF, scored two ways, longest) start before the quick identity
  # and VAE, so that the two cores finish together
  for m in $(reversed_words $models); do
    d=$exp/train_$m
    fresh 5 "$d/manipulation$sfx" "$d/manipulation$sfx/.stamp" "$manip_opts" "$d/best.pt" "${manip_inputs[@]}" && continue
    # $nj at a time, one torch thread each
    log 5 "mean-shift manipulation of $dump/$eval_set with $d (log: $exp/log/manipulate${sfx}_$m.log)"
    bg_job "$nj" "manipulate${sfx}_$m" env OMP_NUM_THREADS=1 speechgen-manipulate --exp-dir "$d" \
      --train-dir "$dump/train" --test-dir "$dump/$eval_set" --out-dir "$d/manipulation$sfx" \
      --phone-classifier "$exp/classifier_phone" --spk-classifier "$exp/classifier_spk" \
      --per-segment "$per_segment" --examples "$examples" --seed "$seed" "${phase_args[@]}"
    names+=("manipulate${sfx}_$m")
  done
  bg_wait "${names[@]}"
  for name in "${names[@]}"; do
    d=$exp/train_${name#manipulate${sfx}_}
    write_stamp "$d/manipulation$sfx/.stamp" "$manip_opts" "$d/best.pt" "${manip_inputs[@]}"
  done
  for m in $models; do
    if [ -f "$exp/log/manipulate${sfx}_$m.log" ]; then tail -n 2 "$exp/log/manipulate${sfx}_$m.log"; fi
  done
fi

if [ "$stage" -le 6 ] && [ "$stop_stage" -ge 6 ]; then
  src="$corpus corpus $corpus_path"
  speechgen-make-results --exp-root "$exp" --dump-dir "$dump" --title "timit_fdnf results ($eval_set set)" \
    --eval-set "$eval_set" --order "$models" \
    --notes "Corpus: $src; $n_female female + $n_male male speakers, split $split by utterance; 200 ms segments, 20x200 log-magnitude spectrograms. Evaluated on the $eval_set set."
  log 6 "results in $exp/RESULTS$sfx.md"
fi

if [ "$stage" -le 7 ] && [ "$stop_stage" -ge 7 ] && [ "$pack" = true ]; then
  # (the f-DNF's and DNFs' class means, for speechgen-convert, come from stage 5)
  pack_models 7 $(for m in $models; do echo "$exp/train_$m"; done)
fi
