"""CHiME-4 clean-speech reader on a fake tree, its layout errors, the data and feature stages of
egs/chime_complex (complex STFT round trip), speaker splits and the choice of test utterances."""
import kaldiio
import numpy as np
import pytest
import soundfile as sf
import torch

from speechgen.bin import compute_stft, prepare_data
from speechgen.bin.decode_complex import pick_examples, select_utterances
from speechgen.corpora.chime4 import audio_root, read_chime4
from speechgen.corpora.writer import write_data_dir
from speechgen.data.complex_feats import (
    ComplexSpecDataset,
    log_magnitude_phase,
    matrix_to_spec,
    read_stft_config,
    reconstruct_waveform,
    spec_to_matrix,
)
from speechgen.data.tables import Cmvn, read_mapping
from speechgen.data.validate import validate_data_dir
from speechgen.errors import ConfigError, DataError

from chime_complex_helpers import make_fake_chime4, tone


@pytest.fixture(scope="module")
def chime(tmp_path_factory):
    return make_fake_chime4(tmp_path_factory.mktemp("chime4") / "CHiME4")


def test_reads_channel5_clean_images_of_the_simulated_sets(chime):
    utts = read_chime4(chime, ["et05_simu"])
    ids = [u.utt_id for u in utts]
    assert ids == sorted(ids) and len(ids) == 8  # 2 speakers x 2 utterances x 2 environments
    assert "F05_440C020I_PED" in ids and "M05_443C020S_BUS" in ids
    first = next(u for u in utts if u.utt_id == "F05_440C020I_PED")
    assert first.spk == "F05" and first.gender == "f" and first.subset == "et05_simu"
    assert first.wav.endswith("isolated_ext/et05_ped_simu/F05_440C020I_PED.CH5.Clean.wav")
    assert {u.wav.split(".")[-3] for u in utts} == {"CH5"}
    ch1 = read_chime4(chime, ["et05_simu"], channel=1)
    assert {u.wav.split(".")[-3] for u in ch1} == {"CH1"}


def test_reads_original_clean_utterances(chime):
    org = read_chime4(chime, ["tr05_org"])
    assert [u.utt_id for u in org] == ["011_011C0201_ORG", "011_011C0202_ORG"]
    assert org[0].gender == ""  # WSJ0 speaker ids carry no gender
    bth = read_chime4(chime, ["et05_bth"])
    assert [u.utt_id for u in bth] == ["F05_440C020I_BTH"] and bth[0].wav.endswith(".CH0.wav")


@pytest.mark.parametrize("sub", ["", "data", "data/audio", "data/audio/16kHz"])
def test_root_may_be_any_level_of_the_tree(chime, sub):
    assert audio_root(chime / sub) == chime / "data" / "audio" / "16kHz"


def test_missing_path_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match=r"--corpus-path .*nowhere: no such directory \(give the CHiME-4 root"):
        read_chime4(tmp_path / "nowhere", ["et05_simu"])


def test_wrong_layout_names_the_expected_one(tmp_path):
    (tmp_path / "wsj0" / "si_tr_s").mkdir(parents=True)
    with pytest.raises(DataError, match=r"not a CHiME-4 tree.*isolated_ext/<set>_<env>_simu/.*CH5\.Clean\.wav"):
        read_chime4(tmp_path, ["et05_simu"])


def test_missing_set_and_unknown_set(chime, tmp_path):
    partial = make_fake_chime4(tmp_path / "partial", sets=("et05",))
    with pytest.raises(DataError, match=r"no tr05_<env>_simu folders.*isolated_ext"):
        read_chime4(partial, ["tr05_simu"])
    with pytest.raises(DataError, match=r"isolated/dt05_bth: missing"):
        read_chime4(partial, ["dt05_bth"])
    with pytest.raises(ConfigError, match="choose from tr05_simu"):
        read_chime4(chime, ["et05_real"])
    with pytest.raises(DataError, match=r"no \*\.CH3\.Clean\.wav files; check the channel"):
        read_chime4(chime, ["et05_simu"], channel=3)


def test_wrong_rate_and_corrupt_wav_name_the_file(tmp_path):
    rel = "data/audio/16kHz/isolated_ext/et05_caf_simu/F06_446C0201_CAF.CH5.Clean.wav"
    root = make_fake_chime4(tmp_path / "rate", sets=("et05",))
    (root / rel).parent.mkdir(parents=True)
    sf.write(root / rel, tone(sr=8000), 8000, subtype="PCM_16")
    with pytest.raises(DataError, match=r"F06_446C0201_CAF\.CH5\.Clean\.wav: sample rate 8000 Hz, expected 16000 Hz; "
                                        r"use the 16 kHz CHiME-4 audio"):
        read_chime4(root, ["et05_simu"])
    (root / rel).write_bytes(b"RIFF\x00\x00not really a wav")
    with pytest.raises(DataError, match=r"F06_446C0201_CAF\.CH5\.Clean\.wav: cannot read audio .*re-copy it"):
        read_chime4(root, ["et05_simu"])


