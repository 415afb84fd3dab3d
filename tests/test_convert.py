"""speechgen-convert on wavs the test makes: two 'speakers' (low and high voices), a tiny DNF trained on
their segments and a speaker MLP that judges the conversion."""
import dataclasses

import kaldiio
import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

import speechgen
from speechgen.bin import convert, pack, train
from speechgen.bin.compute_cmvn import compute_cmvn
from speechgen.data.features import SegmentSpecConfig, segment_log_spectrograms
from speechgen.eval.conversion import overlap_add, window_starts

RATE = 16000
TINY = {"n_frames": 20, "n_bins": 200}


def voice(f0, seconds, seed):
    """A harmonic voice at f0 Hz with a falling spectral tilt and a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    x = sum(np.sin(2 * np.pi * k * f0 * (1 + 0.02 * np.sin(3 * t)) * t) / k for k in range(1, 12))
    return (0.2 * x / np.abs(x).max() + 0.003 * rng.standard_normal(len(t))).astype(np.float32)


def write_training_features(root, settings):
    """Segments of 20 frames every 10 frames of four utterances per voice -> a feature dir with labels."""
    root.mkdir(parents=True)
    keys, spk = [], []
    with kaldiio.WriteHelper(f"ark,scp:{root / 'feats.ark'},{root / 'feats.scp'}") as writer:
        for s, f0 in (("low", 110.0), ("high", 260.0)):
            for u in range(4):
                x = voice(f0, 1.0, seed=u)
                n = (len(x) - settings.win_length) // settings.hop_length + 1
                feats = segment_log_spectrograms(
                    x, np.zeros(1, dtype=np.int64), dataclasses.replace(settings, n_frames=n))[0]
                for i, start in enumerate(range(0, n - 20 + 1, 10)):
                    keys.append(f"{s}_{u}_{i:02d}")
                    spk.append(s)
                    writer(keys[-1], feats[start:start + 20])
    (root / "seg2spk").write_text("".join(f"{k} {s}\n" for k, s in zip(keys, spk)))
    (root / "seg2phone").write_text("".join(f"{k} p{i % 2}\n" for i, k in enumerate(keys)))
    (root / "phone_segments").write_text("".join(f"{k} {k[:-3]} 0.0 0.2\n" for k in keys))
    (root / "spec.yaml").write_text(yaml.safe_dump(dataclasses.asdict(settings)))
    lang = root / "lang"
    lang.mkdir()
    (lang / "phones.txt").write_text("p0 0\np1 1\n")
    (lang / "speakers.txt").write_text("high 0\nlow 1\n")
    compute_cmvn(root)
    return root


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("convert")
    feats = write_training_features(root / "dump" / "train", SegmentSpecConfig())
    confs = {"dnf": {"model": "dnf", "model_conf": dict(TINY, label="spk", levels=1, steps_per_level=1, hidden=8,
                                                           init_means="data", class_weight=10.0),
                     "trainer": {"max_epochs": 2, "batch_size": 8}},
             "clf": {"model": "mlp_classifier", "model_conf": dict(TINY, label="spk", hidden=[16]),
                     "trainer": {"max_epochs": 3, "batch_size": 8}}}
    for name, conf in confs.items():
        (root / f"{name}.yaml").write_text(yaml.safe_dump(conf))
        assert train.main(["--config", str(root / f"{name}.yaml"), "--train-dir", str(feats),
                           "--lang-dir", str(feats / "lang"), "--exp-dir", str(root / "exp" / name)]) == 0
    return root


def speaker_posterior(clf, wav, speaker):
    feats = clf.features(wav, RATE)
    with torch.no_grad():
        post = clf.model.posteriors(clf.windows(feats, hop=5))
    return float(post[:, clf.labels["spk"].index(speaker)].mean())


def test_window_starts_cover_the_utterance_and_overlap_add_inverts_windowing():
    assert window_starts(47, 20, 10) == [0, 10, 20, 27]
    frames = torch.randn(47, 3, dtype=torch.float64)
    starts = window_starts(47, 20, 10)
    assert torch.allclose(overlap_add(torch.stack([frames[s:s + 20] for s in starts]), starts, 47), frames)


def test_conversion_keeps_length_and_rate_and_moves_the_speaker(models, tmp_path, capsys):
    src = tmp_path / "low.wav"
    x = voice(110.0, 1.3, seed=9)
    sf.write(src, x, RATE)
    out = tmp_path / "out" / "high.wav"
    assert convert.main(["--model", str(models / "exp" / "dnf"), "--to-speaker", "high", str(src), str(out)]) == 0
    assert "-> high" in capsys.readouterr().out
    y, sr = sf.read(out)
    assert sr == RATE and len(y) == len(x)
    clf = speechgen.load_model(models / "exp" / "clf")
    before, after = speaker_posterior(clf, x, "high"), speaker_posterior(clf, y.astype(np.float32), "high")
    assert before < 0.5 < after, (before, after)
    # the same from a packed model, which carries the class means
    packed = tmp_path / "dnf.tar.gz"
    assert pack.main([str(models / "exp" / "dnf"), str(packed)]) == 0
    out2 = tmp_path / "high_packed.wav"
    assert convert.main(["--model", str(packed), "--to-speaker", "high", "--from-speaker", "low", str(src),
                         str(out2)]) == 0
    assert speaker_posterior(clf, sf.read(out2, dtype="float32")[0], "high") > 0.5


def test_conversion_errors_name_the_option(models, tmp_path, capsys):
    src = tmp_path / "a.wav"
    sf.write(src, voice(110.0, 0.5, seed=1), RATE)
    model = ["--model", str(models / "exp" / "dnf")]
    assert convert.main([*model, "--to-speaker", "nobody", str(src), str(tmp_path / "o.wav")]) == 1
    assert "--to-speaker nobody: not a class of" in capsys.readouterr().err
    assert convert.main([*model, "--to-phone", "p1", str(src), str(tmp_path / "o.wav")]) == 1
    assert "--to-phone needs --from-phone" in capsys.readouterr().err
    sf.write(tmp_path / "b.wav", voice(110.0, 0.5, seed=1), 8000)
    assert convert.main([*model, "--to-speaker", "high", str(tmp_path / "b.wav"), str(tmp_path / "o.wav")]) == 1
    assert "sample rate 8000 Hz, expected 16000 Hz" in capsys.readouterr().err
    assert not (tmp_path / "o.wav").exists()
