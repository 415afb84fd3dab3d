import json

import numpy as np
import pytest
import soundfile as sf
import torch
import yaml

from speechgen.bin import make_results, manipulate, train
from speechgen.eval.manipulation import class_means, mean_shift, sample_targets
from speechgen.models.abilities import Decoder, Factorised

from feature_fixtures import write_feature_dir

TINY = {"n_frames": 20, "n_bins": 200}


def test_class_means_and_absent_class():
    codes = torch.tensor([[1.0, 0.0], [3.0, 2.0], [10.0, 10.0]])
    means = class_means(codes, torch.tensor([0, 0, 2]), 4)
    assert torch.equal(means[0], torch.tensor([2.0, 1.0]))
    assert torch.equal(means[2], torch.tensor([10.0, 10.0]))
    assert torch.allclose(means[1], codes.mean(0)) and torch.allclose(means[3], codes.mean(0))


def test_targets_are_seeded_distinct_and_never_the_own_class():
    labels = np.array([0, 1, 2, 2, 1])
    rows, targets = sample_targets(labels, 4, 2, seed=1)
    assert len(rows) == 10 and np.all(targets != labels[rows])
    for i in range(5):
        assert len(set(targets[rows == i])) == 2
    assert np.array_equal(sample_targets(labels, 4, 2, seed=1)[1], targets)


class ShiftOnly(torch.nn.Module, Factorised, Decoder):
    """Identity 'flow' on flattened (T, F) whose second half of the code is factor 'spk'."""

    def encode(self, x):
        return x.flatten(1)

    def decode(self, z):
        return z.view(len(z), 2, 2)

    def factor_slices(self):
        return {"phone": slice(0, 2), "spk": slice(2, 4)}


def test_mean_shift_moves_only_the_factor_part():
    model = ShiftOnly()
    x = torch.zeros(1, 2, 2)
    means = torch.tensor([[0.0, 0, 0, 0], [1.0, 2, 3, 4]])
    out = mean_shift(model, x, torch.tensor([0]), torch.tensor([1]), means, model.factor_slices()["spk"])
    assert torch.equal(out.flatten(), torch.tensor([0.0, 0, 3, 4]))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("manip")
    feats = write_feature_dir(tmp / "dump" / "train", n=64)
    test = write_feature_dir(tmp / "dump" / "test", n=24, seed=2)
    confs = {
        "vae": {"model": "conv_vae", "model_conf": dict(TINY, channels=[4, 8], hidden=16, latent_dim=4)},
        "classifier_phone": {"model": "mlp_classifier",
                             "model_conf": dict(TINY, label="phone", n_classes=3, hidden=[16])},
        "classifier_spk": {"model": "mlp_classifier", "model_conf": dict(TINY, label="spk", n_classes=2, hidden=[16])},
    }
    for name, conf in confs.items():
        conf["trainer"] = {"max_epochs": 3, "batch_size": 16}
        path = tmp / f"{name}.yaml"
        path.write_text(yaml.safe_dump(conf))
        assert train.main(["--config", str(path), "--train-dir", str(feats), "--valid-dir", str(test),
                           "--lang-dir", str(feats / "lang"), "--exp-dir", str(tmp / "exp" / name)]) == 0
    return tmp


def test_classifier_learns_the_fixture_phones(trained):
    summary = json.loads((trained / "exp" / "classifier_phone" / "summary.json").read_text())
    assert summary["last"]["valid_acc"] > 0.9  # the fixture's phones differ by a clear spectral shape


def test_manipulation_stage_writes_both_tables(trained, capsys):
    exp = trained / "exp"
    assert manipulate.main(["--exp-dir", str(exp / "vae"), "--train-dir", str(trained / "dump" / "train"),
                            "--test-dir", str(trained / "dump" / "test"),
                            "--phone-classifier", str(exp / "classifier_phone"),
                            "--spk-classifier", str(exp / "classifier_spk"), "--per-segment", "1"]) == 0
    results = json.loads((exp / "vae" / "manipulation" / "results.json").read_text())
    for factor in ("phone", "spk"):
        r = results[factor]
        assert r["pairs"] == 24
        for key in ("moved_before", "moved_after", "other_before", "other_after"):
            assert 0.0 <= r[key][0] <= 1.0 and r[key][1] >= 0.0
        assert r["moved_delta"][0] == pytest.approx(r["moved_after"][0] - r["moved_before"][0], abs=1e-9)
    assert "vae phone manipulation (24 pairs)" in capsys.readouterr().out
    examples = results["examples"]
    assert len(examples) == 4 and (exp / "vae" / "manipulation" / "examples.png").stat().st_size > 1000
    for entry in examples:
        assert entry["phone_target"] != entry["phone"] and entry["spk_target"] != entry["spk"]
        for kind in ("orig", "phone", "spk"):
            x, sr = sf.read(exp / "vae" / "manipulation" / entry[f"{kind}_wav"])
            assert sr == 16000 and len(x) == 3440 * 10 and 0.5 < np.abs(x).max() <= 0.9 + 1e-3
    # a mislabelled classifier dir is refused
    assert manipulate.main(["--exp-dir", str(exp / "vae"), "--train-dir", str(trained / "dump" / "train"),
                            "--test-dir", str(trained / "dump" / "test"),
                            "--phone-classifier", str(exp / "classifier_spk"),
                            "--spk-classifier", str(exp / "classifier_spk")]) == 1
    assert "not a phone classifier" in capsys.readouterr().err
    # the results stage quotes the paper's rows beside ours
    assert make_results.main(["--exp-root", str(exp), "--dump-dir", str(trained / "dump")]) == 0
    text = (exp / "RESULTS.md").read_text()
    assert "### Phone manipulation" in text and "### Speaker manipulation" in text
    assert "| paper: f-DNF | 0.013 | 0.636 | 0.623 | 0.612 | 0.536 | -0.076 |  |" in text
    assert "| conv_vae `vae` |" in text


def test_example_audio_with_original_phase_gives_back_the_segment():
    from speechgen.data.features import SegmentSpecConfig, segment_log_spectrograms
    from speechgen.eval.examples import segment_phase, segments_to_audio

    conf = SegmentSpecConfig()
    rng = np.random.default_rng(0)
    x = np.convolve(rng.standard_normal(6000), np.ones(4) / 4, mode="same").astype(np.float32)
    start = 1000
    log_spec = segment_log_spectrograms(x, np.array([start]), conf)
    phase = segment_phase(x, start, conf)[None]
    y = segments_to_audio(log_spec, conf, phase=phase)[0]
    ref = x[start:start + conf.span]
    inner = slice(conf.win_length, conf.span - conf.win_length)  # edges have a single window's support
    assert np.corrcoef(y[inner], ref[inner])[0, 1] > 0.99  # only the dropped DC bin is lost
    gla = segments_to_audio(log_spec, conf, n_iter=50)[0]
    assert gla.shape == (conf.span,) and np.isfinite(gla).all()
