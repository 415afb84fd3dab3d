"""Feature datasets read eagerly (into memory) or lazily (from the archives, item by item)."""
import csv

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from speechgen.data import tables as tables_module
from speechgen.data.complex_feats import ComplexSpecDataset, compute_log_magnitude_stats
from speechgen.data.dataset import SegmentDataset
from speechgen.data.tables import Cmvn, resolve_loading
from speechgen.data.frames import FrameWindowDataset
from speechgen.errors import ConfigError, DataError
from speechgen.train.config import build_model, config_from_dict
from speechgen.train.trainer import Trainer

from feature_fixtures import write_feature_dir
from test_logmel_data import write_window_dir


def same_items(a, b, indices):
    for i in indices:
        x, y = a[i], b[i]
        assert x.keys() == y.keys()
        for key in x:
            assert torch.equal(x[key], y[key]), (i, key)


def test_segments_lazy_equal_eager(tmp_path):
    root = write_feature_dir(tmp_path / "feats", n=20)
    cmvn = Cmvn.load(root / "cmvn.npz")
    eager = SegmentDataset(root, cmvn, root / "lang", load="eager")
    lazy = SegmentDataset(root, cmvn, root / "lang", load="lazy")
    assert lazy.load == "lazy" and not hasattr(lazy, "feats") and lazy.shape == eager.shape == (20, 200)
    same_items(eager, lazy, range(len(eager)))
    # worker processes read the archive themselves; the batches are the same
    batches = [list(DataLoader(d, batch_size=6, num_workers=w)) for d, w in ((eager, 0), (lazy, 2))]
    for x, y in zip(*batches):
        assert torch.equal(x["feats"], y["feats"]) and torch.equal(x["phone"], y["phone"])


def test_lazy_segments_check_shapes_when_read(tmp_path):
    import kaldiio

    root = write_feature_dir(tmp_path / "feats", n=8)
    with kaldiio.WriteHelper(f"ark,scp:{root / 'odd.ark'},{root / 'odd.scp'}") as writer:
        writer("utt999_000", np.zeros((19, 200), dtype=np.float32))
    with open(root / "feats.scp", "a") as f:
        f.write((root / "odd.scp").read_text())
    lazy = SegmentDataset(root, None, load="lazy")
    with pytest.raises(DataError, match="utt999_000 is 19x200 but utt000_000 is 20x200"):
        lazy[len(lazy) - 1]
    with pytest.raises(DataError, match="every segment must have one size"):
        SegmentDataset(root, None, load="eager")


def test_frame_windows_lazy_equal_eager(tmp_path):
    root = write_window_dir(tmp_path / "win", lengths=(30, 12, 25))
    cmvn = Cmvn.load(root / "cmvn.npz")
    for edge in ("clamp", "drop"):
        eager = FrameWindowDataset(root, cmvn, window=5, edge=edge, load="eager")
        lazy = FrameWindowDataset(root, cmvn, window=5, edge=edge, load="lazy")
        assert len(eager) == len(lazy) and lazy.shape == eager.shape == (5, 120)
        same_items(eager, lazy, range(len(eager)))
        centres = lazy.strip_centres(4)
        assert torch.equal(eager.windows(centres), lazy.windows(centres))


def write_stft_dump(root, lengths=(40, 20, 33), n_freq=9):
    """A complex STFT feature dir: (N, 2F) [real | imag] matrices and their cmvn.npz."""
    import kaldiio

    rng = np.random.default_rng(0)
    root.mkdir(parents=True)
    with kaldiio.WriteHelper(f"ark,scp:{root / 'feats.ark'},{root / 'feats.scp'}") as writer:
        for u, n in enumerate(lengths):
            writer(f"utt{u}", rng.standard_normal((n, 2 * n_freq)).astype(np.float32))
    compute_log_magnitude_stats(root)
    return root


