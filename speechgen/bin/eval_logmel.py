"""Stage: scores and figures of a model trained on log-mel windows (or of the phone classifier itself).

For a generative model, on test windows:

* ``recon_mse`` (models that reconstruct): mean squared error of the reconstructions of every test
  window (normalised features), and ``recon_acc``: the phone classifier's accuracy on those reconstructions;
* ``fd`` (models that sample): Fréchet distance between the phone classifier's penultimate-layer
  features of real test windows and of as many unconditional samples: prior draws, and for a
  phone-conditional model draws whose phones follow the training windows' phone frequencies (its
  marginal), so that every model's ``fd`` is measured the same way;
* ``fd_cond`` and ``cond_acc`` (phone-conditional samplers, ``conditional: true``): the FD of samples
  drawn with the real test windows' phones, and the classifier's accuracy on ``--per-class`` samples
  of every phone seen in the test windows;
* ``phone_js`` (models that sample): Jensen-Shannon divergence between the classifier's phone
  histograms of the unconditional samples and of real test windows;

and figures ``figures/samples.png`` (samplers), ``figures/fixed_windows.png`` (the per-epoch figure of
the chosen weights) and, for models that encode, ``figures/tsne.png`` (codes coloured by phone). The
abilities are those the model declares (:mod:`speechgen.models.abilities`); a part whose ability the
model lacks is left out with a logged notice, and a model that neither reconstructs nor samples is an error.
For the classifier (``--exp-dir`` = ``--classifier``) it writes the reference scores: its test
accuracy, the Fréchet distance of real training windows (a floor) and of N(0, I) noise (a ceiling),
and the scores above of the model-free baselines, PCA of the training windows with 32 and 128
components (``baselines``: reconstruction by projection, samples from the components' Gaussian).
Everything goes to ``EXP_DIR/eval/scores.json``.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Dict

import numpy as np
import torch

from speechgen.bin import command
from speechgen.data.frames import FrameWindowDataset
from speechgen.data.phones import LOGMEL_PHONES
from speechgen.errors import DataError
from speechgen.eval.animation import (EpochFigureHook, phone_conditional, plot_phone_tsne, plot_window_grid,
                                      sample, static_part)
from speechgen.eval.frechet import ClassifierScorer, frechet_distance, js_divergence
from speechgen.eval.tsne import subsample
from speechgen.models.abilities import Encoder, Reconstructor, Sampler, model_name, require
from speechgen.models.classifier import MLPClassifier
from speechgen.models.pca import PCABaseline
from speechgen.train.load import load_experiment
from speechgen.train.trainer import seed_everything
from speechgen.yaml_io import load_yaml

LOG = logging.getLogger(__name__)
#: the scores and figures that need an ability, by the ability
NEEDS = {Reconstructor: "recon_mse, recon_acc", Sampler: "fd, phone_js, cond_acc, samples.png", Encoder: "tsne.png"}


def batched(fn, x: torch.Tensor, batch_size: int = 2048) -> torch.Tensor:
    """Apply ``fn`` to ``x`` (N, ...) in chunks and concatenate."""
    return torch.cat([fn(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def check_same_cmvn(model_info: dict, classifier_info: dict, exp_dir: Path, classifier_dir: Path) -> None:
    a, b = model_info["cmvn"], classifier_info["cmvn"]
    if not (np.allclose(a.mean, b.mean) and np.allclose(a.std, b.std)):
        raise DataError(f"{exp_dir}/cmvn.npz and {classifier_dir}/cmvn.npz differ: the classifier must be trained "
                        "on features normalised like the model's (the same training set)")


#: code sizes of the PCA baselines: that of the default autoencoders, and that of the seed's
PCA_DIMS = (32, 128)
#: training windows the PCA baselines are fitted on (a seeded subset when there are more)
PCA_WINDOWS = 20000


def reference_scores(scorer: ClassifierScorer, test: FrameWindowDataset, x: torch.Tensor, y: np.ndarray,
                     train_dir: Path, cmvn, n: int, seed: int, per_class: int) -> Dict[str, object]:
    """The classifier's test accuracy, the FD of real training windows and of N(0, I) noise, and the
    scores of the PCA baselines (``pca<D>``: :class:`PCABaseline` fitted on training windows)."""
    real = scorer.features(x)
    train = FrameWindowDataset(train_dir, cmvn, test.window, test.edge, centres=test.centre_mode)
    train_x = train.windows(train.centres[subsample(len(train.centres), n, seed + 1)])
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(seed))
    fit_x = train.windows(train.centres[subsample(len(train.centres), PCA_WINDOWS, seed + 2)])
    baselines = {}
    for dims in PCA_DIMS:
        pca = PCABaseline.fit(fit_x, dims, seed)
        baselines[f"pca{dims}"] = {**model_scores(pca, scorer, test, x, y, per_class, seed),
                                   "parameters": int(pca.components.numel() + pca.mean.numel()),
                                   "explained": pca.explained(fit_x), "fit_windows": int(len(fit_x))}
    return {"kind": "classifier", "test_acc": scorer.accuracy(test.windows(test.centres), test.labels[test.centres]),
            "fd_train_windows": frechet_distance(real, scorer.features(train_x)),
            "fd_noise": frechet_distance(real, scorer.features(noise)), "baselines": baselines}


def model_scores(model, scorer: ClassifierScorer, test: FrameWindowDataset, x: torch.Tensor, y: np.ndarray,
                 per_class: int, seed: int, prior: np.ndarray | None = None) -> Dict[str, object]:
    """Scores of a generative model (see the module doc): those of the abilities it declares; ``prior``
    holds the phones of the training windows (a conditional model's unconditional samples follow them)."""
    scores: Dict[str, object] = {"kind": "generative", "conditional": phone_conditional(model)}
    if isinstance(model, Reconstructor):
        all_x = test.windows(test.centres)
        rec = batched(model.reconstruct, all_x)
        scores["recon_mse"] = float(torch.mean((rec - all_x) ** 2))
        scores["recon_acc"] = scorer.accuracy(batched(model.reconstruct, x), y)
    if isinstance(model, Sampler):
        scores.update(sample_scores(model, scorer, x, y, per_class, seed, prior))
    return scores


def sample_scores(model: Sampler, scorer: ClassifierScorer, x: torch.Tensor, y: np.ndarray, per_class: int,
                  seed: int, prior: np.ndarray | None = None) -> Dict[str, object]:
    """``fd`` and ``phone_js`` of unconditional samples and, for a phone-conditional model, ``fd_cond`` and
    ``cond_acc`` (see the module doc)."""
    scores: Dict[str, object] = {}
    n_classes = len(LOGMEL_PHONES)
    gen = torch.Generator().manual_seed(seed)
    real = scorer.features(x)
    conditional = phone_conditional(model)
    if conditional and prior is None:
        raise DataError("speechgen-eval-logmel: a phone-conditional model needs the training windows' phones")
    drawn = prior[np.random.default_rng(seed).integers(0, len(prior), len(y))] if conditional else y
    samples = batched(lambda lab: sample(model, len(lab), gen, lab), torch.from_numpy(drawn))
    scores["fd"] = frechet_distance(real, scorer.features(samples))
    scores["phone_js"] = js_divergence(scorer.histogram(samples, n_classes), scorer.histogram(x, n_classes))
    if conditional:
        matched = batched(lambda lab: sample(model, len(lab), gen, lab), torch.from_numpy(y))
        scores["fd_cond"] = frechet_distance(real, scorer.features(matched))
        classes = np.unique(y)
        cond_labels = torch.from_numpy(np.repeat(classes, per_class))
        cond = batched(lambda lab: sample(model, len(lab), gen, lab), cond_labels)
        scores["cond_acc"] = scorer.accuracy(cond, cond_labels.numpy())
        scores["cond_classes"] = int(len(classes))
    return scores


def samples_figure(model: Sampler, x: torch.Tensor, y: np.ndarray, cmvn, n_mels: int, out_png: Path, name: str,
                   seed: int) -> None:
    """32 samples; for a conditional model, per frequent phone: one real window and 7 samples."""
    gen = torch.Generator().manual_seed(seed)
    if phone_conditional(model):
        phones = [int(p) for p in np.argsort(-np.bincount(y, minlength=len(LOGMEL_PHONES)))[:8] if np.any(y == p)]
        rows = []
        for p in phones:
            real = x[np.flatnonzero(y == p)[0]][None]
            fake = sample(model, 7, gen, torch.full((7,), p, dtype=torch.long))
            rows.append(torch.cat([real, fake]).numpy())
        grid = static_part(np.stack(rows), cmvn, n_mels)
        plot_window_grid(grid, out_png, row_titles=[LOGMEL_PHONES[p] for p in phones],
                         col_titles=["real"] + [f"sample {i + 1}" for i in range(7)],
                         title=f"{name}: class-conditional samples")
    else:
        grid = static_part(sample(model, 32, gen).numpy().reshape(4, 8, *x.shape[1:]), cmvn, n_mels)
        plot_window_grid(grid, out_png, title=f"{name}: random samples (decoded prior draws / generator)")


def evaluate(args: argparse.Namespace) -> Dict[str, object]:
    """Write EXP_DIR/eval/scores.json and the figures; returns the scores."""
    model, info = load_experiment(args.exp_dir, args.checkpoint)
    classifier, classifier_info = load_experiment(args.classifier, "best.pt")
    check_same_cmvn(info, classifier_info, args.exp_dir, args.classifier)
    cmvn = info["cmvn"]
    window = info.get("window", getattr(model, "n_frames", 9))
    test = FrameWindowDataset(args.test_dir, cmvn, window, info.get("edge", "clamp"),
                              centres=info.get("centres", "frames"))
    centres = test.centres[subsample(len(test.centres), args.max_windows, args.seed)]
    x, y = test.windows(centres), test.labels[centres]
    scorer = ClassifierScorer(classifier)
    seed_everything(args.seed)
    name = info["config"]["model"]
    if isinstance(model, MLPClassifier):
        scores = reference_scores(scorer, test, x, y, Path(info["train_dir"]), cmvn, args.max_windows, args.seed,
                                  args.per_class)
    else:
        require(model, (Reconstructor, Sampler), "speechgen-eval-logmel")
        left_out = {ability.__name__: parts for ability, parts in NEEDS.items() if not isinstance(model, ability)}
        if left_out:
            LOG.warning("speechgen-eval-logmel: model '%s' is no %s: left out %s", model_name(model),
                        ", ".join(left_out), ", ".join(left_out.values()))
        prior = None
        if phone_conditional(model):  # the phones of the training windows, made as the test windows are
            train = FrameWindowDataset(info["train_dir"], None, window, test.edge, centres=test.centre_mode,
                                       load="lazy")
            prior = train.labels[train.centres]
        scores = model_scores(model, scorer, test, x, y, args.per_class, args.seed, prior)
        model_figures(model, args, test, x, y, cmvn, name)
    scores.update({"model": name, "checkpoint": args.checkpoint, "test_windows": int(len(x)),
                   "classifier": os.path.relpath(args.classifier, args.exp_dir)})
    out = args.exp_dir / "eval" / "scores.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name("scores.json.tmp")
    tmp.write_text(json.dumps(scores, indent=2) + "\n")
    os.replace(tmp, out)
    return scores


def model_figures(model, args: argparse.Namespace, test: FrameWindowDataset, x: torch.Tensor, y: np.ndarray,
                  cmvn, name: str) -> None:
    """samples.png (samplers), fixed_windows.png and tsne.png (encoders) in EXP_DIR/figures."""
    fig_dir = args.exp_dir / "figures"
    if isinstance(model, Sampler):
        samples_figure(model, x, y, cmvn, args.n_mels, fig_dir / "samples.png", name, args.seed)
    strip = test.strip_centres(16)
    hook = EpochFigureHook(test.windows(strip), torch.from_numpy(test.labels[strip]), LOGMEL_PHONES, cmvn,
                           args.n_mels, args.seed)
    hook.render(model, fig_dir / "fixed_windows.png", f"{name} ({args.checkpoint}) on test windows")
    if isinstance(model, Encoder) and args.tsne_points > 0:
        keep = subsample(len(x), args.tsne_points, args.seed)
        codes = batched(model.encode, x[keep]).numpy()
        plot_phone_tsne(codes, [LOGMEL_PHONES[i] for i in y[keep]], fig_dir / "tsne.png",
                        f"{name}: t-SNE of the codes of {len(keep)} test windows, by centre phone", seed=args.seed)


@command("speechgen-eval-logmel")
def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="speechgen-eval-logmel",
                                description="Classifier-based scores, reconstructions, samples and t-SNE of a model "
                                            "trained with speechgen-train (data: frame_windows) -> "
                                            "EXP_DIR/eval/scores.json, EXP_DIR/figures/.")
    p.add_argument("--exp-dir", type=Path, required=True)
    p.add_argument("--test-dir", type=Path, required=True, help="test feature dir (feats.scp, ali.scp)")
    p.add_argument("--classifier", type=Path, required=True, help="exp dir of the phone classifier (mlp_classifier)")
    p.add_argument("--checkpoint", default="best.pt", help="weights in EXP_DIR (best.pt, latest.pt, epochN.pt)")
    p.add_argument("--max-windows", type=int, default=4000, help="test windows (seeded subset) for the scores")
    p.add_argument("--per-class", type=int, default=50, help="samples per phone for the conditional accuracy")
    p.add_argument("--tsne-points", type=int, default=1000, help="codes in the t-SNE figure (0: no figure)")
    p.add_argument("--n-mels", type=int, default=None,
                   help="static dims shown in the figures (default: n_mels of TEST_DIR/logmel.yaml, else 40)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    if args.n_mels is None:
        settings = args.test_dir / "logmel.yaml"
        args.n_mels = load_yaml(settings.read_text()).get("n_mels", 40) if settings.is_file() else 40
    scores = evaluate(args)
    shown = {k: round(v, 4) if isinstance(v, float) else v for k, v in scores.items()}
    print(f"{args.exp_dir}/eval/scores.json: {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
