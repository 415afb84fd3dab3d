"""speechgen-resynth: analysis-synthesis of wavs through a trained chime_complex or timit_logmel model."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from speechgen.api import load_model
from speechgen.bin import command
from speechgen.data.audio import load_wav, save_wav
from speechgen.errors import ConfigError
from speechgen.eval.plots import plt, save_figure
from speechgen.eval.resynthesis import resynthesise
from speechgen.progress import progress


def plot_pair(spectrograms, title: str, png: Path) -> None:
    """The input's and the reconstruction's log spectrograms, one above the other."""
    fig, axes = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    for ax, spec, name in zip(axes, spectrograms, ("input", "reconstruction")):
        ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=spec.max() - 12, vmax=spec.max())
        ax.set_ylabel(f"{name}\nbin")
    axes[0].set_title(title, fontsize=10)
    axes[1].set_xlabel("frame")
    fig.tight_layout()
    save_figure(fig, png, dpi=100)


@command("speechgen-resynth")
def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="speechgen-resynth",
        description="Pass wavs through a trained model and back to audio: a chime_complex model (PCA, M, J*: its "
                    "decoded magnitude with its estimated phase, or random phase for PCA/M, then Griffin-Lim) "
                    "or a timit_logmel model that reconstructs (its log-mel reconstruction, mel inverse, fast "
                    "Griffin-Lim). Writes OUT_DIR/<name>_<condition>.wav and OUT_DIR/<name>.png.")
    p.add_argument("--model", type=Path, required=True, help="exp dir (e.g. egs/chime_complex/exp/J6) or packed file")
    p.add_argument("--gla-iters", type=int, default=100,
                   help="Griffin-Lim iterations (0: none): plain ones for a complex-spectrogram model (from its "
                        "phase, or a random one for PCA / M, as egs/chime_complex decodes), fast ones (momentum "
                        "0.99) for the other models")
    p.add_argument("--seed", type=int, default=0, help="seed of the random phase of PCA / M")
    p.add_argument("--out-dir", type=Path, required=True)
    p.add_argument("wavs", type=Path, nargs="+", help="input wavs at the model's sample rate")
    args = p.parse_args(argv)
    if args.gla_iters < 0:
        raise ConfigError(f"--gla-iters {args.gla_iters}: must be 0 or more")
    trained = load_model(args.model)
    sr = trained.sample_rate
    for wav in progress(args.wavs, "resynthesising", unit="utt"):
        x = load_wav(wav, sr)
        waves, spectrograms = resynthesise(trained, x, args.gla_iters, args.seed)
        for condition, y in waves.items():
            save_wav(args.out_dir / f"{wav.stem}_{condition}.wav", y, sr)
        png = args.out_dir / f"{wav.stem}.png"
        plot_pair(spectrograms, f"{wav.name} through {args.model.name}", png)
        print(f"{wav} -> {args.out_dir}/{wav.stem}_{{{','.join(waves)}}}.wav, {png.name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
