"""The UI catalogs cover every message in the source, and zh_CN translates all of them.

Messages are extracted from the source with Babel's API (the same ``babel.cfg`` that
``pybabel extract`` uses), so a new ``_("…")`` without a translation fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from commonworks.core.i18n import LANGUAGES, gettext_for

ROOT = Path(__file__).resolve().parents[2]
LOCALE = ROOT / "src" / "commonworks" / "locale"
PLACEHOLDER = re.compile(r"\{(\w*)[^{}]*\}")

Key = tuple[str | None, str]  # (context, msgid)


def _source_messages() -> dict[Key, str]:
    """Every message id in the source, with where it was found."""
    with (ROOT / "babel.cfg").open() as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    found: dict[Key, str] = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
            str(ROOT / "src"), method_map, options_map):
        msgid = message if isinstance(message, str) else message[0]
        found.setdefault((context, msgid), f"{filename}:{lineno}")
    return found


def _catalog(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fp:
        return read_po(fp, locale=locale)


def _ids(catalog: Catalog) -> set[Key]:
    return {(m.context, m.id if isinstance(m.id, str) else m.id[0]) for m in catalog if m.id}


def test_source_has_messages() -> None:
    assert ("Log in" in {msgid for _, msgid in _source_messages()})


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_catalog_matches_source(lang: str) -> None:
    source = _source_messages()
    catalog = _catalog(LOCALE / lang / "LC_MESSAGES" / "messages.po", lang)
    missing = sorted(f"{msgid!r} ({where})" for (ctx, msgid), where in source.items()
                     if (ctx, msgid) not in _ids(catalog))
    stale = sorted(repr(msgid) for ctx, msgid in _ids(catalog) - set(source))
    assert not missing, f"not in the {lang} catalog (run the i18n update): {missing}"
    assert not stale, f"in the {lang} catalog but no longer in the source: {stale}"
    assert catalog.plural_forms, "the catalog header needs Plural-Forms"
    assert catalog.locale is not None and str(catalog.locale).startswith(lang.split("_")[0])


def test_template_matches_source() -> None:
    assert _ids(_catalog(LOCALE / "messages.pot")) == set(_source_messages())


def test_chinese_catalog_is_complete() -> None:
    catalog = _catalog(LOCALE / "zh_CN" / "LC_MESSAGES" / "messages.po", "zh_CN")
    problems = []
    for message in catalog:
        if not message.id:
            continue
        ids = [message.id] if isinstance(message.id, str) else list(message.id)
        strings = [message.string] if isinstance(message.string, str) else list(message.string)
        if message.fuzzy:
            problems.append(f"fuzzy: {ids[0]!r}")
        elif not all(s.strip() for s in strings):
            problems.append(f"untranslated: {ids[0]!r}")
        elif any(set(PLACEHOLDER.findall(s)) != set(PLACEHOLDER.findall(ids[0])) for s in strings):
            problems.append(f"placeholders differ: {ids[0]!r} → {strings!r}")
    assert not problems, "\n".join(problems)


def test_gettext_for_translates() -> None:
    zh, en = gettext_for("zh_CN"), gettext_for("en")
    assert zh("Log in") == "登录"
    assert zh("Network") == "共享制造"
    assert zh("Create value together, share it") == "共同创造价值，共同分享价值"
    assert en("Network") == "Network"
    wait = "Too many failed attempts. Try again in {seconds} seconds."
    assert "30" in zh(wait).format(seconds=30) and "秒" in zh(wait)
    assert gettext_for("fr")("Log in") == "Log in"
