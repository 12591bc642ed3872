"""Chinese codes an enterprise is identified by, validated against their standards.

- 统一社会信用代码 (GB 32100-2015): 18 characters with a mod-31 check character;
  the arithmetic comes from python-stdnum (``stdnum.cn.uscc``).
- 行政区划代码 (GB/T 2260): 6 digits, looked up in the division table python-stdnum
  ships (``stdnum/cn/loc.dat``, which records abolished codes as ``[-2010]…``);
  an abolished code is rejected with the year it ended.
- 国民经济行业分类 (GB/T 4754-2017): a section letter (A–T) and/or a 2-digit division,
  optionally followed by the group and class digits (``C3411`` or ``3411``). Sections and
  all 97 divisions ship as data here; group and class digits are checked for shape only.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from stdnum import numdb
from stdnum.cn import uscc
from stdnum.exceptions import InvalidChecksum, InvalidFormat, InvalidLength, ValidationError


class CodeError(ValueError):
    """A code that does not satisfy its standard; the message says which rule."""


def normalize_credit_code(value: str) -> str:
    """Return the canonical 统一社会信用代码 or raise :class:`CodeError`.

    >>> normalize_credit_code(' 91110000600037341l ')
    '91110000600037341L'
    """
    code = value.strip().upper().replace(" ", "")
    try:
        return str(uscc.validate(code))
    except InvalidLength as exc:
        raise CodeError("a unified social credit code has 18 characters") from exc
    except InvalidChecksum as exc:
        raise CodeError("check character does not match GB 32100-2015") from exc
    except InvalidFormat as exc:
        raise CodeError("not a unified social credit code: letters I, O, S, V, Z are not used "
                        "and characters 3-8 must be a region code") from exc
    except ValidationError as exc:
        raise CodeError(f"invalid unified social credit code: {exc}") from exc


def credit_code_with_check(first17: str) -> str:
    """Complete 17 characters with their GB 32100-2015 check character."""
    return first17 + uscc.calc_check_digit(first17)


_PERIOD = re.compile(r"^\[(\d{4})?-(\d{4})?\](.*)$")


@dataclass(frozen=True)
class Region:
    code: str
    province: str
    name: str


@lru_cache(maxsize=1)
def _region_db() -> numdb.NumDB:
    return numdb.get("cn/loc")


def _current_name(raw: str) -> tuple[str | None, str | None]:
    """(current name, year abolished) from a loc.dat name with optional [from-to] periods."""
    ended: str | None = None
    for part in raw.split(","):
        match = _PERIOD.match(part.strip())
        if not match:
            return part.strip(), None
        _start, end, name = match.groups()
        if end is None:
            return name.strip(), None
        ended = end
    return None, ended


def lookup_region(value: str) -> Region:
    """Return the administrative division for a 6-digit GB/T 2260 code or raise CodeError.

    >>> lookup_region('340100').name
    '合肥市'
    """
    code = value.strip()
    if not re.fullmatch(r"\d{6}", code):
        raise CodeError("an administrative region code has 6 digits (GB/T 2260)")
    info = _region_db().info(code)
    if len(info) < 2 or "province" not in info[0][1] or "county" not in info[1][1]:
        raise CodeError(f"{code} is not an administrative region code in GB/T 2260")
    province, _ = _current_name(info[0][1]["province"])
    name, ended = _current_name(info[1][1]["county"])
    if name is None or province is None:
        raise CodeError(f"region code {code} was abolished in {ended}")
    return Region(code=code, province=province, name=name)


@dataclass(frozen=True)
class Industry:
    code: str
    section: str
    division: str | None
    name_zh: str
    name_en: str


@lru_cache(maxsize=1)
def _industries() -> dict[str, tuple[str, str, str]]:
    text = resources.files("commonworks.core").joinpath("data/gbt4754_2017_divisions.csv").read_text("utf-8")
    return {row["code"]: (row["section"] or row["code"], row["name_zh"], row["name_en"])
            for row in csv.DictReader(text.splitlines())}


def lookup_industry(value: str) -> Industry:
    """Normalise a GB/T 4754-2017 code (``C``, ``C34``, ``3411`` → ``C3411``) or raise CodeError.

    >>> lookup_industry('3411').code, lookup_industry('3411').name_zh
    ('C3411', '通用设备制造业')
    """
    raw = value.strip().upper()
    match = re.fullmatch(r"([A-T])?(\d{2,4})?", raw)
    if not raw or not match:
        raise CodeError("an industry code is a section letter A–T and/or 2 to 4 digits (GB/T 4754-2017)")
    letter, digits = match.groups()
    table = _industries()
    if digits is None:
        section, name_zh, name_en = table[letter]
        return Industry(code=letter, section=letter, division=None, name_zh=name_zh, name_en=name_en)
    division = digits[:2]
    if division not in table:
        raise CodeError(f"division {division} does not exist in GB/T 4754-2017")
    section, name_zh, name_en = table[division]
    if letter and letter != section:
        raise CodeError(f"division {division} belongs to section {section}, not {letter}")
    return Industry(code=section + digits, section=section, division=division, name_zh=name_zh, name_en=name_en)


def industry_divisions() -> list[Industry]:
    """Every section and division, in the standard's order (for pickers in the UI)."""
    out = []
    for code, (section, zh, en) in _industries().items():
        out.append(Industry(code=code if code.isalpha() else section + code, section=section,
                            division=None if code.isalpha() else code, name_zh=zh, name_en=en))
    return out
