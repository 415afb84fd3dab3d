"""egs/chime_complex end to end with --debug true (models PCA, M, J3, J7) into tmp dirs, its re-run, the
CHiME-4 data path on a fake tree, a user's wav through the trained models, and the errors a user meets
first."""
import csv
import json

import kaldiio
import numpy as np
import pytest
import soundfile as sf

from chime_complex_helpers import DEBUG_MODELS, run_recipe, tone


@pytest.mark.slow
def test_debug_recipe_writes_every_stage_output(chime_debug_run):
    root, out = chime_debug_run
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    for split in ("train_sp", "dev", "test"):
        feats = kaldiio.load_scp(str(root / "dump" / split / "feats.scp"))
        assert len(feats) >= 4 and next(iter(feats.values())).shape[1] == 2 * 257
    assert (root / "dump" / "train_sp" / "cmvn.npz").is_file() and not (root / "dump" / "train").exists()
    # the training set at speeds 0.9, 1.0 and 1.1 (--speed-perturb): three times the utterances
    train = (root / "data" / "train" / "utt2spk").read_text().splitlines()
    train_sp = (root / "data" / "train_sp" / "utt2spk").read_text().splitlines()
    assert len(train_sp) == 3 * len(train) and sum(u.startswith("sp0.9-") for u in train_sp) == len(train)
    exp = root / "exp"
    for model in DEBUG_MODELS.split():
        for name in ("config.yaml", "checkpoint.pt", "best.pt", "loss.png", "decode.json", "scores.csv"):
            assert (exp / model / name).is_file(), (model, name)
        record = json.loads((exp / model / "decode.json").read_text())
        assert len(record["utts"]) == 4 and record["gla_iters"] == 10
        conditions = {f["condition"] for f in record["files"]}
        pghi = {"estMag_PGHI", "estMag_PGHI_GLA10"}  # the model-free phase of the same estimated magnitude
        if model in ("PCA", "M"):
            assert conditions == {"estMag_rdmPha", "estMag_rdmPha_GLA10"} | pghi
        else:  # and the phase estimated from the oracle magnitude (--oracle-conditioned, on by default)
            assert conditions == {"estMag_estPha", "estMag_estPha_GLA10", "orcMag_estPha"} | pghi
        assert all((exp / model / f["wav"]).is_file() for f in record["files"])
        with open(exp / model / "scores.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert len(rows) == 4 * len(conditions) and all(float(r["stoi"]) > 0 for r in rows)
    reference = json.loads((exp / "reference" / "decode.json").read_text())
    assert {f["condition"] for f in reference["files"]} == {"orcMag_orcPha", "orcMag_rdmPha", "orcMag_PGHI",
                                                           "orcMag_rdmPha_GLA10", "orcMag_PGHI_GLA10"}
    with open(exp / "reference" / "scores.csv", newline="") as f:
        oracle = [r for r in csv.DictReader(f) if r["condition"] == "orcMag_orcPha"]
    assert all(float(r["pesq_wb"]) > 4.4 for r in oracle)  # the stored STFT rebuilds the utterance
    results = (exp / "RESULTS.md").read_text()
    for text in ("| reference | oracle magnitude, oracle phase |", "| M | est. magnitude, random phase |",
                 "| PCA | est. magnitude, random phase + GLA-10 |", "M + GLA vs PCA + GLA",
                 "| J7 | est. magnitude, est. phase + GLA-10 |", "| M | est. magnitude, PGHI phase + GLA-10 |",
                 "| reference | oracle magnitude, PGHI phase + GLA-10 |", "## Targets (PESQ-WB)",
                 "vs PGHI phase of its estimated magnitude", "vs PGHI + GLA on its estimated magnitude",
                 "## Training", " ± "):
        assert text in results, text
    page = (exp / "index.html").read_text()
    assert page.count("<audio") == 2 * (2 * 4 + 2 + 3) and "Utterance ID:" in page  # models, PGHI, refs
    speakers = {line.split()[1] for line in (root / "data" / "test" / "utt2spk").read_text().splitlines()}
    train_speakers = {line.split()[1] for line in (root / "data" / "train" / "utt2spk").read_text().splitlines()}
    assert len(speakers) == 2 and not speakers & train_speakers


@pytest.mark.slow
def test_rerun_skips_finished_stages(chime_debug_run):
    root, first = chime_debug_run
    assert first.returncode == 0
    out = run_recipe(root, "--models", DEBUG_MODELS)
    assert out.returncode == 0, out.stderr[-2000:]
    for text in ("already prepared", "data/train_sp up to date", "dump/train_sp up to date",
                 "reference up to date", "decode.json up to date", "scores.csv up to date"):
        assert text in out.stdout, text
    for model in DEBUG_MODELS.split():  # finished trainings are not started again
        assert f"exp/{model} up to date (" in out.stdout, model
    assert "[stage 2] training" not in out.stdout and "nothing to do" not in out.stdout


@pytest.mark.slow
def test_a_users_wav_through_the_trained_and_packed_models(chime_debug_run, tmp_path, capsys):
    from speechgen.bin import resynth

    root, first = chime_debug_run
    assert first.returncode == 0
    packed = run_recipe(root, "--models", DEBUG_MODELS, "--stage", "6", "--pack", "true")  # stage 6: the packs
    assert packed.returncode == 0, packed.stderr[-2000:]
    assert "packed models in" in packed.stdout
    assert all((root / "exp" / "packed" / f"{m}.tar.gz").is_file() for m in DEBUG_MODELS.split())
    wav = tmp_path / "user.wav"
    sf.write(wav, tone(0.7, f0=150.0), 16000)
    for model, source in (("M", root / "exp" / "M"), ("J7", root / "exp" / "packed" / "J7.tar.gz")):
        assert resynth.main(["--model", str(source), "--out-dir", str(tmp_path / model),
                             "--gla-iters", "5", str(wav)]) == 0
        assert (tmp_path / model / "user.png").stat().st_size > 1000
    for name in ("M/user_estMag_rdmPha.wav", "M/user_estMag_rdmPha_GLA5.wav", "J7/user_estMag_estPha.wav",
                 "J7/user_estMag_estPha_GLA5.wav"):
        y, sr = sf.read(tmp_path / name)
        assert sr == 16000 and len(y) == int(0.7 * 16000) and np.abs(y).max() > 1e-3, name
    sf.write(tmp_path / "low.wav", tone(0.7), 8000)
    assert resynth.main(["--model", str(root / "exp" / "M"), "--out-dir", str(tmp_path), str(tmp_path / "low.wav")]) == 1
    assert "sample rate 8000 Hz, expected 16000 Hz" in capsys.readouterr().err


@pytest.mark.slow
def test_chime4_path_feeds_the_data_and_feature_stages(chime4_features_run):
    root, out = chime4_features_run  # stages 0-1 on a fake CHiME-4 tree (conftest.py)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    test_utts = (root / "data" / "test" / "wav.scp").read_text()
    assert "F05_440C020I_PED" in test_utts and "M05_443C020S_BUS" in test_utts
    assert (root / "dump" / "test" / "feats.scp").is_file()
    assert "clean speech of CHiME-4" in out.stdout


def test_missing_chime4_path_is_a_clear_error(tmp_path):
    out = run_recipe(tmp_path, "--chime4", tmp_path / "no_chime_here")
    assert out.returncode == 1
    assert "no_chime_here: no such directory (give the CHiME-4 root" in out.stderr


def test_wrong_chime4_layout_is_a_clear_error(tmp_path):
    (tmp_path / "not_chime" / "wsj0").mkdir(parents=True)
    out = run_recipe(tmp_path, "--chime4", tmp_path / "not_chime")
    assert out.returncode == 1
    assert "not a CHiME-4 tree" in out.stderr and "CH5.Clean.wav" in out.stderr


def test_unknown_option_is_refused(tmp_path):
    out = run_recipe(tmp_path, "--modles", "M")
    assert out.returncode == 1 and "unknown option --modles" in out.stderr
