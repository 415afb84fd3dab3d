"""Log-mel recipe data: phone ids of the seed's table, frame features and labels, windows, splits."""
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import torch

from speechgen.bin.compute_cmvn import compute_cmvn
from speechgen.data.tables import Cmvn
from speechgen.data.frames import (FrameWindowDataset, LogMelConfig, frame_centres, frame_labels, log_mel_deltas,
                                   num_feature_frames, phone_run_centres, read_feature_dir)
from speechgen.data.phones import LOGMEL_PHONES, SILENCE_ID, phone61_to_id
from speechgen.data.phones import PHONES_48, PHONES_61
from speechgen.data.timit import Utterance
from speechgen.data.timit_split import CORE_TEST_SPEAKERS, DEV_SPEAKERS, speaker_split, standard_split
from speechgen.errors import DataError
from speechgen.signal.deltas import compute_deltas


def write_window_dir(root: Path, lengths=(30, 12, 25), dims: int = 120, seed: int = 0, n_classes: int = 5,
                     offset: float = 0.0) -> Path:
    """A feature dir as the log-mel stage writes it: feats.scp (N_u, dims) + ali.scp (N_u,) int32, cmvn.npz."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    with kaldiio.WriteHelper(f"ark,scp:{root / 'feats.ark'},{root / 'feats.scp'}") as feats, \
            kaldiio.WriteHelper(f"ark,scp:{root / 'ali.ark'},{root / 'ali.scp'}") as ali:
        for u, n in enumerate(lengths):
            labels = (np.arange(n) // 3 + u) % n_classes
            base = np.sin(np.outer(1 + labels, np.linspace(0, 3, dims))) * 2
            feats(f"utt{u}", (base + offset + 0.3 * rng.standard_normal((n, dims))).astype(np.float32))
            ali(f"utt{u}", labels.astype(np.int32))
    compute_cmvn(root)
    return root


# ----------------------------------------------------------------------------------------------- phones


def test_phone_table_follows_the_seed():
    assert len(LOGMEL_PHONES) == 49
    assert set(LOGMEL_PHONES) == set(PHONES_48) | {"q"}
    seed_ids = {"aa": 0, "ax": 5, "b": 7, "epi": 15, "hh": 20, "n": 28, "p": 32, "q": 33, "r": 34, "sil": 37,
                "t": 38, "th": 39, "cl": 40, "uh": 41, "vcl": 44, "zh": 48}
    assert {p: LOGMEL_PHONES.index(p) for p in seed_ids} == seed_ids
    assert SILENCE_ID == 37


@pytest.mark.parametrize("p61, expected", [("h#", 37), ("pau", 37), ("epi", 15), ("q", 33), ("bcl", 44),
                                           ("kcl", 40), ("ax-h", 5), ("axr", 16), ("ux", 42), ("em", 27),
                                           ("nx", 28), ("zh", 48), ("hv", 20)])
def test_timit61_to_seed_ids(p61, expected):
    assert phone61_to_id(p61) == expected


def test_every_timit_phone_has_an_id():
    assert {phone61_to_id(p) for p in PHONES_61} == set(range(49))


# ----------------------------------------------------------------------------------------------- features


def test_log_mel_deltas_shapes_and_delta_blocks():
    conf = LogMelConfig()
    x = np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1
    feats = log_mel_deltas(x, conf)
    n = num_feature_frames(len(x), conf)
    assert n == 1 + (16000 - 400) // 160 == feats.shape[0]  # 25 ms frames, no padding at the edges
    assert feats.shape == (n, 120) and feats.dtype == np.float32
    static = torch.from_numpy(feats[:, :40].T.astype(np.float64))[None]
    delta = compute_deltas(static, window=2, order=1)[0].T.numpy()
    delta2 = compute_deltas(static, window=2, order=2)[0].T.numpy()
    np.testing.assert_allclose(feats[:, 40:80], delta, atol=1e-4)
    np.testing.assert_allclose(feats[:, 80:], delta2, atol=1e-4)


def test_log_mel_equals_kaldis_fbank():
    knf = pytest.importorskip("kaldi_native_fbank", reason="the reference: pip install kaldi-native-fbank")
    rng = np.random.default_rng(3)
    t = np.arange(int(1.3 * 16000)) / 16000
    x = 0.3 * np.sin(2 * np.pi * (150 + 50 * t) * t) * (1 + np.sin(2 * np.pi * 3 * t)) + 0.05 * rng.standard_normal(t.size)
    x = x.astype(np.float32)
    opts = knf.FbankOptions()  # compute-fbank-feats' defaults: povey, snip edges, pre-emphasis 0.97, 20 Hz
    opts.frame_opts.dither = 0.0
    opts.mel_opts.num_bins = 40
    opts.use_energy = False
    fbank = knf.OnlineFbank(opts)
    fbank.accept_waveform(16000, (x * 32768).tolist())  # Kaldi reads 16-bit samples
    fbank.input_finished()
    reference = np.array([fbank.get_frame(i) for i in range(fbank.num_frames_ready)])
    ours = log_mel_deltas(x, LogMelConfig())[:, :40]
    assert ours.shape == reference.shape == (1 + (len(x) - 400) // 160, 40)
    assert np.abs(ours - reference).max() < 1e-3


def test_log_mel_of_a_tone_peaks_at_its_mel_band():
    conf = LogMelConfig(preemphasis=0.0)
    t = np.arange(8000) / 16000
    low, high = (log_mel_deltas(np.sin(2 * np.pi * f * t), conf)[:, :40].mean(0).argmax() for f in (300, 3000))
    assert low < high


def test_short_audio_is_an_error():
    with pytest.raises(DataError, match="fewer than one 400-sample frame"):
        log_mel_deltas(np.zeros(100), LogMelConfig())


def test_frame_labels_take_the_phone_at_the_centre_sample():
    conf = LogMelConfig()
    # Kaldi's frames of 400 samples every 160: centres at 200, 360, 520, 680, 840 samples
    assert frame_centres(5, conf).tolist() == [200, 360, 520, 680, 840]
    phones = [(0.0, 0.03, "h#"), (0.03, 0.0361, "ae"), (0.0361, 0.05, "q")]  # 480, 577.6, 800 samples
    # frame 2 (520) is in ae, frame 3 (680) in q, frame 4 (840) is past the end: nearest phone q
    assert frame_labels(phones, 5, conf).tolist() == [37, 37, 1, 33, 33]


def test_frame_labels_in_a_gap_take_the_nearest_phone():
    conf = LogMelConfig(n_fft=400, win_length=400)  # centres at 200, 360, 520 samples
    phones = [(0.0, 0.0200, "s"), (0.0300, 0.0400, "iy")]  # s: 0..320, gap 320..480, iy: 480..640
    assert frame_labels(phones, 3, conf).tolist() == [35, 35, 23]


# ----------------------------------------------------------------------------------------------- windows


@pytest.fixture()
def window_dir(tmp_path):
    return write_window_dir(tmp_path / "train")


def test_windows_are_labelled_by_their_centre_frame(window_dir):
    cmvn = Cmvn.load(window_dir / "cmvn.npz")
    ds = FrameWindowDataset(window_dir, cmvn, window=9)
    keys, mats, labels = read_feature_dir(window_dir)
    assert len(ds) == sum(len(m) for m in mats) == 67 and ds.shape == (9, 120)
    item = ds[35]  # utt1 starts at frame 30: frame 5 of utt1
    np.testing.assert_allclose(item["feats"][4].numpy(), cmvn.apply(mats[1][5]), rtol=1e-5, atol=1e-5)
    assert int(item["phone"]) == labels[1][5]
    np.testing.assert_allclose(item["feats"].numpy(), cmvn.apply(mats[1][1:10]), rtol=1e-5, atol=1e-5)


def test_window_edges_repeat_the_edge_frame_and_never_cross_utterances(window_dir):
    ds = FrameWindowDataset(window_dir, None, window=9)
    _, mats, _ = read_feature_dir(window_dir)
    first = ds[0]["feats"].numpy()
    np.testing.assert_array_equal(first[:5], np.repeat(mats[0][:1], 5, axis=0))
    np.testing.assert_array_equal(first[5:], mats[0][1:5])
    last_of_utt0 = ds[29]["feats"].numpy()  # frame 29 is utt0's last: the right half repeats it
    np.testing.assert_array_equal(last_of_utt0[4:], np.repeat(mats[0][29:30], 5, axis=0))


def test_drop_edges_keeps_only_full_windows(window_dir):
    ds = FrameWindowDataset(window_dir, None, window=9, edge="drop")
    assert len(ds) == (30 - 8) + (12 - 8) + (25 - 8)
    _, mats, _ = read_feature_dir(window_dir)
    np.testing.assert_array_equal(ds[0]["feats"].numpy(), mats[0][0:9])


def test_phone_run_centres_are_the_middles_of_non_silence_runs():
    s = SILENCE_ID
    # two utterances end to end: [s s 5 5 5 7 | 7 7 s 9 9 9 9]; the 7s on both sides of the boundary
    # are two runs, the silences none
    labels = np.array([s, s, 5, 5, 5, 7, 7, 7, s, 9, 9, 9, 9])
    utt_start = np.array([0] * 6 + [6] * 7)
    assert phone_run_centres(labels, utt_start).tolist() == [3, 5, 7, 11]


def test_phone_run_windows_are_zero_padded_at_utterance_edges(window_dir):
    _, mats, labels = read_feature_dir(window_dir)
    ds = FrameWindowDataset(window_dir, None, window=9, centres="phone_runs", edge="zero")
    starts = np.cumsum([0] + [len(m) for m in mats[:-1]])
    expected = phone_run_centres(np.concatenate(labels), np.repeat(starts, [len(m) for m in mats]))
    assert ds.centres.tolist() == expected.tolist() and 0 < len(ds) < sum(len(m) for m in mats)
    for i in range(len(ds)):
        item = ds[i]
        centre = int(item["idx"])
        u = int(np.searchsorted(starts, centre, side="right")) - 1
        frame = centre - starts[u]
        assert int(item["phone"]) == labels[u][frame] != SILENCE_ID
        window = item["feats"].numpy()
        for k, offset in enumerate(range(frame - 4, frame + 5)):
            inside = 0 <= offset < len(mats[u])
            np.testing.assert_array_equal(window[k], mats[u][offset] if inside else 0.0)


def test_windows_per_epoch_is_a_fresh_seeded_subset(window_dir):
    ds = FrameWindowDataset(window_dir, None, window=3, windows_per_epoch=20, seed=1)
    first = ds.active.copy()
    ds.set_epoch(2)
    second = ds.active.copy()
    ds.set_epoch(0)
    assert len(ds) == 20 and not np.array_equal(first, second) and np.array_equal(ds.active, first)


def test_normalisation_uses_training_statistics_only(tmp_path):
    train = write_window_dir(tmp_path / "train", seed=0)
    dev = write_window_dir(tmp_path / "dev", seed=1, offset=5.0)
    cmvn = Cmvn.load(train / "cmvn.npz")
    train_set, dev_set = FrameWindowDataset(train, cmvn), FrameWindowDataset(dev, cmvn)
    np.testing.assert_allclose(train_set.feats.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(train_set.feats.std(0), 1, atol=1e-3)
    assert dev_set.feats.mean() > 5.0  # the dev shift is kept: dev is not normalised by its own statistics


def test_strip_centres_tile_an_utterance(window_dir):
    ds = FrameWindowDataset(window_dir, None, window=9)
    assert ds.strip_centres(3).tolist() == [4, 13, 22]
    assert ds.strip_centres(5).tolist() == [4, 13, 22, 34, 46]  # on into utt1 (frames 30..41), utt2 (42..)
    with pytest.raises(DataError, match="fewer than 50"):
        ds.strip_centres(50)


def test_labels_of_a_different_length_are_an_error(tmp_path):
    root = write_window_dir(tmp_path / "bad")
    with kaldiio.WriteHelper(f"ark,scp:{root / 'ali.ark'},{root / 'ali.scp'}") as ali:
        for u, n in enumerate((30, 11, 25)):
            ali(f"utt{u}", np.zeros(n, dtype=np.int32))
    with pytest.raises(DataError, match="utt1 has 11 labels for 12 frames"):
        FrameWindowDataset(root)


def test_missing_labels_name_the_file(tmp_path):
    root = write_window_dir(tmp_path / "bad")
    (root / "ali.scp").unlink()
    with pytest.raises(DataError, match=r"ali\.scp: missing; run the log-mel feature stage"):
        FrameWindowDataset(root)


# ----------------------------------------------------------------------------------------------- splits


def _utt(spk: str, name: str, subset: str) -> Utterance:
    return Utterance(f"{spk}_{name}", spk, spk[0], subset, f"/x/{spk}/{name}.wav", [(0.0, 1.0, "h#")])


def test_speaker_lists_of_the_standard_recipe():
    assert len(CORE_TEST_SPEAKERS) == 24 and len(set(CORE_TEST_SPEAKERS)) == 24
    assert len(DEV_SPEAKERS) == 50 and len(set(DEV_SPEAKERS)) == 50
    assert not set(CORE_TEST_SPEAKERS) & set(DEV_SPEAKERS)
    assert sum(s.startswith("f") for s in CORE_TEST_SPEAKERS) == 8


def test_standard_split_uses_the_speaker_lists_and_drops_sa():
    utts = [_utt("fcjf0", n, "train") for n in ("sa1", "si1027", "sx37")]
    utts += [_utt("faks0", "si943", "test"), _utt("mdab0", "sx46", "test"), _utt("mzzz0", "si1", "test")]
    splits = standard_split(utts)
    assert [u.utt_id for u in splits["train"]] == ["fcjf0_si1027", "fcjf0_sx37"]
    assert [u.utt_id for u in splits["dev"]] == ["faks0_si943"]
    assert [u.utt_id for u in splits["test"]] == ["mdab0_sx46"]


def test_standard_split_without_test_speakers_is_an_error():
    with pytest.raises(DataError, match="leaves 'dev' empty"):
        standard_split([_utt("fcjf0", "si1027", "train")])


def test_speaker_split_is_deterministic_disjoint_and_keeps_both_genders():
    utts = [_utt(f"{g}syn{i}", f"sx{j}", "train") for g in "fm" for i in range(10) for j in range(3)]
    splits = speaker_split(utts, n_dev=2, n_test=2, seed=0)
    speakers = {name: {u.spk for u in part} for name, part in splits.items()}
    assert [len(speakers[n]) for n in ("train", "dev", "test")] == [12, 4, 4]
    assert not (speakers["train"] & speakers["dev"]) and not (speakers["dev"] & speakers["test"])
    for name in ("dev", "test"):
        assert {s[0] for s in speakers[name]} == {"f", "m"}
    assert speaker_split(utts, 2, 2, seed=0) == splits
    assert speaker_split(utts, 2, 2, seed=1) != splits
    with pytest.raises(DataError, match="cannot give 5 dev"):
        speaker_split(utts, n_dev=5, n_test=5)
