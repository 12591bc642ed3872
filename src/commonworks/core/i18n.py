"""Translations for the UI: Babel message catalogs (``locale/<lang>/LC_MESSAGES/messages.po``).

Message ids are English; ``zh_CN`` (the default) and ``en`` catalogs are read from the
``.po`` sources at first use and compiled in memory, so a checkout needs no build step.
"""

from __future__ import annotations

import gettext
import io
from functools import cache
from importlib import resources
from typing import Literal

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

Language = Literal["zh_CN", "en"]
LANGUAGES: dict[str, str] = {"zh_CN": "中文", "en": "English"}
DEFAULT_LANGUAGE: Language = "zh_CN"


def catalog_path(lang: str) -> str:
    return f"locale/{lang}/LC_MESSAGES/messages.po"


@cache
def translations(lang: str) -> gettext.NullTranslations:
    """The compiled catalog for ``lang`` (an unknown language falls back to the message ids)."""
    if lang not in LANGUAGES:
        return gettext.NullTranslations()
    source = resources.files("commonworks").joinpath(catalog_path(lang))
    with source.open("rb") as fp:
        catalog = read_po(fp, locale=lang)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return gettext.GNUTranslations(buffer)


def gettext_for(lang: str):  # type: ignore[no-untyped-def]
    """A ``_`` function for one language."""
    return translations(lang).gettext
