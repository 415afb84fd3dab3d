"""egs/timit_logmel end to end with --debug true on a tiny embedded corpus (the CI run of the recipe).
"""

import kaldiio
import pytest

from conftest import ROOT, run_debug_recipe

RECIPE = ROOT / "egs" / "timit_logmel"
MODELS = ("vae", "wae_mmd", "wae_gan", "wgan_gp", "wgan_gp_uncond", "vaegan")


def run_recipe(tmp_path, *args):
    return run_debug_recipe("timit_logmel", tmp_path, *args, timeout=900)


@pytest.fixture(scope="module")
def recipe(logmel_debug_run):
    tmp, out = logmel_debug_run
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return tmp, out


@pytest.mark.slow
def test_debug_recipe_writes_every_stage_output(recipe):
    tmp, _ = recipe
    for split in ("train", "dev", "test"):
        feats = kaldiio.load_scp(str(tmp / "dump" / split / "feats.scp"))
        ali = kaldiio.load_scp(str(tmp / "dump" / split / "ali.scp"))
        key = next(iter(feats))
        assert feats[key].shape[1] == 120 and ali[key].shape == (feats[key].shape[0],)
        speakers = {line.split()[1] for line in (tmp / "data" / split / "utt2spk").read_text().splitlines()}
        assert {s[0] for s in speakers} == {"f", "m"}  # both genders in every split
    assert (tmp / "data" / "lang" / "phones.txt").read_text().splitlines()[37] == "sil 37"
    for m in MODELS:
        exp = tmp / "exp" / f"train_{m}"
        for name in ("config.yaml", "checkpoint.pt", "best.pt", "loss.png", "figures/epoch1.png",
                     "figures/epoch2.png", "figures/epochs.gif", "figures/samples.png", "eval/scores.json"):
            assert (exp / name).is_file(), f"{exp}/{name}"
        assert (exp / "figures" / "tsne.png").is_file() == (not m.startswith("wgan_gp"))
    results = (tmp / "exp" / "RESULTS.md").read_text()
    for m in MODELS:
        assert f"`train_{m}`" in results
    assert "accuracy on all real test windows" in results and "n/a (unconditional)" in results
    assert "phone_centres windows" in results and "--windows phone_centres" in results


@pytest.mark.slow
def test_rerun_skips_finished_stages(recipe):
    tmp, _ = recipe
    out = run_recipe(tmp, "--stop-stage", "4", "--models", "vae wgan_gp")
    assert out.returncode == 0, out.stderr[-2000:]
    assert "already prepared" in out.stdout
    assert all(f"dump/{x} up to date" in out.stdout for x in ("train", "dev", "test"))
    assert out.stdout.count("epochs trained)") == 3  # the classifier and both models: not started again
    assert "nothing to do" not in out.stderr
    assert out.stdout.count("/eval up to date") == 3  # their scores


def test_missing_timit_path_is_a_clear_error(tmp_path):
    out = run_recipe(tmp_path, "--timit", tmp_path / "no_timit_here")
    assert out.returncode == 1
    assert "no_timit_here: no such directory (give the TIMIT root" in out.stderr


def test_unknown_model_is_refused(tmp_path):
    out = run_recipe(tmp_path, "--models", "vae gan")
    assert out.returncode == 1 and "no config conf/gan_debug.yaml for model 'gan'" in out.stderr


@pytest.mark.slow
def test_a_packed_model_resynthesises_a_users_wav(recipe, tmp_path, capsys):
    import numpy as np
    import soundfile as sf

    from speechgen.bin import resynth

    tmp, _ = recipe
    packed = run_recipe(tmp, "--stage", "6", "--pack", "true")  # stage 6: every model in one file
    assert packed.returncode == 0, packed.stderr[-2000:]
    assert all((tmp / "exp" / "packed" / f"{m}.tar.gz").is_file() for m in MODELS)
    t = np.arange(int(0.6 * 16000)) / 16000
    x = (0.2 * np.sin(2 * np.pi * 180 * t) + 0.01 * np.random.default_rng(0).standard_normal(len(t))).astype("float32")
    sf.write(tmp_path / "user.wav", x, 16000)
    assert resynth.main(["--model", str(tmp / "exp" / "packed" / "vae.tar.gz"), "--out-dir", str(tmp_path / "out"),
                         "--gla-iters", "5", str(tmp_path / "user.wav")]) == 0
    y, sr = sf.read(tmp_path / "out" / "user_logmel_GLA5.wav")
    assert sr == 16000 and len(y) == len(x) and np.abs(y).max() > 1e-4
    assert (tmp_path / "out" / "user.png").stat().st_size > 1000
    assert resynth.main(["--model", str(tmp / "exp" / "train_wgan_gp"), "--out-dir", str(tmp_path / "out"),
                         str(tmp_path / "user.wav")]) == 1
    assert "cannot resynthesise audio" in capsys.readouterr().err
