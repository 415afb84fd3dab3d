"""egs/timit_fdnf end to end with --debug true on a small embedded corpus (the CI run of the recipe)."""

import json

import kaldiio
import pytest
import yaml

from conftest import ROOT, run_debug_recipe

RECIPE = ROOT / "egs" / "timit_fdnf"


def run_recipe(tmp_path, *args):
    return run_debug_recipe("timit_fdnf", tmp_path, *args)


@pytest.fixture(scope="module")
def recipe(fdnf_debug_run):
    tmp, out = fdnf_debug_run
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return tmp, out


@pytest.mark.slow
def test_debug_recipe_writes_every_stage_output(recipe):
    tmp, _ = recipe
    for split in ("train", "dev", "test"):
        feats = kaldiio.load_scp(str(tmp / "dump" / split / "feats.scp"))
        assert len(feats) > 20
        assert next(iter(feats.values())).shape == (20, 200)
    assert (tmp / "dump" / "train" / "cmvn.npz").is_file()
    for model in ("identity", "vae", "nf", "phone_dnf", "speaker_dnf", "fdnf"):
        exp = tmp / "exp" / f"train_{model}"
        for name in ("config.yaml", "checkpoint.pt", "best.pt", "loss.png", "encode_test/codes.scp",
                     "encode_test/structure_all.json", "figures/tsne.png", "manipulation/results.json",
                     "manipulation/examples.png"):
            assert (exp / name).is_file(), (model, name)
        assert len(list((exp / "manipulation" / "audio").glob("*.wav"))) == 6  # 2 examples x 3 versions
    assert (tmp / "exp" / "tsne_grid.png").is_file()
    assert (tmp / "exp" / "train_fdnf" / "figures" / "tsne_parts.png").is_file()
    assert not (tmp / "exp" / "train_nf" / "figures" / "tsne_parts.png").exists()  # one code, no parts
    for factor in ("phone", "spk"):
        assert (tmp / "exp" / f"classifier_{factor}" / "encode_test" / "stats.json").is_file()
    results = (tmp / "exp" / "RESULTS.md").read_text()
    assert "`train_vae`" in results and "## Data" in results
    assert "### Phone manipulation" in results and "fdnf `train_fdnf`" in results
    assert "identity `train_identity`" in results and "## Latent structure" in results
    assert "raw normalised segments (identity)" in results and "fdnf z_B (speaker)" in results
    assert "### Naturalness of the converted segments" in results
    for factor in ("phone", "spk"):
        natural = json.loads((tmp / "exp" / "train_fdnf" / "manipulation" / "results.json").read_text())[factor]
        assert natural["naturalness"]["fd"] > 0 and natural["naturalness"]["fd_pairs"] > 0
    # class counts come from data/lang: 6 speakers in the debug corpus
    config = yaml.safe_load((tmp / "exp" / "train_speaker_dnf" / "config.yaml").read_text())
    assert config["model_conf"]["n_classes"] == 6
    speakers = {line.split()[1] for line in (tmp / "dump" / "test" / "seg2spk").read_text().splitlines()}
    assert len(speakers) == 6  # 3 female + 3 male, every speaker in the test split


@pytest.mark.slow
def test_rerun_skips_finished_stages(recipe):
    tmp, _ = recipe
    out = run_recipe(tmp)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "already prepared" in out.stdout
    assert all(f"dump/{x} up to date" in out.stdout for x in ("train", "dev", "test"))
    trained = ["classifier_phone", "classifier_spk"] + [f"train_{m}" for m in
                                                        ("identity", "vae", "nf", "phone_dnf", "speaker_dnf", "fdnf")]
    for name in trained:  # finished trainings are not started again
        assert f"exp/{name} up to date (" in out.stdout, name
    assert "[stage 2] training" not in out.stdout and "posterior classifier of" not in out.stdout
    assert "nothing to do" not in out.stderr


@pytest.mark.slow
def test_stage_7_packs_every_model_with_its_class_means(recipe):
    import tarfile

    tmp, _ = recipe
    assert (tmp / "exp" / "train_fdnf" / "class_means.npz").is_file()  # kept by the manipulation stage
    out = run_recipe(tmp, "--stage", "7", "--pack", "true")
    assert out.returncode == 0, out.stderr[-2000:]
    for model in ("identity", "vae", "nf", "phone_dnf", "speaker_dnf", "fdnf"):
        with tarfile.open(tmp / "exp" / "packed" / f"{model}.tar.gz") as tar:
            names = set(tar.getnames())
        assert {"model/best.pt", "model/spec.yaml", "model/class_means.npz", "model/manifest.yaml"} <= names, model
    again = run_recipe(tmp, "--stage", "7", "--pack", "true")
    assert again.returncode == 0 and "packed/fdnf.tar.gz up to date" in again.stdout


def test_missing_timit_path_is_a_clear_error(tmp_path):
    out = run_recipe(tmp_path, "--timit", tmp_path / "no_timit_here")
    assert out.returncode == 1
    assert "no_timit_here: no such directory (give the TIMIT root" in out.stderr


def test_unknown_option_is_refused(tmp_path):
    out = run_recipe(tmp_path, "--modles", "vae")
    assert out.returncode == 1 and "unknown option --modles" in out.stderr


def test_unknown_eval_set_is_refused(tmp_path):
    out = run_recipe(tmp_path, "--eval-set", "train")
    assert out.returncode == 1 and "--eval-set train: expected test or dev" in out.stderr
