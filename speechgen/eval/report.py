"""exp/RESULTS.md: tables of what the recipe has produced so far, each row naming its experiment dir."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from speechgen.corpora.writer import PHONE_SEGMENTS
from speechgen.errors import DataError
from speechgen.data.tables import FACTORS


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
        segments = d / PHONE_SEGMENTS
        utts = len({line.split()[1] for line in segments.read_text().splitlines()}) if segments.is_file() else None
        rows.append([name, utts, _count_lines(d / "feats.scp"), _distinct_values(d / "seg2spk"),
                     _distinct_values(d / "seg2phone")])
    return rows


def _read_json(path: Path) -> Dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def suffix(eval_set: str) -> str:
    """The suffix of the outputs of an evaluated set: none for test (the reported tables), _dev for dev."""
    return "" if eval_set == "test" else f"_{eval_set}"


def model_rows(exp_root: Path, rel_to: Path, eval_set: str = "test") -> List[List[object]]:
    rows = []
    for exp_dir in sorted(p.parent for p in exp_root.glob("*/summary.json")):
        summary = _read_json(exp_dir / "summary.json")
        last = summary.get("last", {})
        test = _read_json(exp_dir / f"encode_{eval_set}" / "stats.json")
        tsne = exp_dir / "figures" / f"tsne{suffix(eval_set)}.png"
        rows.append([
            summary.get("model"), f"`{os.path.relpath(exp_dir, rel_to)}`", summary.get("parameters"),
            f"{summary.get('epochs')}/{summary.get('max_epochs')}", summary.get("best_epoch"),
            last.get("train_loss"), last.get("valid_loss"), test.get("loss"),
            test.get("nll") if "bpd" in test else None, test.get("mse"), test.get("acc"),
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


BASELINE = "identity"  # the model-free row every table is judged against (exp dir train_identity)
#: a trained model's exp dir is train_<model>; a posterior classifier's (classifier_phone) has no prefix
TRAIN_PREFIX = "train_"


def exp_model_name(exp_dir: str | Path) -> str:
    """The model an exp dir holds, as the tables and the packed files name it: ``exp/train_fdnf`` ->
    ``fdnf``; only a leading ``train_`` goes (``exp/train_pretrain_x`` -> ``pretrain_x``)."""
    name = Path(exp_dir).name
    return name[len(TRAIN_PREFIX):] if name.startswith(TRAIN_PREFIX) else name


def _ordered_dirs(found, order: Sequence[str]) -> List[Path]:
    rank = {name: i for i, name in enumerate(order)}
    return sorted(found, key=lambda d: (rank.get(exp_model_name(d), len(rank)), d.name))


def _row_name(d: Path, model: str, rel_to: Path) -> str:
    return f"{model} `{os.path.relpath(d, rel_to)}`"


def _beats(value: float, baseline: Optional[float], higher_is_better: bool = True) -> bool:
    return baseline is None or (value > baseline if higher_is_better else value < baseline)


def _marked(stat: Sequence[float], baseline: Optional[float], is_baseline: bool, with_se: bool = True) -> str:
    """mean ± se (or the mean alone), with ° where the identity row is at least as good (higher is better)."""
    text = _pm(stat) if with_se else f"{stat[0]:.3f}"
    return text + ("" if is_baseline or _beats(stat[0], baseline) else " °")


def _fd_cell(fd: float, baseline: Optional[float], is_baseline: bool) -> str:
    """A Fréchet distance, with ° where the identity row's is at least as low (lower is better)."""
    return f"{fd:.1f}" + ("" if is_baseline or _beats(fd, baseline, False) else " °")


def _manipulation_entries(found: Dict[Path, Dict], dirs: Sequence[Path], name_of) -> List[tuple]:
    """(row name, is the baseline, scores by factor) per model (``name_of(dir)`` names the row); a factorial
    model gets a second row for the shift of its whole code (``whole_code`` in its results)."""
    entries = []
    for d in dirs:
        name = name_of(d)
        entries.append((name, d.name == f"train_{BASELINE}", found[d]))
        if "whole_code" in found[d]:
            entries.append((f"{name} (whole code moved)", False, found[d]["whole_code"]))
    return entries


def _manipulation_results(exp_root: Path, eval_set: str) -> Dict[Path, Dict]:
    return {p.parent.parent: _read_json(p) for p in exp_root.glob(f"*/manipulation{suffix(eval_set)}/results.json")}


