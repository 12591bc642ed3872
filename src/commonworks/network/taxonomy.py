"""The open process taxonomy (processes under DIN 8580's six main groups, materials, certifications).

Shipped as data in ``data/taxonomy.yaml``; this module loads and checks it once and answers
the questions matching asks:

>>> t = taxonomy()
>>> t.covers("milling_5axis", "milling")    # a 5-axis shop can do a plain milling job
True
>>> t.covers("milling", "milling_5axis")    # … but not the other way round
False
>>> t.group_of("milling_5axis")
'separating'
>>> t.material_covers("aluminium", "aluminium_6061")
True
>>> t.name("turning", "zh")
'车削'
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import yaml


class TaxonomyError(ValueError):
    """The shipped taxonomy data is inconsistent (a packaging bug, caught by the tests)."""


@dataclass(frozen=True, slots=True)
class Term:
    code: str
    zh: str
    en: str
    parent: str | None = None
    group: str | None = None
    aliases: tuple[str, ...] = ()

    def name(self, locale: str) -> str:
        return self.zh if locale.lower().startswith("zh") else self.en

    def words(self) -> tuple[str, ...]:
        """Every way users write this term: both names and the aliases."""
        return (self.zh, self.en, *self.aliases)


@dataclass(frozen=True, slots=True)
class Certification:
    code: str
    name: str
    zh: str
    en: str


@dataclass(frozen=True, slots=True)
class Finish:
    code: str
    ra_um: float
    zh: str
    en: str


@dataclass(frozen=True)
class Taxonomy:
    groups: dict[str, Term]
    processes: dict[str, Term]
    materials: dict[str, Term]
    certifications: dict[str, Certification]
    finishes: dict[str, Finish]
    _process_ancestors: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)
    _material_ancestors: dict[str, tuple[str, ...]] = field(default_factory=dict, repr=False)

    # -- processes -------------------------------------------------------------------------
    def process_lineage(self, code: str) -> tuple[str, ...]:
        """The process and its ancestors, nearest first (``('milling_5axis', 'milling')``)."""
        return self._process_ancestors[code]

    def covers(self, offered: str, demanded: str) -> bool:
        """Can a supplier offering ``offered`` do a job asking for ``demanded``?"""
        lineage = self._process_ancestors.get(offered)
        return lineage is not None and demanded in lineage

    def group_of(self, process: str) -> str:
        root = self._process_ancestors[process][-1]
        group = self.processes[root].group
        assert group is not None
        return group

    def processes_in(self, group: str) -> list[str]:
        return [code for code in self.processes if self.group_of(code) == group]

    # -- materials -------------------------------------------------------------------------
    def material_lineage(self, code: str) -> tuple[str, ...]:
        return self._material_ancestors[code]

    def material_covers(self, offered: str, demanded: str) -> bool:
        """A supplier working ``offered`` (a grade or a whole family) can work ``demanded``."""
        lineage = self._material_ancestors.get(demanded)
        return lineage is not None and offered in lineage

    # -- names and words -------------------------------------------------------------------
    def name(self, code: str, locale: str = "en") -> str:
        for table in (self.processes, self.materials, self.groups):
            if code in table:
                return table[code].name(locale)
        if code in self.certifications:
            return self.certifications[code].name
        if code in self.finishes:
            finish = self.finishes[code]
            return finish.zh if locale.lower().startswith("zh") else finish.en
        raise KeyError(code)

    def terms(self) -> Iterator[Term]:
        yield from self.processes.values()
        yield from self.materials.values()

    def user_words(self) -> list[str]:
        """Domain words for the Chinese segmenter's user dictionary (jieba ``add_word``)."""
        words: set[str] = set()
        for term in self.terms():
            words.update(w for w in term.words() if _is_chinese_word(w))
        words.update(cert.zh for cert in self.certifications.values() if _is_chinese_word(cert.zh))
        return sorted(words)

    def finish_ok(self, best_offered_ra_um: float | None, demanded_ra_um: float | None) -> bool:
        """A supplier whose best finish is Ra 0.8 can deliver Ra 1.6 (smaller Ra is finer)."""
        if demanded_ra_um is None:
            return True
        return best_offered_ra_um is not None and best_offered_ra_um <= demanded_ra_um + 1e-9


def _is_chinese_word(text: str) -> bool:
    """One segmentable word with Chinese in it (jieba's dictionary takes no spaces)."""
    return not any(ch.isspace() for ch in text) and any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _terms(rows: Iterable[dict], kind: str) -> dict[str, Term]:
    out: dict[str, Term] = {}
    for row in rows:
        code = row["code"]
        if code in out:
            raise TaxonomyError(f"{kind} {code!r} is listed twice")
        out[code] = Term(
            code=code,
            zh=str(row["zh"]),
            en=str(row["en"]),
            parent=row.get("parent"),
            group=row.get("group"),
            aliases=tuple(str(a) for a in row.get("aliases", ())),
        )
    return out


def _lineages(terms: dict[str, Term], kind: str) -> dict[str, tuple[str, ...]]:
    lineages: dict[str, tuple[str, ...]] = {}
    for code in terms:
        chain = [code]
        while (parent := terms[chain[-1]].parent) is not None:
            if parent not in terms:
                raise TaxonomyError(f"{kind} {chain[-1]!r} has an unknown parent {parent!r}")
            if parent in chain:
                raise TaxonomyError(f"{kind} {code!r} is its own ancestor")
            chain.append(parent)
        lineages[code] = tuple(chain)
    return lineages


def parse(document: dict) -> Taxonomy:
    groups = _terms(document["groups"], "group")
    processes = _terms(document["processes"], "process")
    materials = _terms(document["materials"], "material")
    process_lineages = _lineages(processes, "process")
    for code, lineage in process_lineages.items():
        root = processes[lineage[-1]]
        if root.group not in groups:
            raise TaxonomyError(f"process {code!r} is not under one of the six main groups (root {root.code!r})")
    certifications = {row["code"]: Certification(**row) for row in document["certifications"]}
    finishes = {row["code"]: Finish(**row) for row in document["finishes"]}
    return Taxonomy(
        groups=groups,
        processes=processes,
        materials=materials,
        certifications=certifications,
        finishes=finishes,
        _process_ancestors=process_lineages,
        _material_ancestors=_lineages(materials, "material"),
    )


@cache
def taxonomy() -> Taxonomy:
    text = resources.files("commonworks.network").joinpath("data/taxonomy.yaml").read_text("utf-8")
    return parse(yaml.safe_load(text))
