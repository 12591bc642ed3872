"""The shipped process taxonomy: consistent, bilingual, and answering what matching asks."""

from __future__ import annotations

import doctest

import pytest

from commonworks.network import capacity, reputation, seed, taxonomy
from commonworks.network.taxonomy import TaxonomyError, parse


def test_worked_examples_in_docstrings() -> None:
    for module in (taxonomy, capacity, reputation, seed):
        assert doctest.testmod(module).failed == 0


def test_every_process_sits_under_one_of_the_six_din_8580_groups() -> None:
    t = taxonomy.taxonomy()
    assert set(t.groups) == {"primary_shaping", "forming", "separating", "joining", "coating",
                             "material_properties"}
    for code, term in t.processes.items():
        assert t.group_of(code) in t.groups
        assert term.zh and term.en
    assert {"injection_moulding", "casting"} <= set(t.processes_in("primary_shaping"))
    assert {"stamping", "bending"} <= set(t.processes_in("forming"))
    assert {"turning", "milling", "grinding", "laser_cutting"} <= set(t.processes_in("separating"))
    assert {"welding", "assembly"} <= set(t.processes_in("joining"))
    assert {"painting", "electroplating"} <= set(t.processes_in("coating"))
    assert "heat_treatment" in t.processes_in("material_properties")


def test_a_child_covers_its_parent_never_the_reverse() -> None:
    t = taxonomy.taxonomy()
    assert t.covers("robotic_welding", "welding") and not t.covers("welding", "robotic_welding")
    assert t.covers("milling", "milling") and not t.covers("turning", "milling")
    assert not t.covers("no_such_process", "milling")
    assert t.material_covers("stainless", "stainless_316") and not t.material_covers("stainless_316", "stainless")
    assert t.finish_ok(0.8, 1.6) and not t.finish_ok(3.2, 1.6) and t.finish_ok(None, None)
    assert t.name("iso_13485") == "ISO 13485"


def test_user_words_are_single_chinese_words() -> None:
    words = taxonomy.taxonomy().user_words()
    assert {"五轴加工", "激光切割", "加工中心", "阳极氧化"} <= set(words)
    assert all(" " not in w for w in words)


@pytest.mark.parametrize(("document", "message"), [
    ({"processes": [{"code": "a", "zh": "甲", "en": "A", "parent": "zzz"}]}, "unknown parent 'zzz'"),
    ({"processes": [{"code": "a", "zh": "甲", "en": "A", "group": "g"}] * 2}, "listed twice"),
    ({"processes": [{"code": "a", "zh": "甲", "en": "A", "parent": "b"},
                    {"code": "b", "zh": "乙", "en": "B", "parent": "a"}]}, "its own ancestor"),
    ({"processes": [{"code": "a", "zh": "甲", "en": "A", "group": "nope"}]}, "not under one of the six"),
])
def test_inconsistent_data_is_refused(document, message) -> None:  # type: ignore[no-untyped-def]
    base = {"groups": [{"code": "g", "zh": "组", "en": "G"}], "materials": [], "certifications": [], "finishes": []}
    with pytest.raises(TaxonomyError, match=message):
        parse(base | document)
