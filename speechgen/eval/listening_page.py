"""A listening page like the seed paper's demo page: per example utterance, one row per model with the
reconstruction without and with Griffin-Lim (audio player + spectrogram), the references, the true
utterance, and the score table. Every path in the page is relative to the page, so ``exp/`` can be
served or copied as is.
"""
from __future__ import annotations

import html
import json
import math
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from speechgen.data.audio import load_wav
from speechgen.errors import DataError
from speechgen.eval.speech_scores import HEADERS, METRICS, condition_label

PAGE_STYLE = """
body { font-family: sans-serif; max-width: 1200px; margin: 2em auto; color: #222; }
table { border-collapse: separate; border-spacing: 8px; width: 100%; }
th { text-align: left; } td { vertical-align: top; }
td.model { font-weight: bold; width: 8%; } .M { color: #c00; } .J { color: #00c; } .ref { color: #080; }
figure { margin: 0; } figure img { width: 100%; display: block; } audio { width: 100%; }
table.scores { border-collapse: collapse; font-size: 90%; }
table.scores td, table.scores th { border-bottom: 1px solid #ddd; padding: 2px 8px; text-align: right; }
table.scores td:first-child, table.scores td:nth-child(2), table.scores th:first-child,
table.scores th:nth-child(2) { text-align: left; }
"""


def spectrogram_png(wav: Path, png: Path, n_fft: int = 512, hop_length: int = 128,
                    vmin: float = -9.0, vmax: float = 3.0) -> None:
    """A small log-magnitude spectrogram image of a 16 kHz wav (written through a temp name)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from speechgen.eval.plots import save_figure
    from speechgen.signal.stft import stft

    x = load_wav(wav, None)
    logmag = torch.log(stft(torch.from_numpy(x), n_fft, hop_length).abs().clamp_min(1e-5)).numpy()
    fig = plt.figure(figsize=(4.0, 1.5), dpi=80)
    ax = fig.add_axes((0, 0, 1, 1))
    seconds = x.size / 16000
    ax.imshow(logmag, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=vmax,
              extent=(0, seconds, 0, 8), interpolation="nearest")
    ax.set_axis_off()
    save_figure(fig, png)


def _read_decode(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"{path}: missing; run the decoding stage first")
    return json.loads(path.read_text())


def _cell(exp_root: Path, decode_dir: Path, entry: Optional[dict], label: str) -> str:
    """An audio player with the file's spectrogram below it (the PNG is made when missing or older)."""
    if entry is None:
        return "<td>–</td>"
    wav = decode_dir / entry["wav"]
    png = decode_dir / "figures" / (Path(entry["wav"]).stem + ".png")
    if not png.is_file() or png.stat().st_mtime < wav.stat().st_mtime:
        spectrogram_png(wav, png)
    rel_wav = html.escape(os.path.relpath(wav, exp_root))
    rel_png = html.escape(os.path.relpath(png, exp_root))
    return (f'<td><figure><audio controls preload="auto" src="{rel_wav}"></audio>'
            f'<img src="{rel_png}" alt="spectrogram: {html.escape(label)}"></figure></td>')


def _entries_by_utt(record: dict) -> Dict[str, Dict[str, dict]]:
    table: Dict[str, Dict[str, dict]] = {}
    for entry in record["files"]:
        table.setdefault(entry["utt"], {})[entry["condition"]] = entry
    return table


def _model_row(exp_root: Path, model: str, by_cond: Dict[str, dict], prefixes: Tuple[str, ...], head: str) -> str:
    """One table row: ``model``'s first condition starting with one of ``prefixes``, without and with GLA."""
    chosen = [c for c in by_cond if c.startswith(prefixes)]
    plain, glad = [c for c in chosen if "_GLA" not in c], [c for c in chosen if "_GLA" in c]
    cells = [_cell(exp_root, exp_root / model, by_cond[plain[0]] if plain else None, f"{model} without GLA"),
             _cell(exp_root, exp_root / model, by_cond[glad[0]] if glad else None, f"{model} with GLA")]
    return f'<tr><td {head}</td>{"".join(cells)}</tr>'


