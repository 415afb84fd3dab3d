"""The reproduction targets of chime_complex's RESULTS.md: the best J against M and against the model-free
PGHI phase of its own estimated magnitude, as paired differences."""
import csv

from speechgen.bin.complex_results import target_section
from speechgen.eval.speech_scores import METRICS, summarize

UTTS = [f"u{i}" for i in range(4)]


def write_scores(root, model, pesq_by_condition):
    (root / model).mkdir(parents=True)
    rows = [{"utt": u, "condition": c, **{m: 1.0 for m in METRICS}, "pesq_wb": v[i]}
            for c, v in pesq_by_condition.items() for i, u in enumerate(UTTS)]
    with open(root / model / "scores.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["utt", "condition", *METRICS])
        writer.writeheader()
        writer.writerows(rows)
    return summarize(rows)


def test_targets_judge_the_best_j_against_m_and_against_pghi_on_its_own_magnitude(tmp_path):
    summaries = {
        "M": write_scores(tmp_path, "M", {"estMag_rdmPha": [1.0, 1.1, 1.2, 1.3], "estMag_rdmPha_GLA10": [2.0] * 4,
                                          "estMag_PGHI": [1.5] * 4, "estMag_PGHI_GLA10": [2.0] * 4}),
        "J1": write_scores(tmp_path, "J1", {"estMag_estPha": [1.2] * 4, "estMag_estPha_GLA10": [2.0] * 4,
                                            "estMag_PGHI": [1.5] * 4, "estMag_PGHI_GLA10": [2.0] * 4}),
        # J2's phase: +0.6 over M everywhere but below its own PGHI; with GLA +0.1 over both, with spread
        "J2": write_scores(tmp_path, "J2", {"estMag_estPha": [1.6, 1.7, 1.8, 1.9],
                                            "estMag_estPha_GLA10": [2.1, 2.12, 2.08, 2.1],
                                            "estMag_PGHI": [2.0] * 4, "estMag_PGHI_GLA10": [2.1, 1.95, 2.08, 1.95]}),
    }
    table = "\n".join(target_section(tmp_path, summaries, ["M", "J1", "J2"]))
    rows = {line.split(" | ")[0].lstrip("| "): line for line in table.splitlines() if line.startswith("| best J")}
    assert len(rows) == 4
    vs_m = rows["best J, estimated phase vs M, random phase (>= +0.5)"]
    assert "J2 est. magnitude, est. phase: 1.750" in vs_m and "M est. magnitude, random phase: 1.150" in vs_m and "+0.600 ± 0.000" in vs_m
    assert vs_m.endswith("| met |")
    vs_pghi = rows["best J, estimated phase vs PGHI phase of its estimated magnitude (>= 0)"]
    assert "J2 est. magnitude, PGHI phase: 2.000" in vs_pghi and vs_pghi.endswith("| not met |")
    assert rows["best J + GLA vs M + GLA (> 2 standard errors)"].endswith("| met |")  # +0.1, se 0.008
    # +0.080 ± 0.046 over its own PGHI + GLA: above 0, but not by two standard errors
    gla_pghi = rows["best J + GLA vs PGHI + GLA on its estimated magnitude (> 2 standard errors)"]
    assert "+0.080 ± 0.046" in gla_pghi and gla_pghi.endswith("| not met |")


def test_m_is_judged_against_the_pca_baseline(tmp_path):
    summaries = {"PCA": write_scores(tmp_path, "PCA", {"estMag_rdmPha_GLA10": [2.0, 2.1, 2.2, 2.3]}),
                 "M": write_scores(tmp_path, "M", {"estMag_rdmPha_GLA10": [2.3, 2.35, 2.45, 2.6]})}
    table = "\n".join(target_section(tmp_path, summaries, ["PCA", "M"]))
    row = next(line for line in table.splitlines() if line.startswith("| M + GLA vs PCA + GLA"))
    assert "+0.275 ± 0.014" in row and row.endswith("| met |")
    assert "best J" not in table  # no joint model, no J targets


def test_no_joint_model_no_targets(tmp_path):
    summaries = {"M": write_scores(tmp_path, "M", {"estMag_rdmPha": [1.0] * 4})}
    assert target_section(tmp_path, summaries, ["M"]) == []


def test_the_readme_block_gets_the_score_table_and_the_targets(tmp_path):
    from speechgen.bin import complex_results

    write_scores(tmp_path, "PCA", {"estMag_rdmPha_GLA10": [2.0, 2.1, 2.2, 2.3]})
    write_scores(tmp_path, "M", {"estMag_rdmPha_GLA10": [2.3, 2.35, 2.45, 2.6]})
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- results: cc -->\n<!-- /results: cc -->\n")
    assert complex_results.main(["--exp-root", str(tmp_path), "--models", "PCA M", "--readme", str(readme),
                                 "--block", "cc"]) == 0
    text = readme.read_text()
    assert "| M | est. magnitude, random phase + GLA-10 | 2.425 ± 0.066 |" in text
    assert "| M + GLA vs PCA + GLA" in text and text.endswith("<!-- /results: cc -->\n")


def test_scoring_workers_run_one_thread_each():
    """Each process of speechgen-score's pool has a core: one torch thread and one BLAS thread, so two
    workers do not share two cores four ways (they then took as long as one)."""
    import subprocess
    import sys

    code = ("import threadpoolctl, torch; from speechgen.eval.speech_scores import _one_thread; _one_thread(); "
            "print(torch.get_num_threads(), sorted({p['num_threads'] for p in threadpoolctl.threadpool_info()}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"OMP_NUM_THREADS": "2",
                         "PATH": "/usr/bin:/bin"}, check=True).stdout
    assert out.split() == ["1", "[1]"]
