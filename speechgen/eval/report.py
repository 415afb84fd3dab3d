"""exp/RESULTS.md: tables of what the recipe has produced so far, each row naming its experiment dir."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    def fmt(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.4f}"
        return "" if value is None else str(value)

    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _count_lines(path: Path) -> Optional[int]:
    return sum(1 for line in path.read_text().splitlines() if line.strip()) if path.is_file() else None


def _distinct_values(path: Path) -> Optional[int]:
    if not path.is_file():
        return None
    return len({line.split()[1] for line in path.read_text().splitlines() if line.strip()})


def data_rows(dump_dir: Path, sets: Sequence[str]) -> List[List[object]]:
    rows = []
    for name in sets:
        d = dump_dir / name
        if not (d / "feats.scp").is_file():
            continue
        segments = d / "segments"
        utts = len({line.split()[1] for line in segments.read_text().splitlines()}) if segments.is_file() else None
        rows.append([name, utts, _count_lines(d / "feats.scp"), _distinct_values(d / "seg2spk"),
                     _distinct_values(d / "seg2phone")])
    return rows


def _read_json(path: Path) -> Dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def model_rows(exp_root: Path, rel_to: Path) -> List[List[object]]:
    rows = []
    for exp_dir in sorted(p.parent for p in exp_root.glob("*/summary.json")):
        summary = _read_json(exp_dir / "summary.json")
        last = summary.get("last", {})
        test = _read_json(exp_dir / "encode_test" / "stats.json")
        tsne = exp_dir / "figures" / "tsne.png"
        rows.append([
            summary.get("model"), f"`{os.path.relpath(exp_dir, rel_to)}`", summary.get("parameters"),
            f"{summary.get('epochs')}/{summary.get('max_epochs')}", summary.get("best_epoch"),
            last.get("train_loss"), last.get("valid_loss"), test.get("loss"), test.get("mse"),
            f"[png]({os.path.relpath(tsne, rel_to)})" if tsne.is_file() else None,
        ])
    return rows


def write_results(exp_root: str | Path, dump_dir: str | Path, out: str | Path | None = None,
                  title: str = "Results", sets: Sequence[str] = ("train", "dev", "test"),
                  notes: str = "") -> Path:
    """Write the data and model tables of a recipe into ``out`` (default EXP_ROOT/RESULTS.md)."""
    exp_root, dump_dir = Path(exp_root), Path(dump_dir)
    out = Path(out) if out else exp_root / "RESULTS.md"
    parts = [f"# {title}", ""]
    if notes:
        parts += [notes, ""]
    data = data_rows(dump_dir, sets)
    if data:
        parts += ["## Data", "", markdown_table(["set", "utterances", "segments", "speakers", "phones"], data), ""]
    models = model_rows(exp_root, out.parent)
    parts += ["## Models", "",
              "Losses are per spectrogram element (negative ELBO / dims for the VAE) on normalised features.", ""]
    if models:
        parts += [markdown_table(["model", "exp dir", "params", "epochs", "best epoch", "train loss",
                                  "valid loss", "test loss", "test mse", "t-SNE"], models), ""]
    else:
        parts += ["No trained model yet.", ""]
    for fig in sorted(exp_root.glob("*.png")):
        parts += [f"![{fig.stem}]({os.path.relpath(fig, out.parent)})", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(parts))
    tmp.replace(out)
    return out