def _example_table(exp_root: Path, utt: str, models: Sequence[str], records: Dict[str, dict],
                   reference: dict) -> List[str]:
    rows = [f'<h3>Utterance ID: {html.escape(utt)}</h3>', "<table>",
            '<colgroup><col style="width:8%"><col style="width:46%"><col style="width:46%"></colgroup>',
            "<thead><tr><th>Model</th><th>Without GLA</th><th>With GLA</th></tr></thead><tbody>"]
    for i, model in enumerate(models):
        by_cond = _entries_by_utt(records[model]).get(utt, {})
        css = "M" if "estMag_rdmPha" in by_cond else "J"
        rows.append(_model_row(exp_root, model, by_cond, ("estMag_estPha", "estMag_rdmPha"),
                               f'class="model {css}">({html.escape(model)})'))
        if i == 0:  # the model-free phase of the first model's estimated magnitude
            rows.append(_model_row(exp_root, model, by_cond, ("estMag_PGHI",),
                                   f'class="model ref">PGHI<br><small>on {html.escape(model)}\'s |X|</small>'))
    ref = _entries_by_utt(reference).get(utt, {})
    ref_dir = exp_root / "reference"
    gla = next((c for c in ref if c.startswith("orcMag_rdmPha_GLA")), None)
    rows.append('<tr><td class="model ref">Oracle |X|<br><small>left: PGHI phase<br>right: random phase'
                ' + GLA</small></td>'
                f'{_cell(exp_root, ref_dir, ref.get("orcMag_PGHI"), "oracle magnitude, PGHI")}'
                f'{_cell(exp_root, ref_dir, ref.get(gla) if gla else None, "oracle magnitude, random phase + GLA")}'
                "</tr>")
    true_entry = {"wav": f"audio/{utt}_true.wav"}
    if not (ref_dir / true_entry["wav"]).is_file():
        raise DataError(f"{ref_dir / true_entry['wav']}: missing; run the reference decoding stage")
    true_cell = _cell(exp_root, ref_dir, true_entry, "true utterance").replace("<td>", '<td colspan="2">', 1)
    rows.append(f'<tr><td class="model ref">True</td>{true_cell}</tr>')
    rows += ["</tbody></table>"]
    return rows


def _score_table(results: Dict[str, dict]) -> List[str]:
    if not results:
        return ["<p>No scores yet.</p>"]
    out = ['<table class="scores"><thead><tr><th>model</th><th>condition</th>',
           *[f"<th>{html.escape(HEADERS[m])}</th>" for m in METRICS], "<th>n</th></tr></thead><tbody>"]
    for model, by_condition in results.items():
        for condition, stats in by_condition.items():
            cells = []
            for m in METRICS:
                mean, se, _ = stats[m]
                cells.append(f"<td>{mean:.3f} ± {se:.3f}</td>" if math.isfinite(se) else f"<td>{mean:.3f}</td>")
            n = stats[METRICS[0]][2]
            out.append(f"<tr><td>{html.escape(model)}</td><td>{html.escape(condition_label(condition))}</td>"
                       f"{''.join(cells)}<td>{n}</td></tr>")
    out.append("</tbody></table>")
    return out


def write_page(exp_root: Path, models: Sequence[str], out: Optional[Path] = None, title: str = "",
               notes: Sequence[str] = (), examples: Optional[Sequence[str]] = None) -> Path:
    """Write ``exp_root/index.html`` (or ``out``, which must lie in ``exp_root``).

    Args:
        exp_root: holds ``reference/`` and one dir per model, each with ``decode.json`` and ``audio/``,
            and ``results.json`` (from :func:`speechgen.eval.speech_scores.write_results`) when scored.
        models: rows of the example tables, in order.
        examples: utterances shown (default: the ``examples`` of ``reference/decode.json``).
    """
    exp_root = Path(exp_root)
    out = Path(out) if out else exp_root / "index.html"
    reference = _read_decode(exp_root / "reference" / "decode.json")
    records = {m: _read_decode(exp_root / m / "decode.json") for m in models}
    examples = list(examples or reference.get("examples") or reference["utts"][:2])
    results_path = exp_root / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    title = title or "A deep generative model of speech complex spectrograms: reconstructions"
    body = [f"<h1>{html.escape(title)}</h1>", "<h2>Notes</h2>", "<ul>",
            "<li>All magnitudes in the model rows are estimated by the model (decoded from the posterior "
            "mean of the utterance's code).</li>",
            '<li>For model <span class="M">(M)</span> the phase is drawn uniformly at random.</li>',
            '<li>For models <span class="J">(J*)</span> the phase is estimated by the model.</li>',
            f"<li>Griffin-Lim (GLA): {reference.get('gla_iters', 100)} iterations"
            f"{' of fast GLA (momentum %g)' % reference['gla_momentum'] if reference.get('gla_momentum') else ''}, "
            "initialised with the phase of the left column.</li>",
            *[f"<li>{html.escape(n)}</li>" for n in notes], "</ul>", "<h2>Audio samples</h2>"]
    for utt in examples:
        body += _example_table(exp_root, utt, models, records, reference)
    body += ["<h2>Scores</h2>", "<p>Mean ± standard error over the test utterances "
             f"({len(reference['utts'])} utterances).</p>", *_score_table(results)]
    page = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
            '<link rel="icon" href="data:,">',  # no favicon request (a 404 in the console)
            f"<title>{html.escape(title)}</title>", f"<style>{PAGE_STYLE}</style></head><body>",
            *body, "</body></html>"]
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(page) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    return out