def test_complex_crops_lazy_match_eager(tmp_path):
    dump = write_stft_dump(tmp_path / "stft")
    cmvn = Cmvn.load(dump / "cmvn.npz")
    for random_crop, frames in ((False, 16), (True, 16), (True, 64)):  # centred, random, padded crops
        eager = ComplexSpecDataset(dump, cmvn, segment_frames=frames, random_crop=random_crop, load="eager")
        lazy = ComplexSpecDataset(dump, cmvn, segment_frames=frames, random_crop=random_crop, load="lazy")
        for i in range(len(eager)):
            torch.manual_seed(i)
            x = eager[i]
            torch.manual_seed(i)
            y = lazy[i]
            assert torch.equal(x["mask"], y["mask"]) and torch.equal(x["phase"], y["phase"])
            torch.testing.assert_close(x["feats"], y["feats"], rtol=0, atol=1e-5)


def test_auto_loads_lazily_past_the_limit(tmp_path, monkeypatch):
    root = write_feature_dir(tmp_path / "feats", n=8)
    size = (root / "feats.ark").stat().st_size
    assert tables_module.archive_bytes(root / "feats.scp") == size
    monkeypatch.setattr(tables_module, "EAGER_LIMIT_BYTES", size)
    assert resolve_loading("auto", root / "feats.scp") == "eager"
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # two training processes on this machine: two copies
    assert resolve_loading("auto", root / "feats.scp") == "lazy"
    assert SegmentDataset(root, None, load="auto").load == "lazy"
    with pytest.raises(ConfigError, match="feats_loading='mmap'"):
        resolve_loading("mmap", root / "feats.scp")


def test_lazy_loading_with_workers_trains_like_eager(tmp_path):
    root = write_feature_dir(tmp_path / "feats", n=32)
    cmvn = Cmvn.load(root / "cmvn.npz")

    def run(exp_dir, load, workers):
        exp = config_from_dict({
            "model": "conv_vae",
            "model_conf": {"n_frames": 20, "n_bins": 200, "channels": [4, 8], "hidden": 16, "latent_dim": 4},
            "trainer": {"max_epochs": 2, "batch_size": 8, "seed": 3, "num_workers": workers,
                        "feats_loading": load}})
        data = SegmentDataset(root, cmvn, root / "lang", load=exp.trainer.feats_loading)
        Trainer(exp, build_model(exp), data, None, exp_dir).fit()
        with open(exp_dir / "loss.csv") as f:
            return [{k: v for k, v in r.items() if k != "seconds"} for r in csv.DictReader(f)]

    assert run(tmp_path / "eager", "eager", 0) == run(tmp_path / "lazy", "lazy", 2)


@pytest.mark.parametrize("load", ["eager", "lazy"])
def test_a_nan_in_the_features_is_named_when_read(tmp_path, load):
    import kaldiio

    root = write_feature_dir(tmp_path / "feats", n=8)
    bad = np.zeros((20, 200), dtype=np.float32)
    bad[3, 7] = np.nan
    with kaldiio.WriteHelper(f"ark,scp:{root / 'bad.ark'},{root / 'bad.scp'}") as writer:
        writer("utt999_000", bad)
    with open(root / "feats.scp", "a") as f:
        f.write((root / "bad.scp").read_text())
    with pytest.raises(DataError, match=rf"{root / 'feats.scp'}: utt999_000 holds inf/NaN values; re-run the feature"):
        dataset = SegmentDataset(root, None, load=load)
        dataset[len(dataset) - 1]
    with pytest.raises(DataError, match=r"utt999_000 holds inf/NaN values"):
        Cmvn.estimate(root)


def test_scps_the_project_writes_read_from_any_working_directory(tmp_path, monkeypatch):
    import kaldiio

    from speechgen.data.ark import ark_writer

    (tmp_path / "recipe" / "dump").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "recipe")  # written as a recipe does, with paths relative to its folder
    mats = {f"u{i}": np.full((3, 2), i, dtype=np.float32) for i in range(3)}
    with ark_writer("dump/feats.ark", "dump/feats.scp") as writer:
        for key, mat in mats.items():
            writer(key, mat)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    back = kaldiio.load_scp(str(tmp_path / "recipe" / "dump" / "feats.scp"))
    assert sorted(back) == sorted(mats) and all(np.array_equal(back[k], mats[k]) for k in mats)
