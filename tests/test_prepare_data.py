"""speechgen-prepare-data: one command for every recipe and corpus kind; one --split grammar."""
import pytest

from corpus_fixtures import write_tone
from speechgen.bin import prepare_data
from speechgen.corpora import KINDS, Corpus, open_corpus
from speechgen.data.validate import validate_data_dir
from speechgen.errors import ConfigError
from timit_fixtures import write_ldc_corpus


def test_split_grammar():
    assert prepare_data.parse_split("corpus|speakers:2,1") == [("corpus", ()), ("speakers", (2.0, 1.0))]
    assert prepare_data.parse_split("utterances:8,1,1") == [("utterances", (8.0, 1.0, 1.0))]
    for bad in ("speakers:2", "utterances:8,1", "spk:1,1", "speakers:a,b", "speakers:-1,2"):
        with pytest.raises(ConfigError, match="is not one of corpus, speakers:D,T, utterances:A,B,C"):
            prepare_data.parse_split(bad)


def test_unknown_kind_is_a_config_error():
    with pytest.raises(ConfigError, match="--corpus 'tedlium': unknown corpus kind; choose from chime4, kaldi, lhotse"):
        open_corpus("tedlium", "/x")


def test_every_module_of_the_package_is_a_kind_with_its_layout_and_hint():
    assert set(KINDS) == {"timit", "timit-nltk", "chime4", "librispeech", "kaldi", "wavdir", "lhotse", "synth"}
    for kind, cls in KINDS.items():
        assert cls.kind == kind and cls.layout and cls.path_hint != Corpus.path_hint, kind


@pytest.mark.parametrize("kind", ["kaldi", "chime4", "timit", "timit-nltk", "librispeech", "wavdir", "lhotse", "synth"])
def test_a_missing_corpus_path_names_what_to_give(kind, tmp_path, capsys):
    argv = [str(tmp_path / "d"), "--corpus", kind, "--recipe", "chime_complex"]
    assert prepare_data.main(argv) == 1
    assert f"--corpus {kind} needs --corpus-path PATH ({KINDS[kind].path_hint})" in capsys.readouterr().err
    assert prepare_data.main(argv + ["--corpus-path", str(tmp_path / "nowhere")]) == 1
    assert f"nowhere: no such directory ({KINDS[kind].path_hint}" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()


def test_timit_for_each_recipe(tmp_path, capsys):
    root = write_ldc_corpus(tmp_path / "timit")
    common = ["--corpus", "timit", "--corpus-path", str(root)]
    assert prepare_data.main([str(tmp_path / "f"), *common, "--recipe", "timit_fdnf", "--n-female", "2",
                              "--n-male", "2", "--split", "utterances:8,1,1"]) == 0
    assert (tmp_path / "f" / "train" / "phone_segments").is_file() and (tmp_path / "f" / "lang" / "speakers.txt").is_file()
    # no TEST subset speakers of the standard split in the fixture: the corpus split does not apply, the fallback does
    assert prepare_data.main([str(tmp_path / "l"), *common, "--recipe", "timit_logmel", "--split", "speakers:1,1"]) == 0
    assert (tmp_path / "l" / "split.txt").read_text() == "speakers:1,1 per gender, seed 0\n"
    assert all(validate_data_dir(tmp_path / "l" / x)["utterances"] == 16 for x in ("dev", "test"))  # SA dropped
    assert prepare_data.main([str(tmp_path / "x"), *common, "--recipe", "timit_fdnf", "--split", "speakers:1,1"]) == 1
    assert "timit_fdnf classifies speakers" in capsys.readouterr().err


def test_a_recipe_that_needs_alignments_names_what_is_missing(tmp_path, capsys):
    for spk in ("a", "b", "c"):
        write_tone(tmp_path / "wavs" / spk / f"{spk}1.wav")
    args = [str(tmp_path / "d"), "--corpus", "wavdir", "--corpus-path", str(tmp_path / "wavs")]
    assert prepare_data.main([*args, "--recipe", "timit_logmel"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "3 of 3 utterances have no phone alignment (e.g. a-a1), which timit_logmel needs" in err
    assert prepare_data.main([*args, "--recipe", "chime_complex", "--split", "corpus|speakers:1,2"]) == 1
    assert "3 speakers of gender '' cannot give 1 dev + 2 test" in capsys.readouterr().err
    for spk in ("d", "e"):
        write_tone(tmp_path / "wavs" / spk / f"{spk}1.wav")
    assert prepare_data.main([*args, "--recipe", "chime_complex", "--split", "corpus|speakers:1,2"]) == 0
    assert validate_data_dir(tmp_path / "d" / "train")["speakers"] == 2
    for spk in "abcde":
        (tmp_path / "wavs" / spk / f"{spk}1.PHN").write_text("0 8000 iy\n")
    assert prepare_data.main([*args, "--recipe", "timit_fdnf", "--n-female", "1", "--n-male", "1"]) == 1
    assert "the gender of 5 speakers (e.g. a) is unknown, and timit_fdnf picks" in capsys.readouterr().err
    assert prepare_data.main([*args, "--recipe", "chime_complex", "--split", "corpus"]) == 1
    assert "--corpus wavdir has no split of its own" in capsys.readouterr().err
