"""Tokenising mixed zh/en industrial text, synonym expansion through the taxonomy, and BM25."""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from commonworks.network.text import ReferenceBM25, TextIndex, tokenize, tokenizer


def test_user_dictionary_keeps_domain_words_whole() -> None:
    raw = tokenizer().raw_tokens("本公司提供五轴加工和激光切割服务，另有真空热处理")
    assert "五轴加工" in raw
    assert "激光切割" in raw
    assert "真空热处理" in raw


@pytest.mark.parametrize("text", ["加工中心", "CNC铣", "数控铣", "milling", "CNC milling", "machining centres", "铣削"])
def test_milling_synonyms_land_on_one_term(text: str) -> None:
    assert tokenize(text) == ["p:milling"]


@pytest.mark.parametrize(
    ("text", "term"),
    [
        ("五轴", "p:milling_5axis"),
        ("5-axis", "p:milling_5axis"),
        ("五轴联动", "p:milling_5axis"),
        ("激光下料", "p:laser_cutting"),
        ("laser cutting", "p:laser_cutting"),
        ("3D打印", "p:additive_manufacturing"),
        ("金属3D打印", "p:metal_3d_printing"),
        ("SUS304", "m:stainless_304"),
        ("304 不锈钢", "m:stainless_304"),
        ("6061-T6", "m:aluminium_6061"),
        ("Q235", "m:steel_q235"),
        ("IATF 16949", "c:iatf_16949"),
        ("ISO9001", "c:iso_9001"),
    ],
)
def test_aliases_and_names_map_to_their_term(text: str, term: str) -> None:
    assert tokenize(text) == [term]


def test_full_width_and_case_are_normalised() -> None:
    assert tokenize("ＣＮＣ铣") == tokenize("cnc铣") == ["p:milling"]


def test_longest_name_wins() -> None:
    # "stainless steel" is stainless, not "stainless" + "steel"
    assert tokenize("stainless steel housing") == ["m:stainless", "housing"]
    # "金属3D打印" is metal 3D printing, not 金属 + 3D printing
    assert tokenize("金属3D打印") == ["p:metal_3d_printing"]


def test_codes_kept_noise_dropped() -> None:
    tokens = tokenize("求购6061铝合金外壳，CNC加工500件，公差±0.02mm，M8螺纹，Q235支架，的 and the")
    assert tokens == [
        "求购",
        "m:aluminium_6061",
        "外壳",
        "p:milling",
        "500",
        "公差",
        "m8",
        "螺纹",
        "m:steel_q235",
        "支架",
    ]


def test_mixed_zh_en_sentence() -> None:
    tokens = tokenize("我们需要有IATF 16949认证的冲压件 supplier, 5-axis CNC machining centres in 苏州")
    assert "c:iatf_16949" in tokens
    assert "p:stamping" in tokens
    assert "p:milling_5axis" in tokens
    assert "p:milling" in tokens
    assert "supplier" in tokens
    assert "苏州" in tokens
    assert "的" not in tokens and "in" not in tokens


def test_one_word_for_two_terms_gives_both() -> None:
    # 锌合金压铸 is an alias of die casting and of zinc alloy
    assert sorted(tokenize("锌合金压铸")) == ["m:zinc_alloy", "p:die_casting"]


def test_tokenizer_is_shared_and_thread_safe() -> None:
    with ThreadPoolExecutor(4) as pool:
        made = list(pool.map(lambda _: tokenizer(), range(8)))
        results = list(pool.map(tokenize, ["五轴加工 激光切割 6061"] * 16))
    assert all(t is made[0] for t in made)
    assert all(r == ["p:milling_5axis", "p:laser_cutting", "m:aluminium_6061"] for r in results)


def test_bm25_worked_example() -> None:
    docs = [["a", "b"], ["a", "c", "c"], ["d"]]
    # N = 3, avgdl = 2, k1 = 1.5, b = 0.75; idf = ln(1 + (N − df + ½)/(df + ½))
    idf_a, idf_c = math.log(1 + 1.5 / 2.5), math.log(1 + 2.5 / 1.5)

    def tfc(tf: int, dl: int) -> float:
        return tf / (1.5 * (0.25 + 0.75 * dl / 2) + tf)

    expected = [idf_a * tfc(1, 2), idf_a * tfc(1, 3) + idf_c * tfc(2, 3), 0.0]
    index, ref = TextIndex(docs), ReferenceBM25(docs)
    query = ["a", "c", "a", "zzz"]  # repeated and unknown tokens count once / not at all
    assert index.scores(query) == pytest.approx(expected, rel=1e-12)
    assert [ref.score(query, i) for i in range(3)] == pytest.approx(expected, rel=1e-12)
    assert index.scores_bincount(query) == pytest.approx(expected, rel=1e-12)
    assert index.scores(["zzz"]).tolist() == [0.0, 0.0, 0.0]


def test_bm25_on_empty_corpus() -> None:
    assert TextIndex([]).scores(["a"]).shape == (0,)
    assert np.array_equal(TextIndex([[], []]).scores(["a"]), [0.0, 0.0])
