"""The TIMIT 61 -> 48 -> 39 phone table."""
import pytest

from speechgen.data.phones import (
    DELETED_PHONES,
    FDNF_PHONE_TO_ID,
    FDNF_PHONES,
    PHONE_MAP,
    PHONES_39,
    PHONES_48,
    PHONES_61,
    is_timit_phone,
    map_phone,
)
from speechgen.errors import DataError


def test_set_sizes_match_the_standard_sets():
    assert len(PHONE_MAP) == 61
    assert len(PHONES_61) == 61 and len(set(PHONES_61)) == 61
    assert len(PHONES_48) == 48
    assert len(PHONES_39) == 39
    assert len(FDNF_PHONES) == 38


def test_symbol_lists_are_in_c_order():
    for symbols in (PHONES_61, PHONES_48, PHONES_39, FDNF_PHONES):
        assert list(symbols) == sorted(symbols)


@pytest.mark.parametrize("p61, p48, p39", [
    ("ao", "ao", "aa"),
    ("ax-h", "ax", "ah"),
    ("axr", "er", "er"),
    ("ix", "ix", "ih"),
    ("el", "el", "l"),
    ("em", "m", "m"),
    ("en", "en", "n"),
    ("nx", "n", "n"),
    ("eng", "ng", "ng"),
    ("hv", "hh", "hh"),
    ("ux", "uw", "uw"),
    ("zh", "zh", "sh"),
    ("bcl", "vcl", "sil"),
    ("dcl", "vcl", "sil"),
    ("gcl", "vcl", "sil"),
    ("pcl", "cl", "sil"),
    ("tcl", "cl", "sil"),
    ("kcl", "cl", "sil"),
    ("h#", "sil", "sil"),
    ("pau", "sil", "sil"),
    ("epi", "epi", "sil"),
    ("iy", "iy", "iy"),
])
def test_known_mappings(p61, p48, p39):
    assert map_phone(p61, to=48) == p48
    assert map_phone(p61, to=39) == p39


def test_glottal_stop_is_deleted_in_both_sets():
    assert DELETED_PHONES == ("q",)
    assert is_timit_phone("q")
    assert map_phone("q", to=48) is None
    assert map_phone("q", to=39) is None
    assert [p61 for p61, p48, p39 in PHONE_MAP if p48 is None or p39 is None] == ["q"]


def test_48_set_folds_to_39_as_a_function():
    fold = {}
    for p61, p48, p39 in PHONE_MAP:
        if p48 is not None:
            assert fold.setdefault(p48, p39) == p39, f"48-set {p48} maps to two 39-set symbols"
    assert set(fold) == set(PHONES_48)
    assert set(fold.values()) == set(PHONES_39)


def test_fdnf_classes_are_the_39_set_without_silence():
    assert "sil" not in FDNF_PHONES
    assert set(FDNF_PHONES) | {"sil"} == set(PHONES_39)
    assert [FDNF_PHONE_TO_ID[p] for p in FDNF_PHONES] == list(range(38))
    assert FDNF_PHONE_TO_ID["aa"] == 0 and FDNF_PHONE_TO_ID["z"] == 37


def test_labels_are_case_insensitive():
    assert map_phone("AX-H", to=39) == "ah"
    assert is_timit_phone("H#")


def test_unknown_phone_is_named():
    assert not is_timit_phone("xx")
    with pytest.raises(DataError, match="unknown TIMIT phone 'xx'"):
        map_phone("xx")


def test_target_set_must_be_48_or_39():
    with pytest.raises(ValueError, match="expected 48 or 39"):
        map_phone("aa", to=61)
