"""Crisis-language matching in patient free text (CLINICAL.md §5); pure, standard library only.

A hit raises at least moderate and asks a human to read the message. Keyword lists miss a lot:
a miss never lowers risk, and the absence of a match is never evidence that a patient is safe.

Tolerated: case; accents (NFKD); stretched letters ("suiiicide"; words of three letters or fewer
need three repeats, so "odd" is not "od"); leetspeak ("su1c1de"), while digits inside a term
match literally ("800mg", "800 mg"); any punctuation between the words of a term, or up to
MAX_GAP intervening words within one sentence; one typo (Damerau, never in the first letter) and
up to MAX_SUFFIX trailing letters in words of FUZZY_MIN letters or more ("sucide", "overdosed").
Words match whole words only ("od" never matches "good"). Terms with no letter or digit match
anywhere if they hold a symbol (emoji), with or without variation selectors; others are ignored.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

MAX_GAP = 3  # intervening words allowed between two words of a term, within one sentence
MAX_SUFFIX = 3  # trailing letters tolerated on a long word ("overdosed", "overdosing")
FUZZY_MIN = 6  # letters a term word needs before typos and suffixes are tolerated
STRETCH_MIN = 4  # shorter term words need a run of three before a stretched letter counts

_TOKEN = re.compile(r"[\w@$]+")  # on folded text, where "_" is a space
_REPEAT = re.compile(r"(.)\1+")
_RUN = re.compile(r"(.)\1*")
_BREAK = re.compile(r"[!?;\n]|(?<!\.)\.(?!\.)")  # a sentence end; an ellipsis is not one
_JOIN = re.compile(r"[\s\-]*")
_SELECTORS = str.maketrans("", "", "\ufe0e\ufe0f")
_APOSTROPHES = str.maketrans("", "", "'’ʼ`")
_LEET = str.maketrans("013457@$", "oieastas")
_LEET_L = str.maketrans("013457@$", "oleastas")

Occurrences = dict[int, dict[int, int]]  # word id -> {first token index: last token index}


def _fold(text: str) -> str:
    """Casefold, decompose (NFKD) and drop combining marks."""
    if text.isascii():
        return text.lower().replace("_", " ")
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
    marks = [ord(ch) for ch in set(text) if unicodedata.combining(ch)]
    return (text.translate(dict.fromkeys(marks)) if marks else text).replace("_", " ")


def _runs(word: str) -> tuple[int, ...]:
    """The lengths of the runs of repeated characters in `word`."""
    return tuple(len(run.group()) for run in _RUN.finditer(word))


def _stretched(have: tuple[int, ...], want: tuple[int, ...], length: int) -> bool:
    """Whether runs `have` stretch the runs `want` of a term word of `length` characters."""
    return all(
        h == w or (h > w and (length >= STRETCH_MIN or h >= 3))
        for h, w in zip(have, want, strict=True)
    )


def _one_edit(a: str, b: str) -> bool:
    """Whether the optimal-string-alignment (Damerau) distance between a and b is at most one."""
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) < len(b):
        return a[i:] == b[i + 1 :]
    swapped = a[i : i + 2] == b[i + 1 : i + 2] + b[i : i + 1] and a[i + 2 :] == b[i + 2 :]
    return a[i + 1 :] == b[i + 1 :] or swapped


def _near(word: str, target: str, letters: frozenset[str]) -> bool:
    """Whether `word`, less up to MAX_SUFFIX trailing letters, is within one edit of `target`."""
    if not len(target) - 1 <= len(word) <= len(target) + 1 + MAX_SUFFIX:
        return False
    if len(letters.difference(word)) > 1:  # cheap filter: one edit loses at most one letter
        return False
    return any(_one_edit(word[: len(word) - cut], target) for cut in range(MAX_SUFFIX + 1))


class CrisisMatcher:
    """A clinic's crisis terms, compiled once; `find` reports which occur in a message."""

    def __init__(self, terms: Sequence[str]) -> None:
        self._terms = tuple(dict.fromkeys(terms))
        self._symbols: list[tuple[str, str]] = []
        self._phrases: list[tuple[str, list[tuple[int, ...]]]] = []
        self._ids: dict[str, int] = {}
        self._literal: dict[str, int] = {}
        self._stretch: dict[str, list[tuple[int, str, tuple[int, ...]]]] = {}
        self._fuzzy: dict[str, list[tuple[int, str, frozenset[str]]]] = {}
        for term in self._terms:
            folded = _fold(term)
            words = _TOKEN.findall(folded)
            if not words:
                key = term.translate(_SELECTORS).strip()
                if any(unicodedata.category(ch) == "So" for ch in key):  # emoji, not "-"
                    self._symbols.append((term, key))
                continue
            forms = [words, _TOKEN.findall(folded.translate(_APOSTROPHES))]
            if len(words) > 1:
                forms.append(["".join(words)])
            alternatives = [tuple(self._word_id(word) for word in form) for form in forms]
            self._phrases.append((term, list(dict.fromkeys(alternatives))))

    def _word_id(self, word: str) -> int:
        """Register one term word (literal if it has digits, else fuzzy) and return its id."""
        if word in self._ids:
            return self._ids[word]
        wid = self._ids[word] = len(self._ids)
        if any(ch.isdigit() for ch in word):
            self._literal[word] = wid
            return wid
        word = word.translate(_LEET)
        collapsed = _REPEAT.sub(r"\1", word)
        self._stretch.setdefault(collapsed, []).append((wid, word, _runs(word)))
        if len(word) >= FUZZY_MIN:
            target = (wid, collapsed, frozenset(collapsed))
            self._fuzzy.setdefault(collapsed[0], []).append(target)
        return wid

    def _match(self, token: str) -> set[int]:
        """The ids of the term words that one text token matches."""
        ids = {self._literal[token]} if token in self._literal else set()
        candidates = {token}
        if not token.isalpha():
            candidates = {token.translate(_LEET), token.strip("@$").translate(_LEET)}
            if "1" in token:
                candidates.add(token.translate(_LEET_L))
        for candidate in filter(None, candidates):
            unique = len(set(candidate)) == len(candidate)
            collapsed = candidate if unique else _REPEAT.sub(r"\1", candidate)
            for wid, word, runs in self._stretch.get(collapsed, ()):
                if candidate == word or _stretched(_runs(candidate), runs, len(word)):
                    ids.add(wid)
            for wid, target, letters in self._fuzzy.get(collapsed[0], ()):
                if _near(collapsed, target, letters):
                    ids.add(wid)
        return ids

    def _occurrences(self, norm: str, spans: list[tuple[int, int]]) -> Occurrences:
        """Where each term word occurs, by token index (a digit run may join the next token)."""
        occ: Occurrences = {}
        seen: dict[str, set[int]] = {}
        for i, (start, end) in enumerate(spans):
            token = norm[start:end]
            if token not in seen:
                seen[token] = self._match(token)
            for wid in seen[token]:
                occ.setdefault(wid, {})[i] = i
            if self._literal and token.isdigit() and i + 1 < len(spans):
                after = spans[i + 1]
                wid_joined = self._literal.get(token + norm[after[0] : after[1]])
                if wid_joined is not None and _JOIN.fullmatch(norm, end, after[0]):
                    occ.setdefault(wid_joined, {})[i] = i + 1
        return occ

    @staticmethod
    def _chain(
        words: tuple[int, ...], occ: Occurrences, norm: str, spans: list[tuple[int, int]]
    ) -> bool:
        """Whether the words occur in order, each within MAX_GAP words of the one before."""
        if not all(wid in occ for wid in words):
            return False
        ends = set(occ[words[0]].values())
        for wid in words[1:]:
            starts = occ[wid]
            ends = {
                starts[start]
                for end in ends
                for start in range(end + 1, end + 2 + MAX_GAP)
                if start in starts
                and (start == end + 1 or not _BREAK.search(norm, spans[end][1], spans[start][0]))
            }
            if not ends:
                return False
        return bool(ends)

    def find(self, text: str) -> list[str]:
        """The configured terms that occur in `text`, in configuration order, once each."""
        if not text:
            return []
        hits: set[str] = set()
        if self._symbols:
            raw = text.translate(_SELECTORS)
            hits.update(term for term, key in self._symbols if key in raw)
        if self._phrases:
            norm = _fold(text)
            spans = [match.span() for match in _TOKEN.finditer(norm)]
            occ = self._occurrences(norm, spans)
            for term, alternatives in self._phrases:
                if any(self._chain(words, occ, norm, spans) for words in alternatives):
                    hits.add(term)
        return [term for term in self._terms if term in hits]
