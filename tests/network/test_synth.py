"""The seeded synthetic network: deterministic, valid, shaped like Chinese industrial clusters."""

from __future__ import annotations

from collections import Counter

from commonworks.network.matching import MatchIndex, validate_demand, validate_profile
from commonworks.network.synth import REGIONS, generate_demands, generate_network
from commonworks.network.taxonomy import taxonomy


def test_same_seed_same_network_and_small_is_a_prefix_of_large() -> None:
    a = generate_network(40, seed=3)
    assert a == generate_network(40, seed=3)
    assert generate_network(15, seed=3) == a[:15]
    assert a != generate_network(40, seed=4)
    assert generate_demands(30, seed=3) == generate_demands(30, seed=3)
    assert generate_demands(30, seed=3) != generate_demands(30, seed=4)


def test_profiles_are_valid_and_realistic() -> None:
    profiles = generate_network(600, seed=1)
    assert [p.enterprise_id for p in profiles] == list(range(1, 601))
    cities = {r[0]: (r[2], r[3]) for r in REGIONS}
    for p in profiles:
        validate_profile(p)
        lat, lon = cities[p.region]
        assert abs(p.lat - lat) < 1 and abs(p.lon - lon) < 1  # near its city
        assert 1 <= len(p.capabilities) <= 4
        assert p.name.endswith("有限公司") and p.name.startswith(p.region)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in p.description_zh)
        assert p.description_en.isascii() or "±" in p.description_en
        for cap in p.capabilities:
            assert len(cap.free_hours) == 28 and all(h >= 0 for h in cap.free_hours)
            assert cap.materials and len(cap.machine_ids) >= 1
            assert cap.price_per_hour is None or cap.price_per_hour > 0
    assert len({p.region for p in profiles}) >= 25
    certs = Counter(c for p in profiles for c in p.certifications)
    assert certs["iso_9001"] > certs["iatf_16949"] > certs["as9100"]  # common → rare
    # an aerospace certificate comes with ISO 9001
    assert all("iso_9001" in p.certifications for p in profiles if "as9100" in p.certifications)
    reputations = [p.reputation for p in profiles]
    assert 0.15 < reputations.count(None) / len(reputations) < 0.45
    assert all(0 <= r <= 1 for r in reputations if r is not None)


def test_descriptions_use_the_words_of_the_capabilities() -> None:
    tax = taxonomy()
    for p in generate_network(50, seed=9):
        lead = p.capabilities[0].process
        assert any(word in p.description_zh for word in tax.processes[lead].words()), (lead, p.description_zh)


def test_demands_are_valid_and_mostly_servable() -> None:
    profiles = generate_network(2000, seed=5)
    index = MatchIndex.build(profiles)
    demands = generate_demands(100, seed=6)
    served = 0
    for d in demands:
        validate_demand(d)
        assert d.text
        served += bool(index.match(d, 10))
    assert served >= 70
    zh = sum(1 for d in demands if any("\u4e00" <= ch <= "\u9fff" for ch in d.text))
    assert 30 <= zh <= 90  # both languages
