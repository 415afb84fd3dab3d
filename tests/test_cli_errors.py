"""Errors a user can cause through a speechgen-* command: one line naming the file or option and the fix."""
import errno

import pytest
import yaml

from speechgen.bin import command, train
from speechgen.errors import DataError

from feature_fixtures import write_feature_dir

TINY = {"model": "conv_vae", "model_conf": {"n_frames": 20, "n_bins": 200, "channels": [4, 8], "hidden": 8,
                                             "latent_dim": 2},
        "trainer": {"max_epochs": 1, "batch_size": 16}}


@pytest.mark.parametrize("err, says", [
    (OSError(errno.ENOSPC, "No space left on device", "/exp/epoch3.pt"),
     "/exp/epoch3.pt: No space left on device; free disk space"),
    (PermissionError(errno.EACCES, "Permission denied", "/exp"), "/exp: Permission denied; make it writable"),
    (DataError("/d/feats.scp: missing (run the feature stage first)"), "/d/feats.scp: missing (run the feature"),
])
def test_command_turns_user_errors_into_one_line(capsys, err, says):
    @command("speechgen-demo")
    def main(argv=None):
        raise err

    assert main([]) == 1
    out = capsys.readouterr().err
    assert out == f"speechgen-demo: error: {out.split('error: ', 1)[1]}" and out.count("\n") == 1
    assert says in out


def test_traceback_on_request(monkeypatch):
    @command("speechgen-demo")
    def main(argv=None):
        raise OSError(errno.EROFS, "Read-only file system", "/exp")

    monkeypatch.setenv("SPEECHGEN_TRACEBACK", "1")
    with pytest.raises(OSError):
        main([])


@pytest.fixture(scope="module")
def feats(tmp_path_factory):
    return write_feature_dir(tmp_path_factory.mktemp("feats") / "train", n=16)


def train_args(feats, config, exp_dir, *extra):
    return ["--config", str(config), "--train-dir", str(feats), "--valid-dir", str(feats),
            "--lang-dir", str(feats / "lang"), "--exp-dir", str(exp_dir), *extra]


def test_an_exp_dir_that_cannot_be_made_is_one_line(tmp_path, feats, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(TINY))
    (tmp_path / "plain_file").write_text("")
    assert train.main(train_args(feats, config, tmp_path / "plain_file" / "exp")) == 1
    out = capsys.readouterr().err
    assert out.startswith(f"speechgen-train: error: {tmp_path / 'plain_file'}") and out.count("\n") == 1


def test_scientific_notation_and_bad_values_through_the_command(tmp_path, feats, capsys):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump(TINY).replace("max_epochs: 1", "max_epochs: 1\n  grad_clip: 1e1"))
    assert train.main(train_args(feats, config, tmp_path / "exp", "--override", "optim_conf.lr=1e-3")) == 0
    assert train.main(train_args(feats, config, tmp_path / "exp2", "--override", "trainer.seed=abc")) == 1
    assert capsys.readouterr().err.endswith(
        "speechgen-train: error: --override trainer.seed=abc: trainer.seed='abc': expected an integer\n")