def manipulation_section(exp_root: Path, rel_to: Path, order: Sequence[str] = (),
                         eval_set: str = "test") -> List[str]:
    """The paper's two manipulation tables (ours: mean ± standard error over pairs; the identity
    baseline's row; the paper's rows), then the naturalness of the converted segments."""
    found = _manipulation_results(exp_root, eval_set)
    if not found:
        return []
    entries = _manipulation_entries(found, _ordered_dirs(found, order),
                                    lambda d: _row_name(d, found[d]["model"], rel_to))
    base = next((scores for _, is_base, scores in entries if is_base), None)
    parts = ["## Factor manipulation (mean shift in the latent space)", "",
             "MLP posteriors on the target class before (x) and after (x') the manipulation, and on the "
             "segment's own class of the other factor; mean ± standard error over the manipulated test "
             f"pairs. The `{BASELINE}` row is the model-free baseline: the same shift applied to the normalised "
             "segments themselves, x' = x + xbar_c2 - xbar_c1. ° marks a δ no better than the baseline's. "
             "A factorial model moves only the moved factor's part of its code; its \"whole code moved\" row "
             "shifts the whole code by its class means (the paper's formula can be read either way). The "
             "paper's rows (TIMIT, Sun et al. 2021) are quoted for comparison; its DNF row is the DNF trained "
             "with the moved factor's labels.", ""]
    for factor, title in (("phone", "Phone manipulation"), ("spk", "Speaker manipulation")):
        ref = base[factor] if base else None
        rows = []
        for name, is_base, scores in entries:
            r = scores[factor]
            rows.append([name, _pm(r["moved_before"]), _pm(r["moved_after"]),
                         _marked(r["moved_delta"], ref and ref["moved_delta"][0], is_base),
                         _pm(r["other_before"]), _pm(r["other_after"]),
                         _marked(r["other_delta"], ref and ref["other_delta"][0], is_base), r["pairs"]])
        for name, values in PAPER_MANIPULATION[factor].items():
            rows.append([f"paper: {name}", *[f"{v:.3f}" for v in values], ""])
        parts += [f"### {title}", "", markdown_table(["model", *MANIPULATION_HEADERS[factor], "pairs"], rows), ""]
    return parts + naturalness_section(entries)


def naturalness_section(entries: Sequence[tuple]) -> List[str]:
    """Fréchet distances of the converted segments to real segments of their target classes."""
    with_fd = [e for e in entries if all("naturalness" in e[2][f] for f in FACTORS)]
    if not with_fd:
        return []
    base = next((scores for _, is_base, scores in with_fd if is_base), None)
    rows = []
    for name, is_base, scores in with_fd:
        rows.append([name] + [_fd_cell(scores[f]["naturalness"]["fd"], base and base[f]["naturalness"]["fd"], is_base)
                              for f in FACTORS])
    rows += _fd_floor_rows(with_fd[0][2], 0)
    return ["### Naturalness of the converted segments", "",
            "Fréchet distance between the two MLPs' last hidden layers (concatenated) on the converted segments "
            "x' and on real test segments of the same target classes, one per pair, each class's segments in "
            "turn (lower is more "
            f"natural; ° marks a distance no lower than the `{BASELINE}` shift's). The floor is the distance of "
            "a second draw of real segments to the first.", "",
            markdown_table(["model", "phone-converted", "speaker-converted"], rows), ""]


def _structure_sets(exp_root: Path, order: Sequence[str], eval_set: str) -> List[tuple]:
    """(row name, dir, part, stats) of every structure_*.json under EXP_ROOT/*/encode_<set>, ordered."""
    found = {p.parent.parent: p for p in exp_root.glob(f"*/encode_{eval_set}/structure_all.json")}
    out = []
    for d in _ordered_dirs(found, order):
        name = exp_model_name(d)
        label = "raw normalised segments (identity)" if name == BASELINE else name
        out.append((label, d, "all", _read_json(found[d])))
        for part in ("phone", "spk"):
            stats = _read_json(d / f"encode_{eval_set}" / f"structure_{part}.json")
            if stats:
                out.append((f"{name} z_{'A (phone)' if part == 'phone' else 'B (speaker)'}", d, part, stats))
    return out


