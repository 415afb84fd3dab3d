"""A trained model used outside its recipe: a self-contained exp dir, speechgen.load_model, speechgen-pack."""
import dataclasses
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml

import speechgen
from speechgen.bin import pack, train
from speechgen.data.features import SegmentSpecConfig, segment_log_spectrograms
from speechgen.errors import DataError

from feature_fixtures import write_feature_dir

NF = {"model": "nf", "model_conf": {"n_frames": 20, "n_bins": 200, "levels": 1, "steps_per_level": 1, "hidden": 4},
      "trainer": {"max_epochs": 1, "batch_size": 16}}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny NF trained in a 'recipe' folder whose features and lang dir are then removed."""
    root = tmp_path_factory.mktemp("api")
    feats = write_feature_dir(root / "recipe" / "dump" / "train", n=32)
    (feats / "spec.yaml").write_text(yaml.safe_dump(dataclasses.asdict(SegmentSpecConfig())))
    (root / "nf.yaml").write_text(yaml.safe_dump(NF))
    exp = root / "recipe" / "exp" / "train_nf"
    assert train.main(["--config", str(root / "nf.yaml"), "--train-dir", str(feats), "--lang-dir", str(feats / "lang"),
                       "--exp-dir", str(exp)]) == 0
    shutil.rmtree(root / "recipe" / "dump")
    return exp


def tone(seconds=0.5, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * np.random.default_rng(0).standard_normal(len(t)))


def test_an_exp_dir_alone_turns_audio_into_the_models_input(trained):
    m = speechgen.load_model(trained)
    assert m.labels == {"phone": ["p0", "p1", "p2"], "spk": ["s0", "s1"]}
    assert m.settings == SegmentSpecConfig() and m.sample_rate == 16000
    x = tone()
    feats = m.features(x, 16000)
    assert feats.shape == ((len(x) - 400) // 160 + 1, 200)
    # the first 20 frames are the segment the feature stage would have stored for a start at 0
    stored = segment_log_spectrograms(x.astype(np.float32), np.zeros(1, dtype=np.int64), SegmentSpecConfig())[0]
    assert np.allclose(feats[:20].numpy(), m.cmvn.apply(stored), atol=1e-5)
    windows = m.windows(feats, hop=5)
    assert windows.shape == ((len(feats) - 20) // 5 + 1, 20, 200) and torch.equal(windows[1], feats[5:25])
    z = m.model.encode(windows)
    assert z.shape == (len(windows), 4000)
    assert torch.allclose(m.model.decode(z), windows, atol=1e-3)


def test_wrong_audio_and_missing_models_are_named(trained, tmp_path):
    m = speechgen.load_model(trained)
    with pytest.raises(DataError, match="audio at 8000 Hz, but .* trained on 16000 Hz; resample"):
        m.features(tone(rate=8000), 8000)
    with pytest.raises(DataError, match="no such exp dir or packed model"):
        speechgen.load_model(tmp_path / "nothing")
    (tmp_path / "junk.tar.gz").write_text("not a tar")
    with pytest.raises(DataError, match="not a packed model"):
        speechgen.load_model(tmp_path / "junk.tar.gz")


def test_log_mel_settings_from_before_the_kaldi_framing_are_refused(trained, tmp_path):
    from speechgen.data.frames import LogMelConfig

    old = shutil.copytree(trained, tmp_path / "old_logmel")
    settings = LogMelConfig().to_dict()
    del settings["framing"]  # as logmel.yaml was written before the features followed Kaldi's frames
    (old / "logmel.yaml").write_text(yaml.safe_dump(settings))
    info = yaml.safe_load((old / "data.yaml").read_text())
    (old / "data.yaml").write_text(yaml.safe_dump({**info, "features": "logmel.yaml"}))
    with pytest.raises(DataError, match=r"from before speechgen computed them as Kaldi does.*--stage 1\) and retrain"):
        speechgen.load_model(old)


def test_a_packed_model_loads_in_a_fresh_python_with_no_recipe_around(trained, tmp_path, capsys):
    out = tmp_path / "nf.tar.gz"
    (trained.parent / "RESULTS.md").write_text("# r\n| model | exp dir |\n| nf | `train_nf` | 1 |\n| vae | `train_vae` |\n")
    assert pack.main([str(trained), str(out)]) == 0
    assert "packed" in capsys.readouterr().out
    copy = tmp_path / "exp_copy"
    shutil.copytree(trained, copy)
    shutil.rmtree(trained)  # nothing of the recipe is left
    try:
        script = ("import numpy as np, speechgen, torch\n"
                  "m = speechgen.load_model('nf.tar.gz')\n"
                  "x = np.sin(np.arange(8000) / 7.0)\n"
                  "z = m.model.encode(m.windows(m.features(x, 16000), hop=10))\n"
                  "print(m.config['model'], m.labels['spk'], tuple(z.shape), float(z.abs().sum()))\n")
        run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        total = float(run.stdout.split()[-1])
        assert run.stdout.startswith("nf ['s0', 's1'] (3, 4000)")
        here = speechgen.load_model(copy)
        x = np.sin(np.arange(8000) / 7.0)
        assert total == pytest.approx(float(here.model.encode(here.windows(here.features(x, 16000), hop=10)).abs().sum()),
                                      rel=1e-5)
    finally:
        shutil.move(copy, trained)
    manifest = yaml.safe_load(subprocess.run(["tar", "-xzOf", str(out), "model/manifest.yaml"], capture_output=True,
                                             text=True, check=True).stdout)
    assert manifest["model"] == "nf" and manifest["speechgen_version"] == speechgen.__version__
    assert manifest["training"]["epochs"] == 1 and manifest["trained_on"]["train_dir"].endswith("dump/train")
    assert manifest["results"] == ["| nf | `train_nf` | 1 |"]


def test_several_models_pack_in_one_call_named_without_train(trained, tmp_path, capsys):
    assert pack.main([str(trained), "--out-dir", str(tmp_path / "packed")]) == 0
    assert f"packed {trained} -> {tmp_path / 'packed' / 'nf.tar.gz'}" in capsys.readouterr().out
    assert speechgen.load_model(tmp_path / "packed" / "nf.tar.gz").config["model"] == "nf"
    with pytest.raises(SystemExit):
        pack.main([str(trained), str(trained), str(tmp_path / "x.tar.gz")])
    assert "give EXP_DIR OUT, or EXP_DIR... --out-dir DIR" in capsys.readouterr().err
    assert not (tmp_path / "x.tar.gz").exists()


def test_speechgen_encode_writes_the_codes_of_wavs(trained, tmp_path, capsys):
    import kaldiio
    import soundfile as sf

    from speechgen.bin import encode

    for name, seconds in (("a", 0.5), ("b", 0.4)):
        sf.write(tmp_path / f"{name}.wav", tone(seconds), 16000)
    (tmp_path / "wav.scp").write_text(f"utt_b {tmp_path / 'b.wav'}\n")
    out = tmp_path / "codes"
    assert encode.main(["--exp-dir", str(trained), "--wav-scp", str(tmp_path / "wav.scp"), str(tmp_path / "a.wav"),
                        "--hop", "10", "--out-dir", str(out)]) == 0
    assert "2 utterances" in capsys.readouterr().out
    codes = kaldiio.load_scp(str(out / "codes.scp"))
    frames = {"a": (8000 - 400) // 160 + 1, "utt_b": (6400 - 400) // 160 + 1}
    assert {k: v.shape for k, v in codes.items()} == {k: ((n - 20) // 10 + 1, 4000) for k, n in frames.items()}
    assert encode.main(["--exp-dir", str(trained), "--out-dir", str(out)]) == 1
    assert "give either --feats-dir or wavs" in capsys.readouterr().err
