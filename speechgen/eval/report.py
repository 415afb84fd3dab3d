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
            last.get("train_loss"), last.get("valid_loss"), test.get("loss"), test.get("mse"), test.get("acc"),
            f"[png]({os.path.relpath(tsne, rel_to)})" if tsne.is_file() else None,
        ])
    return rows


# Sun et al., ICASSP 2021 (the seed page's tables): MLP posteriors before/after manipulation on TIMIT.
PAPER_MANIPULATION = {
    "phone": {"VAE": (0.013, 0.312, 0.299, 0.612, 0.454, -0.158), "NF": (0.013, 0.410, 0.397, 0.612, 0.489, -0.123),
              "DNF": (0.013, 0.619, 0.606, 0.612, 0.335, -0.277),
              "f-DNF": (0.013, 0.636, 0.623, 0.612, 0.536, -0.076)},
    "spk": {"VAE": (0.010, 0.303, 0.293, 0.520, 0.509, -0.011), "NF": (0.010, 0.435, 0.425, 0.520, 0.484, -0.036),
            "DNF": (0.010, 0.700, 0.690, 0.520, 0.349, -0.171),
            "f-DNF": (0.010, 0.710, 0.700, 0.520, 0.503, -0.017)},
}
MANIPULATION_HEADERS = {
    "phone": ["p(q2\\|x)", "p(q2\\|x')", "δ(q2)", "p(s\\|x)", "p(s\\|x')", "δ(s)"],
    "spk": ["p(s2\\|x)", "p(s2\\|x')", "δ(s2)", "p(q\\|x)", "p(q\\|x')", "δ(q)"],
}


def _pm(stat: Sequence[float]) -> str:
    mean, se = stat
    return f"{mean:.3f} ± {se:.3f}"


def manipulation_section(exp_root: Path, rel_to: Path, order: Sequence[str] = ()) -> List[str]:
    """The paper's two manipulation tables: ours (mean ± standard error over pairs) under the paper's."""
    found = {p.parent.parent: _read_json(p) for p in exp_root.glob("*/manipulation/results.json")}
    if not found:
        return []
    rank = {name: i for i, name in enumerate(order)}
    dirs = sorted(found, key=lambda d: (rank.get(d.name.replace("train_", ""), len(rank)), d.name))
    parts = ["## Factor manipulation (mean shift in the latent space)", "",
             "MLP posteriors on the target class before (x) and after (x') the manipulation, and on the "
             "segment's own class of the other factor; mean ± standard error over the manipulated test "
             "pairs. The paper's rows (TIMIT, Sun et al. 2021) are quoted for comparison; its DNF row is the "
             "DNF trained with the moved factor's labels.", ""]
    for factor, title in (("phone", "Phone manipulation"), ("spk", "Speaker manipulation")):
        rows = []
        for d in dirs:
            r = found[d][factor]
            rows.append([f"{found[d]['model']} `{os.path.relpath(d, rel_to)}`", _pm(r["moved_before"]),
                         _pm(r["moved_after"]), _pm(r["moved_delta"]), _pm(r["other_before"]),
                         _pm(r["other_after"]), _pm(r["other_delta"]), r["pairs"]])
        for name, values in PAPER_MANIPULATION[factor].items():
            rows.append([f"paper: {name}", *[f"{v:.3f}" for v in values], ""])
        parts += [f"### {title}", "", markdown_table(["model", *MANIPULATION_HEADERS[factor], "pairs"], rows), ""]
    return parts


def write_results(exp_root: str | Path, dump_dir: str | Path, out: str | Path | None = None,
                  title: str = "Results", sets: Sequence[str] = ("train", "dev", "test"),
                  notes: str = "", order: Sequence[str] = ()) -> Path:
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
              "Losses are per spectrogram element on normalised features (negative ELBO for the VAE, negative "
              "log-likelihood for the flows, in nats), cross-entropy for the classifiers, whose test accuracy "
              "is given.", ""]
    if models:
        parts += [markdown_table(["model", "exp dir", "params", "epochs", "best epoch", "train loss",
                                  "valid loss", "test loss", "test mse", "test acc", "t-SNE"], models), ""]
    else:
        parts += ["No trained model yet.", ""]
    parts += manipulation_section(exp_root, out.parent, order)
    for fig in sorted(exp_root.glob("*.png")):
        parts += [f"![{fig.stem}]({os.path.relpath(fig, out.parent)})", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(parts))
    tmp.replace(out)
    return out