def _structure_claims(sets: Sequence[tuple]) -> List[str]:
    """The paper's reading of its t-SNE figure as checks on the k-NN accuracies (where the dirs exist)."""
    knn = {(exp_model_name(d), part): stats for _, d, part, stats in sets}

    def get(name: str, part: str, factor: str) -> Optional[float]:
        return knn.get((name, part), {}).get(f"knn_{factor}")

    raw = {f: get(BASELINE, "all", f) for f in ("phone", "spk")}
    nf = {f: get("nf", "all", f) for f in ("phone", "spk")}
    lines = []
    for name, what in (("vae", "VAE"), ("nf", "NF")):
        for f in ("phone", "spk"):
            v = get(name, "all", f)
            if v is not None and raw[f] is not None:
                lines.append(f"- {what} loses {f} structure (k-NN below the raw segments'): "
                             f"{v:.3f} vs {raw[f]:.3f}: **{'yes' if v < raw[f] else 'no'}**")
    for name, f in (("phone_dnf", "phone"), ("speaker_dnf", "spk")):
        v = get(name, "all", f)
        if v is not None and nf[f] is not None and raw[f] is not None:
            ok = v >= 1.5 * nf[f] and v > raw[f]
            lines.append(f"- {name} keeps its factor ({f} k-NN ≥ 1.5 x NF's and above the raw segments'): "
                         f"{v:.3f} vs NF {nf[f]:.3f}, raw {raw[f]:.3f}: **{'yes' if ok else 'no'}**")
    for part, f, dnf in (("phone", "phone", "phone_dnf"), ("spk", "spk", "speaker_dnf")):
        v, ref = get("fdnf", part, f), get(dnf, "all", f)
        if v is not None and ref is not None:
            lines.append(f"- f-DNF keeps {f} in its {f} part (k-NN ≥ {dnf}'s): {v:.3f} vs {ref:.3f}: "
                         f"**{'yes' if v >= ref else 'no'}**")
    return lines


def structure_section(exp_root: Path, order: Sequence[str] = (), eval_set: str = "test") -> List[str]:
    """k-NN accuracy and t-SNE silhouette of every model's codes, the raw segments as baseline."""
    sets = _structure_sets(exp_root, order, eval_set)
    if not sets:
        return []
    rows = [[label, stats.get("dims"), stats.get("knn_phone"), stats.get("knn_spk"), stats.get("silhouette_phone"),
             stats.get("silhouette_spk")] for label, _, _, stats in sets]
    first = sets[0][3]
    rows.append(["chance (most frequent class)", None, first.get("chance_phone"), first.get("chance_spk"), None, None])
    return ["## Latent structure", "",
            f"{first.get('k')}-nearest-neighbour accuracy of phone and speaker from the {eval_set} codes (Euclidean, "
            f"{first.get('folds')}-fold cross-validation with seeded folds, {first.get('segments')} segments) and "
            f"the silhouette of the t-SNE embedding ({first.get('tsne_points')} points) with the classes as "
            "clusters. The raw normalised segments are the model-free baseline.", "",
            markdown_table(["codes", "dims", "k-NN phone", "k-NN speaker", "silhouette phone",
                            "silhouette speaker"], rows), "",
            "The paper's reading of its t-SNE figure, checked:", "", *_structure_claims(sets), ""]


def _fd_floor_rows(scores: Dict, cells_before: int) -> List[List[object]]:
    """The naturalness table's two reference rows (floor, no conversion), FDs in the last two cells."""
    return [[name] + [""] * cells_before + [f"{scores[f]['naturalness'][key]:.1f}" for f in FACTORS]
            for key, name in (("fd_real", "real segments of the target classes (floor)"),
                              ("fd_unchanged", "unchanged segments x (no conversion)"))]


