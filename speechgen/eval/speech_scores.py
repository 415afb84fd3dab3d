"""Objective scores of decoded audio against the original utterances, and their tables.

A decode dir (see ``speechgen-decode-complex``) lists its files in ``decode.json``; :func:`score_decode_dir`
scores each against the original waveform of its utterance (the feature dir's ``wav.scp``) and writes
``scores.csv`` (one row per file). :func:`summarize` turns rows into mean, standard error and count
per condition, and :func:`write_results` writes ``RESULTS.md`` and ``results.json`` of several dirs.
"""
from __future__ import annotations

import csv
import json
import math
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from speechgen.data.audio import load_wav
from speechgen.data.tables import read_mapping
from speechgen.errors import DataError
from speechgen.eval.report import markdown_table
from speechgen.yaml_io import load_yaml
from speechgen.progress import progress

#: the scores of the tables, in order, with their headers (higher is better except LSD)
METRICS = ("pesq_wb", "pesq_nb", "stoi", "si_sdr", "lsd")
HEADERS = {"pesq_wb": "PESQ-WB", "pesq_nb": "PESQ-NB", "stoi": "STOI", "si_sdr": "SI-SDR (dB)",
           "lsd": "LSD (dB)"}
#: condition names (decode.json) -> what a reader sees
CONDITION_LABELS = {
    "estMag_rdmPha": "est. magnitude, random phase",
    "estMag_estPha": "est. magnitude, est. phase",
    "orcMag_orcPha": "oracle magnitude, oracle phase",
    "orcMag_rdmPha": "oracle magnitude, random phase",
    "orcMag_PGHI": "oracle magnitude, PGHI phase",
    "estMag_PGHI": "est. magnitude, PGHI phase",
    "orcMag_estPha": "oracle magnitude, phase est. from it",
}


def condition_label(condition: str) -> str:
    """``estMag_estPha_GLA100`` -> ``est. magnitude, est. phase + GLA-100``."""
    base, _, gla = condition.partition("_GLA")
    label = CONDITION_LABELS.get(base, base)
    return f"{label} + GLA-{gla}" if gla else label


def _one_thread() -> None:
    """A scoring worker's start: one thread in each of its thread pools (torch's OpenMP, numpy's and scipy's
    OpenBLAS), as each of the pool's processes has a core of its own. Two workers with the default
    threads took as long as one (12.7 s against 6.8 s for 100 files on two cores)."""
    import threadpoolctl  # scikit-learn's dependency
    import torch

    torch.set_num_threads(1)
    threadpoolctl.threadpool_limits(1)


def _score_one(job: Tuple[str, str, str, str, int]) -> Dict[str, object]:
    utt, condition, ref_path, deg_path, sample_rate = job
    from speechgen.signal.metrics import evaluate

    ref = load_wav(ref_path, sample_rate)
    deg = load_wav(deg_path, sample_rate)
    scores = evaluate(ref, deg, sample_rate, utt_id=f"{utt} ({condition}, {deg_path})", metrics=METRICS)
    return {"utt": utt, "condition": condition, **{k: round(v, 5) for k, v in scores.items()}}


def _decode_jobs(decode_dir: Path, wav_scp: Optional[Path], sample_rate: int) -> List[tuple]:
    """The (utt, condition, original, decoded, rate) jobs of one decode dir."""
    record_path = decode_dir / "decode.json"
    if not record_path.is_file():
        raise DataError(f"{record_path}: missing; run speechgen-decode-complex for {decode_dir} first")
    record = json.loads(record_path.read_text())
    wav_scp = Path(wav_scp) if wav_scp else Path(record["feats_dir"]) / "wav.scp"
    originals = read_mapping(wav_scp)
    work = []
    for entry in record["files"]:
        if entry["utt"] not in originals:
            raise DataError(f"{wav_scp}: no original of {entry['utt']} (decoded in {decode_dir}); score against "
                            "the feature dir the utterances were decoded from")
        work.append((entry["utt"], entry["condition"], originals[entry["utt"]], str(decode_dir / entry["wav"]),
                     sample_rate))
    return work


def _write_scores(decode_dir: Path, rows: List[Dict[str, object]]) -> None:
    out = decode_dir / "scores.csv"
    tmp = out.with_name("scores.csv.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["utt", "condition", *METRICS])
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, out)


def score_decode_dirs(decode_dirs: Sequence[Path], wav_scp: Optional[Path] = None, jobs: int = 1,
                      sample_rate: int = 16000) -> Dict[Path, List[Dict[str, object]]]:
    """Score every file of each ``decode_dir/decode.json`` (one pool of ``jobs`` processes for all) and
    write each dir's ``scores.csv``; returns ``{decode_dir: rows}``.

    Args:
        decode_dirs: dirs written by ``speechgen-decode-complex``.
        wav_scp: the originals (default: ``wav.scp`` of the feature dir named in each decode.json).
    Raises:
        DataError: a missing decode.json, an utterance without an original, or a metric that cannot
            score a file (naming the utterance, the condition and the file).
    """
    work = {Path(d): _decode_jobs(Path(d), wav_scp, sample_rate) for d in decode_dirs}
    flat = [job for jobs_of_dir in work.values() for job in jobs_of_dir]
    if jobs > 1 and len(flat) > 1:
        with ProcessPoolExecutor(max_workers=jobs, initializer=_one_thread) as pool:
            scored = list(progress(pool.map(_score_one, flat, chunksize=2), "scoring", len(flat), "file"))
    else:
        scored = [_score_one(job) for job in progress(flat, "scoring", unit="file")]
    out, start = {}, 0
    for decode_dir, jobs_of_dir in work.items():
        out[decode_dir] = scored[start:start + len(jobs_of_dir)]
        start += len(jobs_of_dir)
        _write_scores(decode_dir, out[decode_dir])
    return out


