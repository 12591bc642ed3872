"""Text for matching: a tokenizer for mixed Chinese/English industrial text, and BM25 over it.

Tokenizing (:func:`tokenize`):

1. NFKC (full-width ``ＣＮＣ，`` becomes ``CNC,``) and lower case.
2. Chinese runs are segmented by jieba, whose dictionary gets the taxonomy's domain words
   (``taxonomy().user_words()``) once, so ``五轴加工`` and ``激光切割`` stay whole; Latin runs are
   words and codes (``6061``, ``6061-t6``, ``q235``, ``m8``, ``45#``, ``ti-6al-4v``).
3. Synonym expansion through the taxonomy: every way a process, material or certification is
   written (zh and en names, aliases) becomes one canonical token — ``加工中心``, ``CNC铣`` and
   ``milling`` all give ``p:milling``; ``304``, ``SUS304`` and ``304 不锈钢`` give ``m:stainless_304``.
   Multi-token names (``machining centre``, ``3D打印`` = ``3d`` + ``打印``) are matched longest first
   over the token stream, so ``stainless steel`` is stainless, not steel.
4. What is left is dropped when it carries no meaning for matching: stop words (bm25s' Chinese
   and English lists), punctuation, single Chinese characters, numbers shorter than three digits,
   decimals and measurements (``0.02``, ``500mm``). Integers of three or more digits are kept:
   they are part numbers and grades.

BM25 (:class:`TextIndex`): the Lucene variant as bm25s builds it (``idf = ln(1 + (N − df + ½)/(df + ½))``,
``tf / (tf + k1·(1 − b + b·|d|/avgdl))``, k1 = 1.5, b = 0.75), precomputed per (token, document) at build
time; a query is scored by bm25s' ``get_scores_from_ids`` over every document. ``bench/matching.py`` measures
it against one ``np.bincount`` over the same postings and against scoring only the candidate documents through
a doc-major scipy CSR matrix: at 100k enterprises (median ~2k candidates) bm25s' scoring was the fastest of
the three, so the index uses it unchanged. :class:`ReferenceBM25` computes the same formula in plain Python,
for the exhaustive reference matcher and the tests.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from commonworks.network.taxonomy import Taxonomy, taxonomy

K1 = 1.5
B = 0.75

# Canonical token prefixes: p: process, m: material, c: certification (``p:milling``).
PROCESS, MATERIAL, CERTIFICATION = "p", "m", "c"

_RUNS = re.compile(r"(?P<han>[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)|(?P<lat>[a-z0-9]+(?:[-.][a-z0-9]+)*#?)")
# Clause boundaries after NFKC (full-width punctuation is half-width by then); a phrase never spans one.
_CLAUSES = re.compile(r"[,;:!?、。()\[\]{}<>\n\r\t\"“”‘’《》【】]+|\.(?=\s|$)")
_INTEGER = re.compile(r"\d+")
_MEASURE = re.compile(r"\d+(?:\.\d+)?(?:mm|cm|um|μm|µm|m|kg|g|t|h|hrs?|pcs|kw|mpa|hrc|°c)?")
# Units on their own ("±0.01 mm", "500 pcs"): no meaning for matching.
_UNITS = frozenset({"mm", "cm", "um", "μm", "µm", "kg", "pcs", "hrs", "hr", "kw", "mpa", "hrc", "ra"})
_HAN_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def term_token(kind: str, code: str) -> str:
    """The canonical token of a taxonomy term: ``term_token('p', 'milling') == 'p:milling'``."""
    return f"{kind}:{code}"


@dataclass(frozen=True)
class _Lexicon:
    phrases: dict[tuple[str, ...], tuple[str, ...]]  # raw token sequence (2+ tokens) → canonical tokens
    starts: dict[str, tuple[int, ...]]  # first token of a multi-token phrase → its lengths, longest first
    single: dict[str, tuple[str, ...]]  # one raw token → canonical tokens
    known: frozenset[str]  # every raw token of some name (for the plural rule)
    stop: frozenset[str]


class Tokenizer:
    """jieba with the taxonomy's user dictionary, plus the taxonomy's synonyms.

    Build one per taxonomy (loading jieba's dictionary takes about a second); :func:`tokenizer`
    returns the shared one for the shipped taxonomy. ``tokens()`` is safe to call from several
    threads once built.
    """

    def __init__(self, tax: Taxonomy | None = None, *, cache_size: int = 1 << 17) -> None:
        import jieba  # imported here: it is slow to import and only matching needs it

        jieba.setLogLevel(logging.WARNING)
        self.taxonomy = tax or taxonomy()
        self._jieba = jieba.Tokenizer()
        self._jieba.initialize()
        for word in self.taxonomy.user_words():
            self._jieba.add_word(word.lower())
        self._segment = lru_cache(maxsize=cache_size)(self._segment_uncached)
        self._clause = lru_cache(maxsize=cache_size)(self._clause_uncached)
        self._kept: dict[str, bool] = {}  # memo of _keep (dict reads and writes are atomic under the GIL)
        self._lexicon: _Lexicon | None = None
        self._lexicon = self._build_lexicon()

    # -- raw tokens --------------------------------------------------------------------------
    # Chinese runs and whole clauses repeat a lot (company descriptions share their phrases):
    # their tokens are cached (LRU, ``cache_size`` entries each).
    def _segment_uncached(self, run: str) -> tuple[str, ...]:
        return tuple(w for w in self._jieba.cut(run, HMM=False) if w.strip())

    def raw_tokens(self, text: str) -> list[str]:
        """Words and codes before synonym expansion and filtering (normalised, lower case)."""
        text = unicodedata.normalize("NFKC", text).lower()
        out: list[str] = []
        for m in _RUNS.finditer(text):
            han = m.group("han")
            if han is not None:
                out.extend(self._segment(han))
            else:
                out.append(self._singular(m.group("lat")))
        return out

    # -- the synonym lexicon -----------------------------------------------------------------
    def _build_lexicon(self) -> _Lexicon:
        import bm25s.stopwords

        tax = self.taxonomy
        phrases: dict[tuple[str, ...], list[str]] = {}  # raw_tokens() has no plural rule yet (no lexicon)

        def add(text: str, token: str) -> None:
            key = tuple(self.raw_tokens(text))
            if key and token not in phrases.setdefault(key, []):
                phrases[key].append(token)

        for kind, table in ((PROCESS, tax.processes), (MATERIAL, tax.materials)):
            for code, term in table.items():
                for word in (*term.words(), code.replace("_", " ")):
                    add(word, term_token(kind, code))
        for code, cert in tax.certifications.items():
            for word in (cert.name, cert.name.replace(" ", ""), cert.zh, cert.en, code.replace("_", " ")):
                add(word, term_token(CERTIFICATION, code))
        known = frozenset(t for key in phrases for t in key)
        stop = frozenset(bm25s.stopwords.STOPWORDS_CHINESE) | frozenset(bm25s.stopwords.STOPWORDS_EN_PLUS)
        starts: dict[str, set[int]] = {}
        for key in phrases:
            if len(key) > 1:
                starts.setdefault(key[0], set()).add(len(key))
        return _Lexicon(
            phrases={k: tuple(v) for k, v in phrases.items() if len(k) > 1},
            starts={k: tuple(sorted(v, reverse=True)) for k, v in starts.items()},
            single={k[0]: tuple(v) for k, v in phrases.items() if len(k) == 1},
            known=known,
            stop=stop,  # phrases are matched before stop words are dropped
        )

    # -- tokens --------------------------------------------------------------------------------
    def tokens(self, text: str) -> list[str]:
        """The tokens BM25 sees: canonical taxonomy tokens and the meaningful remaining words."""
        text = unicodedata.normalize("NFKC", text).lower()
        out: list[str] = []
        for clause in _CLAUSES.split(text):
            if clause and not clause.isspace():
                out.extend(self._clause(clause))
        return out

    def _clause_uncached(self, clause: str) -> tuple[str, ...]:
        lex = self._lexicon
        assert lex is not None
        phrases, starts, single, keep = lex.phrases, lex.starts, lex.single, self._kept
        raw = self.raw_tokens(clause)
        out: list[str] = []
        i, n = 0, len(raw)
        while i < n:
            word = raw[i]
            lengths = starts.get(word)
            if lengths is not None:
                for length in lengths:  # longest phrase first
                    if i + length <= n and (canonical := phrases.get(tuple(raw[i : i + length]))) is not None:
                        out.extend(canonical)
                        i += length
                        break
                else:
                    lengths = None
                if lengths is not None:
                    continue
            i += 1
            canonical = single.get(word)
            if canonical is not None:
                out.extend(canonical)
            else:
                kept = keep.get(word)
                if kept is None:
                    kept = keep[word] = self._keep(word)
                if kept:
                    out.append(word)
        return tuple(out)

    def _singular(self, word: str) -> str:
        """``centres`` → ``centre`` when only the singular is a taxonomy word (5+ letters: ``pcs`` stays)."""
        lex = self._lexicon
        if lex is None or len(word) < 5 or not word.endswith("s") or word in lex.known or not word.isalpha():
            return word
        if word[:-1] in lex.known:
            return word[:-1]
        if word.endswith("es") and word[:-2] in lex.known:
            return word[:-2]
        return word

    def _keep(self, word: str) -> bool:
        assert self._lexicon is not None
        if word in self._lexicon.stop or word in _UNITS:
            return False
        if _HAN_CHAR.match(word):
            return len(word) > 1
        if _INTEGER.fullmatch(word):
            return len(word) >= 3
        if _MEASURE.fullmatch(word):
            return False
        return any(ch.isalnum() for ch in word)

    def canonical(self, text: str) -> tuple[str, ...]:
        """The canonical tokens one word or name stands for (``'加工中心'`` → ``('p:milling',)``)."""
        return tuple(t for t in self.tokens(text) if ":" in t)


_LOCK = threading.Lock()
_DEFAULT: Tokenizer | None = None


def tokenizer() -> Tokenizer:
    """The shared tokenizer for the shipped taxonomy, built on first use (thread-safe)."""
    global _DEFAULT
    if _DEFAULT is None:
        with _LOCK:
            if _DEFAULT is None:
                _DEFAULT = Tokenizer()
    return _DEFAULT


def tokenize(text: str) -> list[str]:
    """Tokens of mixed zh/en text (see the module docstring)."""
    return tokenizer().tokens(text)


def unique(tokens: Iterable[str]) -> list[str]:
    """Distinct tokens in first-seen order (a query counts each token once)."""
    return list(dict.fromkeys(tokens))


# ---------------------------------------------------------------------------------------- BM25


class TextIndex:
    """BM25 (Lucene) over a fixed list of tokenised documents; scores every document for a query."""

    def __init__(self, documents: Sequence[Sequence[str]], *, k1: float = K1, b: float = B) -> None:
        import bm25s

        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self.n_docs = len(documents)
        self.k1, self.b = k1, b
        if not any(documents):  # nothing to index: every query scores 0
            self.vocab: dict[str, int] = {}
            self._data = np.zeros(0)
            self._indices = np.zeros(0, dtype=np.int32)
            self._indptr = np.zeros(1, dtype=np.int64)
            return
        # bm25s needs at least one token somewhere; an empty document scores 0 for every query.
        docs = [list(d) for d in documents]
        retriever = bm25s.BM25(k1=k1, b=b, method="lucene", dtype="float64", int_dtype="int32")
        retriever.index(docs, show_progress=False)
        self._retriever = retriever
        self.vocab = retriever.vocab_dict
        self._data = np.asarray(retriever.scores["data"], dtype=np.float64)
        self._indices = np.asarray(retriever.scores["indices"], dtype=np.int32)
        self._indptr = np.asarray(retriever.scores["indptr"], dtype=np.int64)

    def token_ids(self, query: Iterable[str]) -> list[int]:
        return [self.vocab[t] for t in unique(query) if t and t in self.vocab]

    def scores(self, query: Iterable[str]) -> np.ndarray:
        """BM25 score of every document (float64, shape ``(n_docs,)``) for the distinct query tokens.

        bm25s' ``get_scores_from_ids``: it adds each query token's postings (``np.add.at``) in query order.
        """
        ids = self.token_ids(query)
        if not ids:
            return np.zeros(self.n_docs)
        return np.asarray(self._retriever.get_scores_from_ids(ids), dtype=np.float64)

    def scores_bincount(self, query: Iterable[str]) -> np.ndarray:
        """The same scores by one ``np.bincount`` over the concatenated postings (the benchmark compares)."""
        ids = self.token_ids(query)
        if not ids:
            return np.zeros(self.n_docs)
        docs = np.concatenate([self._indices[self._indptr[i] : self._indptr[i + 1]] for i in ids])
        weights = np.concatenate([self._data[self._indptr[i] : self._indptr[i + 1]] for i in ids])
        return np.bincount(docs, weights=weights, minlength=self.n_docs)

    def postings(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """bm25s' precomputed scores, token-major (CSC): ``(data, doc indices, indptr per token id)``."""
        return self._data, self._indices, self._indptr

    @property
    def nbytes(self) -> int:
        return int(self._data.nbytes + self._indices.nbytes + self._indptr.nbytes)


class ReferenceBM25:
    """The same BM25 in plain Python (dicts and ``math``): the reference the index is checked against."""

    def __init__(self, documents: Sequence[Sequence[str]], *, k1: float = K1, b: float = B) -> None:
        self.documents = documents
        self.k1, self.b = k1, b
        self.n_docs = len(documents)
        self.df: Counter[str] = Counter()
        total = 0
        for doc in documents:
            self.df.update(set(doc))
            total += len(doc)
        self.avgdl = total / self.n_docs if self.n_docs else 0.0

    def idf(self, token: str) -> float:
        df = self.df.get(token, 0)
        return math.log(1 + (self.n_docs - df + 0.5) / (df + 0.5))

    def score(self, query: Iterable[str], doc: int) -> float:
        tokens = self.documents[doc]
        counts = Counter(tokens)
        norm = self.k1 * ((1 - self.b) + self.b * len(tokens) / self.avgdl) if self.avgdl else 0.0
        total = 0.0
        for token in unique(query):
            tf = counts.get(token, 0)
            if tf and self.df.get(token):
                total += self.idf(token) * (tf / (norm + tf))
        return total
