"""Units of measure as UCUM case-sensitive codes (the Unified Code for Units of Measure).

A unit is valid when it parses as UCUM's term syntax — products ``.`` and quotients
``/`` of (optionally prefixed) atoms with integer exponents, ``1``, and ``{annotations}``
— over the atoms industrial telemetry uses. Examples: ``mm/min``, ``/min``, ``Cel``,
``kW.h``, ``bar``, ``%``, ``{count}``, ``m/s2``, ``N.m``, ``L/min``. Not covered: UCUM's
arbitrary units in square brackets beyond those listed and parenthesised sub-terms.

>>> check_unit('mm/min')
'mm/min'
"""

from __future__ import annotations

import re

# Atoms that take SI prefixes (metric) and those that do not.
METRIC = {"m", "g", "s", "L", "l", "K", "Cel", "Pa", "bar", "N", "J", "W", "V", "A", "Ohm", "Hz", "rad",
          "S", "C", "F", "T", "Wb", "H", "mol", "cd", "lm", "lx", "t", "eq", "VA", "var", "B"}
NON_METRIC = {"min", "h", "d", "wk", "mo", "a", "%", "deg", "[ppm]", "[ppb]", "[in_i]", "[ft_i]", "[lb_av]",
              "[psi]", "[degF]", "[rpm]", "[kn_i]"}
PREFIXES = ["da", "Y", "Z", "E", "P", "T", "G", "M", "k", "h", "d", "c", "m", "u", "n", "p", "f"]

_TOKEN = re.compile(r"(\{[^{}]*\})|([./])|([^./{}]+)")
_ATOM_EXP = re.compile(r"^(.*?)(-?\d+)?$")


class UnitError(ValueError):
    pass


def _check_simple(text: str) -> None:
    if text == "1" or re.fullmatch(r"10\*-?\d+|10\^-?\d+", text):
        return
    match = _ATOM_EXP.match(text)
    assert match is not None
    atom, _exp = match.groups()
    if atom in METRIC or atom in NON_METRIC:
        return
    for prefix in PREFIXES:
        if atom.startswith(prefix) and atom[len(prefix):] in METRIC:
            return
    raise UnitError(f"{text!r} is not a UCUM unit (e.g. mm/min, Cel, kW.h, bar, %, {{count}})")


def check_unit(value: str) -> str:
    """Return the unit when it is valid UCUM, else raise UnitError naming the bad part."""
    unit = value.strip()
    if not unit or len(unit) > 40:
        raise UnitError("a unit is a UCUM code of 1 to 40 characters; use 1 for dimensionless")
    pos = 0
    expect_term = True
    for m in _TOKEN.finditer(unit):
        if m.start() != pos:
            raise UnitError(f"cannot read unit {unit!r} at position {pos}")
        pos = m.end()
        annotation, operator, simple = m.groups()
        if operator:
            if expect_term and not (operator == "/" and m.start() == 0):
                raise UnitError(f"unit {unit!r}: '{operator}' needs a unit on its left")
            expect_term = True
            continue
        if simple:
            _check_simple(simple)
        expect_term = False
        _ = annotation
    if pos != len(unit) or expect_term:
        raise UnitError(f"unit {unit!r} is incomplete")
    return unit