def score_decode_dir(decode_dir: Path, wav_scp: Optional[Path] = None, jobs: int = 1,
                     sample_rate: int = 16000) -> List[Dict[str, object]]:
    """:func:`score_decode_dirs` of one dir; returns its rows."""
    return score_decode_dirs([decode_dir], wav_scp, jobs, sample_rate)[Path(decode_dir)]


def read_scores(path: Path) -> List[Dict[str, object]]:
    """Rows of a ``scores.csv`` with the metrics as floats."""
    with open(path, newline="") as f:
        return [{k: (float(v) if k in METRICS else v) for k, v in row.items()} for row in csv.DictReader(f)]


def summarize(rows: Sequence[Dict[str, object]]) -> Dict[str, Dict[str, Tuple[float, float, int]]]:
    """``{condition: {metric: (mean, standard error, n)}}`` in the order conditions first appear."""
    grouped: Dict[str, List[Dict[str, object]]] = {}
    for row in rows:
        grouped.setdefault(str(row["condition"]), []).append(row)
    out = {}
    for condition, group in grouped.items():
        out[condition] = {}
        for metric in METRICS:
            values = np.array([float(r[metric]) for r in group], dtype=np.float64)
            se = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else float("nan")
            out[condition][metric] = (float(values.mean()), se, int(values.size))
    return out


def _pm(stat: Tuple[float, float, int], digits: int) -> str:
    mean, se, _ = stat
    return f"{mean:.{digits}f} ± {se:.{digits}f}" if math.isfinite(se) else f"{mean:.{digits}f}"


def results_rows(summaries: Dict[str, Dict[str, Dict[str, Tuple[float, float, int]]]]) -> List[List[str]]:
    """Table rows ``model, condition, metrics..., n`` of ``{model: summarize(...)}``."""
    rows = []
    for model, by_condition in summaries.items():
        for condition, stats in by_condition.items():
            digits = {"si_sdr": 2, "lsd": 2}
            rows.append([model, condition_label(condition),
                         *[_pm(stats[m], digits.get(m, 3)) for m in METRICS], str(stats[METRICS[0]][2])])
    return rows


def write_results(exp_root: Path, models: Sequence[str], out: Optional[Path] = None, title: str = "Results",
                  notes: str = "", extra_sections: Sequence[str] = ()) -> Dict[str, dict]:
    """``RESULTS.md`` and ``results.json`` of ``exp_root/reference`` and ``exp_root/<model>``.

    Returns the summaries ``{name: {condition: {metric: (mean, se, n)}}}`` of the dirs scored so far.
    """
    exp_root = Path(exp_root)
    out = Path(out) if out else exp_root / "RESULTS.md"
    summaries: Dict[str, dict] = {}
    for name in ["reference", *models]:
        path = exp_root / name / "scores.csv"
        if path.is_file():
            summaries[name] = summarize(read_scores(path))
    parts = [f"# {title}", ""]
    if notes:
        parts += [notes, ""]
    parts += ["## Time-domain reconstruction of the test utterances", "",
              "Mean ± standard error over the test utterances. `reference` rows use the oracle STFT "
              "magnitude; the model rows the magnitude decoded from the posterior mean of the utterance's "
              "code, with the model's estimated phase (J*) or uniform random phase (M), then fast Griffin-Lim "
              "initialised with that phase.", ""]
    if summaries:
        header = ["model", "condition", *[HEADERS[m] for m in METRICS], "n"]
        parts += [markdown_table(header, results_rows(summaries)), ""]
    else:
        parts += ["Nothing scored yet.", ""]
    parts += list(extra_sections)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(parts))
    os.replace(tmp, out)
    payload = {name: {c: {m: list(v) for m, v in stats.items()} for c, stats in by_c.items()}
               for name, by_c in summaries.items()}
    tmp_json = out.with_name("results.json.tmp")
    tmp_json.write_text(json.dumps(payload, indent=1) + "\n")
    os.replace(tmp_json, out.with_name("results.json"))
    return summaries


def training_rows(exp_root: Path, models: Sequence[str]) -> List[List[object]]:
    """One row per trained model: phase terms, parameters, epochs, best epoch, valid losses."""
    rows = []
    for name in models:
        summary_path = exp_root / name / "summary.json"
        if not summary_path.is_file():
            continue
        summary = json.loads(summary_path.read_text())
        conf = load_yaml((exp_root / name / "config.yaml").read_text())["model_conf"]
        last = summary.get("last", {})
        terms = ", ".join(conf.get("phase_terms") or []) or "(none)"
        nlls = [last.get(f"valid_{k}_nll") for k in ("mag", "phase", "gd", "if")]
        rows.append([name, f"`{name}`", terms, summary.get("parameters"),
                     f"{summary.get('epochs')}/{summary.get('max_epochs')}", summary.get("best_epoch"),
                     *[f"{v:.3f}" if v is not None else "" for v in nlls], f"{sum_seconds(exp_root / name):.0f}"])
    return rows


def sum_seconds(exp_dir: Path) -> float:
    """Training time: the sum of the epoch times in ``loss.csv``."""
    path = exp_dir / "loss.csv"
    if not path.is_file():
        return float("nan")
    with open(path, newline="") as f:
        return sum(float(r["seconds"]) for r in csv.DictReader(f))