def summary_tables(exp_root: str | Path, names: Sequence[str], eval_set: str = "test") -> str:
    """The latent-structure and manipulation results of the exp dirs ``train_<name>`` in two compact tables
    (rows named by ``name``; ° where the identity baseline is at least as good), for a README."""
    exp_root = Path(exp_root)
    sets = [entry for entry in _structure_sets(exp_root, names, eval_set)
            if exp_model_name(entry[1]) in names]
    rows = [[label, *(f"{stats[k]:.3f}" for k in ("knn_phone", "knn_spk", "silhouette_phone", "silhouette_spk"))]
            for label, _, _, stats in sets]
    if sets:
        rows.append(["chance", f"{sets[0][3]['chance_phone']:.3f}", f"{sets[0][3]['chance_spk']:.3f}", "", ""])
    parts = [markdown_table(["codes", "k-NN phone", "k-NN speaker", "silhouette phone", "silhouette speaker"],
                            rows), ""] if sets else []
    found = {d: r for d, r in _manipulation_results(exp_root, eval_set).items()
             if exp_model_name(d) in names}
    if not found:
        return "\n".join(parts)
    entries = _manipulation_entries(found, _ordered_dirs(found, names), exp_model_name)
    base = next((scores for _, is_base, scores in entries if is_base), None)
    rows = []
    for name, is_base, scores in entries:
        cells = []
        for f in FACTORS:
            ref = base[f] if base else None
            cells += [_marked(scores[f][k], ref and ref[k][0], is_base, with_se=False)
                      for k in ("moved_delta", "other_delta")]
        cells += [_fd_cell(scores[f]["naturalness"]["fd"], base and base[f]["naturalness"]["fd"], is_base)
                  for f in FACTORS]
        rows.append([name, *cells])
    rows += _fd_floor_rows(entries[0][2], 4)
    rows += [[f"paper: {name}", *(f"{PAPER_MANIPULATION[f][name][i]:.3f}" for f in FACTORS for i in (2, 5)), "", ""]
             for name in PAPER_MANIPULATION["phone"]]
    parts += [markdown_table(["model", "δ(q2) phone manip.", "δ(s)", "δ(s2) speaker manip.", "δ(q)",
                              "FD phone-converted", "FD speaker-converted"], rows), ""]
    return "\n".join(parts)


def replace_block(path: str | Path, name: str, text: str) -> None:
    """Put ``text`` between the lines ``<!-- results: NAME -->`` and ``<!-- /results: NAME -->`` of ``path``."""
    path = Path(path)
    begin, end = f"<!-- results: {name} -->", f"<!-- /results: {name} -->"
    lines = path.read_text().split("\n") if path.is_file() else []
    if begin not in lines or end not in lines or lines.index(begin) > lines.index(end):
        raise DataError(f"{path}: no block '{name}'; put the lines '{begin}' and '{end}' where its tables go")
    i, j = lines.index(begin), lines.index(end)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines[:i + 1] + [text.rstrip("\n")] + lines[j:]))
    tmp.replace(path)


def write_results(exp_root: str | Path, dump_dir: str | Path, out: str | Path | None = None,
                  title: str = "Results", sets: Sequence[str] = ("train", "dev", "test"),
                  notes: str = "", order: Sequence[str] = (), eval_set: str = "test") -> Path:
    """Write the data and model tables of a recipe into ``out`` (default EXP_ROOT/RESULTS.md, or
    RESULTS_dev.md for ``eval_set="dev"``), from the outputs of the evaluated set."""
    exp_root, dump_dir = Path(exp_root), Path(dump_dir)
    sfx = suffix(eval_set)
    out = Path(out) if out else exp_root / f"RESULTS{sfx}.md"
    parts = [f"# {title}", ""]
    if notes:
        parts += [notes, ""]
    data = data_rows(dump_dir, sets)
    if data:
        parts += ["## Data", "", markdown_table(["set", "utterances", "segments", "speakers", "phones"], data), ""]
    models = model_rows(exp_root, out.parent, eval_set)
    parts += ["## Models", "",
              "Losses are per spectrogram element on normalised features, in nats: the negative ELBO for the VAE, "
              "the negative log-likelihood for the flows (plus, for flows with a class_weight, the weighted "
              "cross-entropy of their own classifier p(y|z)) and of N(0, I) for the identity baseline, "
              f"cross-entropy for the classifiers, whose {eval_set} accuracy is given. The NLL column is the exact "
              "negative log-likelihood alone, where the model has one.", ""]
    if models:
        parts += [markdown_table(["model", "exp dir", "params", "epochs", "best epoch", "train loss", "valid loss",
                                  f"{eval_set} loss", f"{eval_set} NLL", f"{eval_set} mse", f"{eval_set} acc",
                                  "t-SNE"], models), ""]
    else:
        parts += ["No trained model yet.", ""]
    parts += structure_section(exp_root, order, eval_set)
    parts += manipulation_section(exp_root, out.parent, order, eval_set)
    for fig in sorted(exp_root.glob("*.png")):
        if fig.stem.endswith("_dev") == (eval_set == "dev"):
            parts += [f"![{fig.stem}]({os.path.relpath(fig, out.parent)})", ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(parts))
    tmp.replace(out)
    return out
