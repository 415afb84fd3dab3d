"""Model-free baselines and the measures that judge models against them: the identity model, k-NN
accuracy and silhouette of codes, class-matched naturalness, class counts from the lang dir and the
DNFs' class means started from the data."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from speechgen.bin import train
from speechgen.bin.make_logmel_results import _score_cells
from speechgen.data.dataset import SegmentDataset
from speechgen.data.tables import Cmvn, lang_class_counts
from speechgen.errors import ConfigError
from speechgen.eval.latent import chance_accuracy, knn_accuracy, latent_structure, silhouette
from speechgen.eval.manipulation import (class_means, manipulate_and_score, matched_references, mean_shift,
                                         naturalness)
from speechgen.eval.report import write_results
from speechgen.eval.tsne import CodeSet
from speechgen.models import flows
from speechgen.models.classifier import MLPClassifier
from speechgen.models.identity import Identity
from speechgen.models.pca import PCABaseline
from speechgen.train.config import build_model, config_from_dict, set_class_counts
from speechgen.train.trainer import Trainer

from feature_fixtures import write_feature_dir

T, F = 4, 6


def clusters(n_classes=4, per_class=30, dim=8, spread=0.1, seed=0):
    """Points around far-apart class centres: (N, dim) and labels (N,)."""
    rng = np.random.default_rng(seed)
    centres = 10.0 * rng.standard_normal((n_classes, dim))
    labels = np.repeat(np.arange(n_classes), per_class)
    return centres[labels] + spread * rng.standard_normal((len(labels), dim)), labels


# ------------------------------------------------------------------ identity model
def test_identity_codes_are_the_segments_and_decode_inverts_exactly():
    model = Identity(n_frames=T, n_bins=F)
    x = torch.randn(5, T, F)
    assert torch.equal(model.encode(x), x.reshape(5, -1))
    assert torch.equal(model.decode(model.encode(x)), x)
    loss, stats = model({"feats": torch.zeros(3, T, F)})
    assert stats["nll"] == pytest.approx(0.5 * np.log(2 * np.pi))  # N(0, I) at its mean, per dim
    assert not list(model.parameters())


def test_identity_mean_shift_is_the_difference_of_the_class_means():
    model = Identity(n_frames=T, n_bins=F)
    train_x, labels = torch.randn(40, T, F, dtype=torch.float64), torch.arange(40) % 4
    means = class_means(model.encode(train_x), labels, 4)
    x = torch.randn(6, T, F, dtype=torch.float64)
    src, dst = torch.tensor([0, 1, 2, 3, 0, 1]), torch.tensor([1, 2, 3, 0, 3, 3])
    out = mean_shift(model, x, src, dst, means, slice(None))
    xbar = torch.stack([train_x[labels == c].mean(0) for c in range(4)])
    assert torch.allclose(out, x + xbar[dst] - xbar[src], atol=1e-12)


def test_an_affine_flow_shifts_exactly_as_the_identity():
    """A fresh NF (couplings start at the identity) is affine: its mean shift is the data-space shift."""
    torch.manual_seed(0)
    nf = flows.MODELS.build("nf", {"n_frames": T, "n_bins": F, "levels": 2, "steps_per_level": 2,
                                   "hidden": 8}).to(torch.float64)
    identity = Identity(n_frames=T, n_bins=F)
    train_x, labels = torch.randn(60, T, F, dtype=torch.float64), torch.arange(60) % 3
    nf.encode(train_x)  # ActNorm initialisation
    x = torch.randn(9, T, F, dtype=torch.float64)
    src, dst = torch.arange(9) % 3, (torch.arange(9) + 1) % 3
    shifted = [mean_shift(m, x, src, dst, class_means(m.encode(train_x), labels, 3), slice(None))
               for m in (nf, identity)]
    assert torch.allclose(shifted[0], shifted[1], atol=1e-10)


def test_a_factorial_flow_moved_as_a_whole_code_shifts_as_the_identity():
    """A fresh f-DNF is affine: moving its whole code by the class means is the data-space shift; moving
    only the factor's part is not."""
    torch.manual_seed(0)
    fdnf = flows.MODELS.build("fdnf", {"n_frames": T, "n_bins": F, "levels": 2, "steps_per_level": 2, "hidden": 8,
                                       "n_phones": 3, "n_speakers": 2}).to(torch.float64)
    identity = Identity(n_frames=T, n_bins=F)
    train_x = torch.randn(60, T, F, dtype=torch.float64)
    train_y = {"phone": torch.arange(60) % 3, "spk": torch.arange(60) % 2}
    x = torch.randn(12, T, F, dtype=torch.float64)
    test_y = {"phone": torch.arange(12) % 3, "spk": (torch.arange(12) // 3) % 2}
    fdnf.encode(train_x)  # ActNorm initialisation
    classifiers = {f: MLPClassifier(label=f, n_classes=n, n_frames=T, n_bins=F, hidden=[8]).double().eval()
                   for f, n in (("phone", 3), ("spk", 2))}

    def shifted(model, whole_code):
        _, details = manipulate_and_score(model, classifiers, model.encode(train_x), train_y, x, test_y,
                                          {"phone": 3, "spk": 2}, "phone", per_segment=1, whole_code=whole_code)
        return details["x_new"]

    assert torch.allclose(shifted(fdnf, True), shifted(identity, False), atol=1e-10)
    assert not torch.allclose(shifted(fdnf, False), shifted(identity, False), atol=1e-3)


def test_trainer_evaluates_a_model_without_parameters(tmp_path):
    root = write_feature_dir(tmp_path / "feats", n=24, frames=T, bins=F)
    data = SegmentDataset(root, Cmvn.load(root / "cmvn.npz"), root / "lang")
    exp = config_from_dict({"model": "identity", "model_conf": {"n_frames": T, "n_bins": F},
                            "trainer": {"max_epochs": 1, "batch_size": 8}})
    last = Trainer(exp, build_model(exp), data, data, tmp_path / "exp").fit()
    assert last["train_loss"] == pytest.approx(last["valid_loss"])  # nothing changed between the passes
    summary = json.loads((tmp_path / "exp" / "summary.json").read_text())
    assert summary["parameters"] == 0 and summary["epochs"] == 1
    assert (tmp_path / "exp" / "best.pt").is_file()


# ------------------------------------------------------------------ latent structure
def test_knn_accuracy_is_one_on_separated_clusters_and_chance_on_noise():
    x, labels = clusters()
    assert knn_accuracy(x, labels, k=5, folds=5, seed=0) == 1.0
    noise = np.random.default_rng(1).standard_normal(x.shape)
    assert knn_accuracy(noise, labels, k=5, folds=5, seed=0) < 0.5
    assert knn_accuracy(x, labels, k=5, folds=5, seed=3) == knn_accuracy(x, labels, k=5, folds=5, seed=3)
    assert chance_accuracy(np.array([0, 0, 0, 1])) == 0.75


def test_silhouette_separates_clusters_from_noise():
    x, labels = clusters(dim=2)
    assert silhouette(x, labels) > 0.9
    assert abs(silhouette(np.random.default_rng(1).standard_normal(x.shape), labels)) < 0.1
    assert np.isnan(silhouette(x, np.zeros(len(x))))


def test_latent_structure_scores_each_factor():
    x, phone = clusters(n_classes=3, per_class=20)
    spk = np.arange(len(phone)) % 2  # unrelated to the clusters
    cs = CodeSet("codes", [str(i) for i in range(len(x))], x, {"phone": list(phone), "spk": list(spk)})
    stats = latent_structure(cs, x[:, :2], np.arange(len(x)), k=5, folds=5)
    assert stats["knn_phone"] == 1.0 and stats["knn_spk"] < 0.8
    assert stats["silhouette_phone"] > stats["silhouette_spk"]
    assert stats["chance_spk"] == 0.5 and stats["dims"] == 8


# ------------------------------------------------------------------ naturalness
def trained_classifiers():
    """Two tiny MLPs on random (T, F) segments: their hidden features are what the distance uses."""
    torch.manual_seed(0)
    return {f: MLPClassifier(label=f, n_classes=3, n_frames=T, n_bins=F, hidden=[16]).eval() for f in ("phone", "spk")}


def test_matched_references_draw_segments_of_each_target_class():
    labels = np.array([0, 1, 1, 2, 2, 2])
    refs = matched_references(labels, np.array([2, 1, 0, 3]), seed=0)
    assert labels[refs[:3]].tolist() == [2, 1, 0] and refs[3] == -1
    assert np.array_equal(refs, matched_references(labels, np.array([2, 1, 0, 3]), seed=0))
    many = matched_references(labels, np.array([2] * 6), seed=1)  # each of the 3 segments of class 2 twice
    assert sorted(many.tolist()) == [3, 3, 4, 4, 5, 5]


def test_naturalness_of_real_segments_is_the_floor_and_an_overlay_is_far():
    gen = torch.Generator().manual_seed(0)
    labels = np.repeat(np.arange(3), 200)
    real = torch.randn(len(labels), T, F, generator=gen) + torch.from_numpy(labels).float()[:, None, None]
    targets = np.tile(np.arange(3), 200)
    clfs = trained_classifiers()
    # "converted" segments that are real segments of their target classes: as natural as real ones
    as_real = real[torch.from_numpy(matched_references(labels, targets, seed=10))]
    good = naturalness(clfs, as_real, real[:600], real, labels, targets, seed=0)
    bad = naturalness(clfs, as_real + 3.0 * torch.randn(as_real.shape, generator=gen), real[:600], real, labels,
                      targets, seed=0)
    assert good["fd_pairs"] == 600
    assert good["fd"] < 3 * good["fd_real"] + 1e-3
    assert bad["fd"] > 10 * good["fd"]
    assert good["fd_real"] == bad["fd_real"] and good["fd_unchanged"] == bad["fd_unchanged"]


# ------------------------------------------------------------------ class counts from the lang dir
def test_class_counts_come_from_the_lang_dir(tmp_path):
    root = write_feature_dir(tmp_path / "feats", n=12, frames=T, bins=F, n_phones=3, n_spk=2)
    counts = lang_class_counts(root / "lang")
    assert counts == {"phone": 3, "spk": 2}
    base = {"n_frames": T, "n_bins": F}
    dnf = set_class_counts(config_from_dict({"model": "dnf", "model_conf": {**base, "label": "spk"}}), counts, "lang")
    assert dnf.model_conf["n_classes"] == 2
    fdnf = set_class_counts(config_from_dict({"model": "fdnf", "model_conf": base}), counts, "lang")
    assert (fdnf.model_conf["n_phones"], fdnf.model_conf["n_speakers"]) == (3, 2)
    clf = set_class_counts(config_from_dict({"model": "mlp_classifier", "model_conf": base}), counts, "lang")
    assert clf.model_conf["n_classes"] == 3  # the default label is phone
    wrong = config_from_dict({"model": "dnf", "model_conf": {**base, "label": "phone", "n_classes": 38}})
    with pytest.raises(ConfigError, match="n_classes=38 but lang has 3 phone classes"):
        set_class_counts(wrong, counts, "lang")


def test_training_takes_the_number_of_speakers_from_the_lang_dir(tmp_path):
    root = write_feature_dir(tmp_path / "feats", n=24, n_spk=3)
    conf = {"model": "dnf", "model_conf": {"label": "spk", "levels": 1, "steps_per_level": 1, "hidden": 4},
            "trainer": {"max_epochs": 1, "batch_size": 8}}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(conf))
    assert train.main(["--config", str(tmp_path / "c.yaml"), "--train-dir", str(root), "--lang-dir",
                       str(root / "lang"), "--exp-dir", str(tmp_path / "exp")]) == 0
    saved = yaml.safe_load((tmp_path / "exp" / "config.yaml").read_text())
    assert saved["model_conf"]["n_classes"] == 3


# ------------------------------------------------------------------ DNF class means from the data
@pytest.mark.parametrize("name", ["dnf", "fdnf"])
def test_trainer_starts_the_class_means_at_the_class_means_of_the_codes(tmp_path, name):
    root = write_feature_dir(tmp_path / "feats", n=24, frames=T, bins=F)
    data = SegmentDataset(root, Cmvn.load(root / "cmvn.npz"), root / "lang")
    classes = {"dnf": {"label": "spk", "n_classes": 2}, "fdnf": {"n_phones": 3, "n_speakers": 2}}[name]
    exp = config_from_dict({"model": name, "model_conf": {"n_frames": T, "n_bins": F, "levels": 2,
                                                          "steps_per_level": 1, "hidden": 4, "init_means": "data",
                                                          **classes},
                            "optim_conf": {"lr": 0.0}, "trainer": {"max_epochs": 1, "batch_size": 8}})
    model = build_model(exp)
    Trainer(exp, model, data, None, tmp_path / "exp").fit()
    codes = model.encode(torch.from_numpy(data.feats))
    for factor, part in (model.factor_slices() if name == "fdnf" else {"spk": slice(None)}).items():
        labels = torch.from_numpy(data.labels[factor])
        expected = class_means(codes, labels, int(labels.max()) + 1)[:, part]
        assert torch.allclose(model.class_means(factor), expected, atol=1e-5)


def test_zero_init_means_stay_zero_and_bad_init_is_an_error():
    model = flows.MODELS.build("dnf", {"n_frames": T, "n_bins": F, "levels": 1, "steps_per_level": 1,
                                       "n_classes": 2, "hidden": 4})
    model.init_from_data([{"feats": torch.randn(4, T, F), "phone": torch.tensor([0, 1, 0, 1])}])
    assert torch.count_nonzero(model.class_means()) == 0
    with pytest.raises(ConfigError, match="init_means"):
        flows.MODELS.build("dnf", {"n_frames": T, "n_bins": F, "init_means": "random"})


# ------------------------------------------------------------------ results tables
def test_results_mark_rows_that_do_not_beat_the_identity_baseline(tmp_path):
    def manipulation(delta, other, fd):
        stat = {"moved_before": [0.0, 0.0], "moved_after": [delta, 0.01], "moved_delta": [delta, 0.01],
                "other_before": [0.5, 0.0], "other_after": [0.5 + other, 0.0], "other_delta": [other, 0.01],
                "pairs": 10, "naturalness": {"fd": fd, "fd_real": 1.0, "fd_unchanged": 50.0, "fd_pairs": 10}}
        return {"phone": dict(stat, factor="phone"), "spk": dict(stat, factor="spk")}

    for name, model, delta, other, fd, knn in (("identity", "identity", 0.5, -0.05, 20.0, 0.5),
                                               ("nf", "nf", 0.4, -0.10, 30.0, 0.3),
                                               ("phone_dnf", "dnf", 0.6, -0.01, 10.0, 0.8)):
        d = tmp_path / "exp" / f"train_{name}"
        (d / "manipulation").mkdir(parents=True)
        (d / "encode_test").mkdir()
        results = {"model": model, **manipulation(delta, other, fd)}
        if name == "phone_dnf":  # as a factorial model would: a second row for its whole code moved
            results["whole_code"] = manipulation(0.45, -0.2, 25.0)
        (d / "manipulation" / "results.json").write_text(json.dumps(results))
        (d / "encode_test" / "structure_all.json").write_text(json.dumps(
            {"knn_phone": knn, "knn_spk": 0.1, "silhouette_phone": 0.0, "silhouette_spk": 0.0, "dims": 8, "k": 10,
             "folds": 5, "segments": 10, "tsne_points": 10, "chance_phone": 0.1, "chance_spk": 0.05}))
    text = write_results(tmp_path / "exp", tmp_path / "dump", order=["identity", "nf", "phone_dnf"]).read_text()
    nf_rows = [line for line in text.splitlines() if line.startswith("| nf `train_nf`")]
    dnf_rows = [line for line in text.splitlines() if line.startswith("| dnf `train_phone_dnf`")]
    assert len(nf_rows) == 3 and all("°" in row for row in nf_rows)
    assert len(dnf_rows) == 6 and not any("°" in row for row in dnf_rows[::2])
    whole = [row for row in dnf_rows if "(whole code moved)" in row]
    assert len(whole) == 3 and all("°" in row for row in whole)
    assert "raw normalised segments (identity)" in text and "## Latent structure" in text
    assert "phone_dnf keeps its factor (phone k-NN ≥ 1.5 x NF's and above the raw segments'): 0.800 vs NF " \
           "0.300, raw 0.500: **yes**" in text
    assert "NF loses phone structure (k-NN below the raw segments'): 0.300 vs 0.500: **yes**" in text
    assert "| real segments of the target classes (floor) | 1.0 | 1.0 |" in text


def test_readme_block_is_regenerated_from_the_runs_and_a_missing_block_is_named(tmp_path, capsys):
    from speechgen.bin import make_results

    stat = {"moved_before": [0.0, 0.0], "moved_after": [0.5, 0.0], "moved_delta": [0.5, 0.01],
            "other_before": [0.5, 0.0], "other_after": [0.4, 0.0], "other_delta": [-0.1, 0.01], "pairs": 4,
            "naturalness": {"fd": 20.0, "fd_real": 1.0, "fd_unchanged": 50.0, "fd_pairs": 4}}
    for name, delta in (("identity", 0.5), ("fdnf", 0.6), ("nf", 0.1)):
        d = tmp_path / "exp" / f"train_{name}" / "manipulation"
        d.mkdir(parents=True)
        results = {"model": name, "phone": dict(stat, moved_delta=[delta, 0.01]), "spk": stat}
        if name == "fdnf":
            results["whole_code"] = {"phone": stat, "spk": dict(stat, moved_delta=[0.7, 0.01])}
        (d / "results.json").write_text(json.dumps(results))
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- results: r -->\nold table\n<!-- /results: r -->\nrest\n")
    args = ["--exp-root", str(tmp_path / "exp"), "--readme", str(readme), "--block", "r", "--order", "identity fdnf"]
    assert make_results.main(args) == 0
    lines = readme.read_text().split("\n")
    assert lines[:2] == ["intro", "<!-- results: r -->"] and lines[-3:] == ["<!-- /results: r -->", "rest", ""]
    assert "old table" not in lines and not any(line.startswith("| nf ") for line in lines)  # only --order's
    assert "| identity | 0.500 | -0.100 | 0.500 | -0.100 | 20.0 | 20.0 |" in lines
    assert "| fdnf | 0.600 | -0.100 ° | 0.500 ° | -0.100 ° | 20.0 ° | 20.0 ° |" in lines
    assert "| fdnf (whole code moved) | 0.500 ° | -0.100 ° | 0.700 | -0.100 ° | 20.0 ° | 20.0 ° |" in lines
    assert "| paper: f-DNF | 0.623 | -0.076 | 0.700 | -0.017 |  |  |" in lines
    assert make_results.main([*args[:-4], "--block", "missing"]) == 1
    assert "no block 'missing'" in capsys.readouterr().err


def test_a_model_whose_name_holds_train_keeps_its_row_and_its_name(tmp_path):
    from speechgen.bin.pack import pack_name
    from speechgen.eval.report import exp_model_name, summary_tables

    assert exp_model_name("exp/train_fdnf") == "fdnf" and exp_model_name("exp/classifier_phone") == "classifier_phone"
    assert exp_model_name(Path("exp/train_pretrain_nf")) == "pretrain_nf" and exp_model_name("my_train_x") == "my_train_x"
    assert pack_name(tmp_path / "train_pretrain_nf") == "pretrain_nf.tar.gz"
    stat = {"moved_before": [0.0, 0.0], "moved_after": [0.5, 0.0], "moved_delta": [0.5, 0.01],
            "other_before": [0.5, 0.0], "other_after": [0.4, 0.0], "other_delta": [-0.1, 0.01], "pairs": 4,
            "naturalness": {"fd": 20.0, "fd_real": 1.0, "fd_unchanged": 50.0, "fd_pairs": 4}}
    for name in ("identity", "pretrain_nf"):
        d = tmp_path / "exp" / f"train_{name}" / "manipulation"
        d.mkdir(parents=True)
        (d / "results.json").write_text(json.dumps({"model": name, "phone": stat, "spk": stat}))
    lines = summary_tables(tmp_path / "exp", ["identity", "pretrain_nf"]).splitlines()
    assert [line.split(" |")[0] for line in lines[2:4]] == ["| identity", "| pretrain_nf"]


def test_the_data_table_counts_utterances_from_the_phone_segments(tmp_path):
    from speechgen.eval.report import data_rows

    d = tmp_path / "train"
    d.mkdir()
    (d / "feats.scp").write_text("a_000 x\na_001 x\nb_000 x\n")
    (d / "phone_segments").write_text("a_000 a 0.0 0.2\na_001 a 0.2 0.4\nb_000 b 0.0 0.2\n")
    (d / "seg2spk").write_text("a_000 s1\na_001 s1\nb_000 s2\n")
    (d / "seg2phone").write_text("a_000 p\na_001 q\nb_000 p\n")
    assert data_rows(tmp_path, ["train", "dev"]) == [["train", 2, 3, 2, 2]]


def test_pca_baseline_reconstructs_data_of_its_rank_exactly_and_samples_in_its_subspace():
    gen = torch.Generator().manual_seed(0)
    basis = torch.linalg.qr(torch.randn(T * F, 3, generator=gen, dtype=torch.float64))[0].T.float()  # (3, T*F)
    codes = torch.randn(200, 3, generator=gen) * torch.tensor([3.0, 2.0, 1.0])
    windows = (codes @ basis + 0.5).reshape(200, T, F)
    pca = PCABaseline.fit(windows, 3)
    assert pca.latent_dim == 3 and pca.explained(windows) == pytest.approx(1.0, abs=1e-5)
    assert torch.allclose(pca.reconstruct(windows), windows, atol=1e-4)
    assert sorted(pca.std.tolist()) == pytest.approx([1.0, 2.0, 3.0], rel=0.15)
    drawn = pca.sample(500, generator=torch.Generator().manual_seed(1))
    assert drawn.shape == (500, T, F)
    # every sample lies in the subspace: the projection keeps it
    assert torch.allclose(pca.reconstruct(drawn), drawn, atol=1e-4)
    one = PCABaseline.fit(windows, 1)
    assert one.explained(windows) == pytest.approx(9.0 / 14.0, abs=0.08)
    with pytest.raises(ConfigError):
        pca.sample(2, labels={"phone": torch.zeros(2, dtype=torch.long)})


def test_logmel_results_mark_what_the_pca_baseline_beats():
    base = {"recon_mse": 0.12, "fd": 300.0}
    cells = _score_cells({"recon_mse": 0.15, "recon_acc": 0.8, "fd": 250.0, "phone_js": 0.04}, base)
    assert cells[0] == "0.150 °" and cells[2] == "250.00"
    assert _score_cells({"recon_mse": 0.10, "fd": 400.0}, base)[:3] == ["0.100", "n/a", "400.00 °"]
