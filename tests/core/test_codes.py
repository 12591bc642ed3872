"""Worked examples for the Chinese identification codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from commonworks.core import codes

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"


def test_credit_code_check_character_worked_example() -> None:
    # GB 32100-2015: weights 3^i mod 31 over the first 17 characters; a published code.
    assert codes.normalize_credit_code("91110000600037341L") == "91110000600037341L"
    assert codes.credit_code_with_check("91110000600037341") == "91110000600037341L"


def test_credit_code_is_normalised_to_upper_case_without_spaces() -> None:
    assert codes.normalize_credit_code(" 91110000600037341l ") == "91110000600037341L"


@pytest.mark.parametrize(("value", "reason"), [
    ("91110000600037341X", "check character"),
    ("9111000060003734", "18 characters"),
    ("91110000600037341O", "letters I, O, S, V, Z"),
])
def test_invalid_credit_codes_say_why(value: str, reason: str) -> None:
    with pytest.raises(codes.CodeError, match=reason):
        codes.normalize_credit_code(value)


@given(st.text(alphabet=ALPHABET, min_size=8, max_size=8), st.sampled_from(ALPHABET))
def test_a_single_changed_character_is_always_detected(tail: str, replacement: str) -> None:
    code = codes.credit_code_with_check("91340100" + tail + "1")
    for position in (0, 8, 12, 16):
        if code[position] == replacement:
            continue
        changed = code[:position] + replacement + code[position + 1:]
        with pytest.raises(codes.CodeError):
            codes.normalize_credit_code(changed)


def test_region_lookup_gives_province_and_current_name() -> None:
    hefei = codes.lookup_region("340100")
    assert (hefei.province, hefei.name) == ("安徽省", "合肥市")
    # 340104 was 西市区 until 2001 and is 蜀山区 since 2002.
    assert codes.lookup_region("340104").name == "蜀山区"


@pytest.mark.parametrize(("value", "reason"), [
    ("34010", "6 digits"),
    ("999999", "not an administrative region code"),
    ("110103", "abolished in 2010"),  # 崇文区 merged into 东城区
])
def test_invalid_region_codes_say_why(value: str, reason: str) -> None:
    with pytest.raises(codes.CodeError, match=reason):
        codes.lookup_region(value)


@pytest.mark.parametrize(("value", "code", "name_zh"), [
    ("C", "C", "制造业"),
    ("34", "C34", "通用设备制造业"),
    ("c3484", "C3484", "通用设备制造业"),
    ("2929", "C2929", "橡胶和塑料制品业"),
    ("S92", "S92", "国家机构"),
])
def test_industry_codes_are_normalised_with_their_section(value: str, code: str, name_zh: str) -> None:
    industry = codes.lookup_industry(value)
    assert (industry.code, industry.name_zh) == (code, name_zh)


@pytest.mark.parametrize(("value", "reason"), [
    ("A34", "belongs to section C"),
    ("99", "does not exist"),
    ("Z", "section letter"),
    ("C34567", "section letter"),
])
def test_invalid_industry_codes_say_why(value: str, reason: str) -> None:
    with pytest.raises(codes.CodeError, match=reason):
        codes.lookup_industry(value)


def test_industry_table_has_20_sections_and_97_divisions() -> None:
    entries = codes.industry_divisions()
    assert sum(e.division is None for e in entries) == 20
    assert [e.division for e in entries if e.division] == [f"{i:02d}" for i in range(1, 98)]