def test_prepare_stage_writes_valid_data_dirs(chime, tmp_path, capsys):
    data = tmp_path / "data"
    assert prepare_data.main([str(data), "--corpus", "chime4", "--corpus-path", str(chime), "--recipe",
                              "chime_complex", "--chime4-train-sets", "tr05_simu tr05_org"]) == 0
    for name, n in (("train", 10), ("dev", 8), ("test", 8)):
        assert validate_data_dir(data / name)["utterances"] == n
    assert not (data / "train" / "spk2gender").exists()  # WSJ0 speakers: gender unknown
    assert read_mapping(data / "test" / "spk2gender") == {"F05": "f", "M05": "m"}
    assert prepare_data.main([str(tmp_path / "d2"), "--corpus", "chime4", "--corpus-path", str(tmp_path / "missing"),
                              "--recipe", "chime_complex"]) == 1
    assert "no such directory" in capsys.readouterr().err


def test_complex_stft_round_trip_is_exact(chime, tmp_path):
    data = tmp_path / "data"
    write_data_dir(read_chime4(chime, ["et05_simu"]), data)
    dump = tmp_path / "dump"
    for job in (1, 2):
        assert compute_stft.main([str(data), str(dump), "--nj", "2", "--job", str(job)]) == 0
    assert compute_stft.main([str(data), str(dump), "--nj", "2", "--merge", "--stats"]) == 0
    conf = read_stft_config(dump)
    assert (conf.n_fft, conf.hop_length, conf.window) == (512, 128, "hann")
    feats = kaldiio.load_scp(str(dump / "feats.scp"))
    lengths = read_mapping(dump / "utt2num_samples")
    wavs = read_mapping(data / "wav.scp")
    assert sorted(feats) == sorted(wavs)
    for utt, mat in feats.items():
        x, _ = sf.read(wavs[utt], dtype="float32")
        assert mat.dtype == np.float32 and mat.shape == (1 + x.size // 128, 2 * 257)
        y = reconstruct_waveform(mat, int(lengths[utt]), conf)
        assert np.max(np.abs(y - x)) < 1e-5
        spec = conf.stft(torch.from_numpy(x))
        assert torch.equal(matrix_to_spec(spec_to_matrix(spec)), spec)
    cmvn = Cmvn.load(dump / "cmvn.npz")
    assert cmvn.mean.shape == (257,) and np.all(cmvn.std > 0)
    dataset = ComplexSpecDataset(dump, cmvn, segment_frames=32, random_crop=False)
    item = dataset[0]
    assert item["feats"].shape == (32, 257) and item["phase"].shape == (32, 257) and item["mask"].all()
    logmag, phase = log_magnitude_phase(feats[dataset.keys[0]])
    start = (logmag.shape[0] - 32) // 2
    assert np.allclose(item["phase"].numpy(), phase[start:start + 32])
    long_crop = ComplexSpecDataset(dump, cmvn, segment_frames=200, random_crop=True, crops_per_utt=3)
    assert len(long_crop) == 3 * len(dataset)
    assert long_crop[0]["mask"].sum() == logmag.shape[0]  # shorter than a crop: padded and masked


def test_feature_stage_names_a_wrong_rate_wav(tmp_path, capsys):
    wav = tmp_path / "a.wav"
    sf.write(wav, tone(sr=22050), 22050, subtype="PCM_16")
    data = tmp_path / "data"
    data.mkdir()
    (data / "wav.scp").write_text(f"a {wav}\n")
    assert compute_stft.main([str(data), str(tmp_path / "dump")]) == 1
    assert f"{wav}: sample rate 22050 Hz, expected 16000 Hz" in capsys.readouterr().err


def test_test_utterances_and_listening_examples():
    keys = [f"F05_{i:03d}" for i in range(10)] + [f"M05_{i:03d}" for i in range(10)] + ["F05_440C020I_PED"]
    chosen = select_utterances(keys, 5, include=["F05_440C020I_PED"])
    assert len(chosen) == 5 and "F05_440C020I_PED" in chosen and chosen == sorted(chosen)
    assert any(k.startswith("M05") for k in chosen)
    assert select_utterances(keys, 0) == sorted(keys)
    utt2spk = {k: k[:3] for k in keys}
    assert pick_examples(chosen, utt2spk, {"F05": "f", "M05": "m"}, 2)[0] == "F05_440C020I_PED"
    plain = [k for k in chosen if k != "F05_440C020I_PED"]
    examples = pick_examples(plain, utt2spk, {"F05": "f", "M05": "m"}, 2)
    assert [utt2spk[e] for e in examples] == ["F05", "M05"]
