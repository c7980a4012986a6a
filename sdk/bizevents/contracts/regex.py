"""Inclusion of JSON Schema `pattern` languages, decided on automata (pure, bounded).

A `pattern` accepts a string when the regex matches *somewhere* in it (unanchored search). The
payload validators disagree on details: Python's `re` lets `$` match before a final newline and
reads `\\d`, `\\w`, `\\s` as Unicode classes; ECMA-262 and the Rust validator read `$` as the end
and (for ECMA) the classes as ASCII. So a pattern is parsed here, within the subset where the
dialects agree on structure, and turned into automata (interegular):

- the *wide* language (for the side whose payloads must fit): each class as its widest reading;
- the *narrow* language (for the side they must fit into): each class as its narrowest reading;

once with `$` as "end" and once with `$` as "end, or a final newline then end". Inclusion is
claimed only when wide(sub) ⊆ narrow(sup) under both readings of `$`. Anything outside the
subset (lookaround, backreferences, flags, `\\b`, possessive quantifiers, ...) raises
Unsupported; automata that grow past a step budget raise TooComplex: both mean "cannot prove".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

MAX_PATTERN = 1000  # characters
MAX_REPEAT = 1000  # largest {n,m} bound accepted
MAX_STEPS = 200_000  # automaton transitions computed per question
MAX_SECONDS = 0.5  # and a wall-clock bound on top, in case a step is slow
MAX_LENGTH_AUTOMATON = 256  # longer length bounds are widened away on the sub side
TOP = 0x10FFFF

Ranges = tuple[tuple[int, int], ...]


class Unsupported(ValueError):
    """The pattern uses a construct this module does not decide."""


class TooComplex(ValueError):
    """The automata grew past the step budget."""


# -- character sets --------------------------------------------------------------------------
def norm(ranges: list[tuple[int, int]]) -> Ranges:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(r for r in ranges if r[0] <= r[1]):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return tuple(out)


def complement(ranges: Ranges) -> Ranges:
    out, start = [], 0
    for lo, hi in ranges:
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= TOP:
        out.append((start, TOP))
    return tuple(out)


def chars(text: str) -> list[tuple[int, int]]:
    return [(ord(c), ord(c)) for c in text]


NON_ASCII = (0x80, TOP)
DIGIT = [(0x30, 0x39)]
WORD = [(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)]
SPACE = [(0x09, 0x0D), (0x20, 0x20)]
# (narrow, wide): what every validator accepts / what some validator may accept.
NAMED: dict[str, tuple[Ranges, Ranges]] = {
    "d": (norm(DIGIT), norm([*DIGIT, NON_ASCII])),
    "w": (norm(WORD), norm([*WORD, NON_ASCII])),
    "s": (norm(SPACE), norm([*SPACE, (0x1C, 0x1F), NON_ASCII])),
}
DOT = (complement(norm(chars("\n\r\u2028\u2029"))), complement(norm(chars("\n"))))
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v"}


@dataclass(frozen=True)
class CharSet:
    """A class whose narrow and wide readings differ (or not)."""

    narrow: Ranges
    wide: Ranges

    def pick(self, wide: bool) -> Ranges:
        return self.wide if wide else self.narrow


def named(letter: str) -> CharSet:
    narrow, wide = NAMED[letter.lower()]
    if letter.isupper():  # \D: the complement, so the widest \D is "not the narrowest \d"
        return CharSet(complement(wide), complement(narrow))
    return CharSet(narrow, wide)


# -- parsing -----------------------------------------------------------------------------------
# Node: ("set", CharSet) | ("alt", tuple[seq, ...]) ; seq: tuple[(node, min, max|None), ...]
Node = tuple[str, Any]
Item = tuple[Node, int, int | None]


@dataclass(frozen=True)
class Parsed:
    """Top-level alternatives: (anchored at start, items, anchored at end)."""

    branches: tuple[tuple[bool, tuple[Item, ...], bool], ...]


class Parser:
    def __init__(self, pattern: str) -> None:
        if len(pattern) > MAX_PATTERN:
            raise Unsupported(f"pattern longer than {MAX_PATTERN} characters")
        self.p = pattern
        self.i = 0

    def peek(self) -> str:
        return self.p[self.i] if self.i < len(self.p) else ""

    def take(self) -> str:
        c = self.peek()
        self.i += 1
        return c

    def top(self) -> Parsed:
        branches = []
        for seq in self.alternatives(top=True):
            items = list(seq)
            start = bool(items) and items[0][0] == ("anchor", "^")
            if start:
                items.pop(0)
            end = bool(items) and items[-1][0] == ("anchor", "$")
            if end:
                items.pop()
            if any(item[0][0] == "anchor" for item in items):
                raise Unsupported("anchors only at the start or end of a top-level alternative")
            branches.append((start, tuple(items), end))
        if self.i != len(self.p):
            raise Unsupported(f"unbalanced ')' at {self.i}")
        return Parsed(tuple(branches))

    def alternatives(self, top: bool = False) -> list[tuple[Item, ...]]:
        seqs = [self.sequence()]
        while self.peek() == "|":
            self.take()
            seqs.append(self.sequence())
        if not top:
            for seq in seqs:
                if any(item[0][0] == "anchor" for item in seq):
                    raise Unsupported("anchors inside a group")
        return seqs

    def sequence(self) -> tuple[Item, ...]:
        items: list[Item] = []
        while self.peek() not in ("", "|", ")"):
            atom = self.atom()
            lo, hi = self.quantifier()
            if atom[0] == "anchor" and (lo, hi) != (1, 1):
                raise Unsupported("quantified anchor")
            items.append((atom, lo, hi))
        return tuple(items)

    def atom(self) -> Node:
        c = self.take()
        if c == "(":
            if self.peek() == "?":
                if self.p[self.i : self.i + 2] != "?:":
                    raise Unsupported("lookaround, named group or inline flag")
                self.i += 2
            seqs = self.alternatives()
            if self.take() != ")":
                raise Unsupported("unclosed group")
            return ("alt", tuple(seqs))
        if c == "[":
            return ("set", self.charclass())
        if c == ".":
            return ("set", CharSet(*DOT))
        if c in "^$":
            return ("anchor", c)
        if c == "\\":
            return ("set", self.escape(in_class=False))
        if c in "*+?{":
            raise Unsupported(f"{c!r} with nothing to repeat")
        return ("set", CharSet(norm(chars(c)), norm(chars(c))))

    def quantifier(self) -> tuple[int, int | None]:
        c = self.peek()
        hi: int | None
        if c == "*":
            lo, hi = 0, None
        elif c == "+":
            lo, hi = 1, None
        elif c == "?":
            lo, hi = 0, 1
        elif c == "{":
            end = self.p.find("}", self.i)
            body = self.p[self.i + 1 : end] if end > 0 else ""
            parts = body.split(",")
            if end < 0 or len(parts) > 2 or not parts[0].isdigit():
                raise Unsupported("'{' that is not a {n,m} quantifier")
            lo = int(parts[0])
            if len(parts) == 1:
                hi = lo
            elif parts[1] == "":
                hi = None
            elif parts[1].isdigit():
                hi = int(parts[1])
            else:
                raise Unsupported("malformed {n,m}")
            if lo > MAX_REPEAT or (hi is not None and (hi > MAX_REPEAT or hi < lo)):
                raise Unsupported(f"repetition bounds beyond {MAX_REPEAT} or reversed")
            self.i = end
        else:
            return 1, 1
        self.take()
        if self.peek() == "?":  # lazy: the same set of matching strings
            self.take()
        if self.peek() in ("*", "+", "?", "{"):
            raise Unsupported("possessive or repeated quantifier")
        return lo, hi

    def escape(self, *, in_class: bool) -> CharSet:
        c = self.take()
        if c == "":
            raise Unsupported("trailing backslash")
        if c in "dDwWsS":
            return named(c)
        if c in ESCAPES:
            return CharSet(norm(chars(ESCAPES[c])), norm(chars(ESCAPES[c])))
        if c in "xu":
            width = 2 if c == "x" else 4
            digits = self.p[self.i : self.i + width]
            if len(digits) != width or any(d not in "0123456789abcdefABCDEF" for d in digits):
                raise Unsupported(f"malformed \\{c} escape")
            self.i += width
            point = int(digits, 16)
            return CharSet(((point, point),), ((point, point),))
        if c.isalnum() or c == "_":
            # \b \B \A \Z \z \p \k \c, backreferences, \0: not decided here
            raise Unsupported(f"escape \\{c}")
        return CharSet(norm(chars(c)), norm(chars(c)))

    def charclass(self) -> CharSet:
        negated = self.peek() == "^"
        if negated:
            self.take()
        if self.peek() == "]":
            raise Unsupported("']' first in a class (the dialects disagree)")
        narrow: list[tuple[int, int]] = []
        wide: list[tuple[int, int]] = []
        while True:
            c = self.take()
            if c == "":
                raise Unsupported("unclosed class")
            if c == "]":
                break
            if c == "[" or self.p[self.i - 1 : self.i + 1] in ("--", "&&", "~~", "||"):
                raise Unsupported("nested set syntax in a class")
            if c == "\\":
                part = self.escape(in_class=True)
                if len(part.narrow) == 1 and part.narrow == part.wide and self.is_range():
                    lo = part.narrow[0][0]
                    hi = self.range_end()
                    narrow.append((lo, hi))
                    wide.append((lo, hi))
                    continue
                narrow.extend(part.narrow)
                wide.extend(part.wide)
                continue
            lo = ord(c)
            hi = self.range_end() if self.is_range() else lo
            narrow.append((lo, hi))
            wide.append((lo, hi))
        if negated:  # the complement of the widest reading is the narrowest
            return CharSet(complement(norm(wide)), complement(norm(narrow)))
        return CharSet(norm(narrow), norm(wide))

    def is_range(self) -> bool:
        return self.peek() == "-" and self.p[self.i + 1 : self.i + 2] not in ("]", "")

    def range_end(self) -> int:
        self.take()  # '-'
        c = self.take()
        if c == "\\":
            part = self.escape(in_class=True)
            if (
                len(part.narrow) != 1
                or part.narrow != part.wide
                or part.narrow[0][0] != (part.narrow[0][1])
            ):
                raise Unsupported("class range ending in a class")
            return part.narrow[0][0]
        return ord(c)


@lru_cache(maxsize=512)
def parse(pattern: str) -> Parsed:
    return Parser(pattern).top()


# -- lengths -----------------------------------------------------------------------------------
def _seq_len(items: tuple[Item, ...]) -> tuple[int, int | None]:
    lo, hi = 0, 0
    hi_out: int | None = 0
    for node, qlo, qhi in items:
        nlo, nhi = _node_len(node)
        lo += nlo * qlo
        if hi_out is None:
            continue
        if nhi == 0:
            continue
        if nhi is None or qhi is None:
            hi_out = None
        else:
            hi += nhi * qhi
            hi_out = hi
    return lo, hi_out


def _node_len(node: Node) -> tuple[int, int | None]:
    if node[0] == "set":
        return 1, 1
    lens = [_seq_len(seq) for seq in node[1]]
    his = [h for _, h in lens]
    return min(lo for lo, _ in lens), None if None in his else max(h for h in his if h is not None)


def lengths(pattern: str) -> tuple[int, int | None]:
    """Bounds on the length of every string a validator may accept for `pattern` (the
    maximum counts a final newline Python lets `$` skip). Raises Unsupported."""
    parsed = parse(pattern)
    lows, highs = [], []
    for start, items, end in parsed.branches:
        lo, hi = _seq_len(items)
        lows.append(lo)
        highs.append(hi + 1 if (start and end and hi is not None) else None)
    if not lows:
        return 0, None
    return min(lows), None if None in highs else max(h for h in highs if h is not None)


# -- automata ----------------------------------------------------------------------------------
_budget = threading.local()
_installed = threading.Lock()


def _install_budget() -> None:
    """interegular explores automata with `interegular.fsm.crawl`; wrap it once so every
    transition it computes counts against the current question's budget and deadline
    (thread-local; outside a question, interegular behaves as usual for anyone else)."""
    import interegular.fsm

    ifsm: Any = interegular.fsm  # untyped library

    with _installed:
        if getattr(ifsm.crawl, "_bizevents_bounded", False):
            return
        original = ifsm.crawl

        def crawl(alphabet: Any, initial: Any, final: Any, follow: Callable[..., Any]) -> Any:
            left = getattr(_budget, "left", None)
            if left is None:
                return original(alphabet, initial, final, follow)

            def counted(state: Any, symbol: Any) -> Any:
                left[0] -= 1
                if left[0] < 0 or (left[0] % 256 == 0 and time.monotonic() > left[1]):
                    raise TooComplex(f"automata beyond {MAX_STEPS} steps or {MAX_SECONDS}s")
                return follow(state, symbol)

            return original(alphabet, initial, final, counted)

        crawl._bizevents_bounded = True  # type: ignore[attr-defined]
        ifsm.crawl = crawl


def _start_budget() -> None:
    _install_budget()
    _budget.left = [MAX_STEPS, time.monotonic() + MAX_SECONDS]


def _ranges_of(parsed: Parsed) -> Iterator[Ranges]:
    def walk(items: tuple[Item, ...]) -> Iterator[Ranges]:
        for node, _, _ in items:
            if node[0] == "set":
                yield node[1].narrow
                yield node[1].wide
            else:
                for seq in node[1]:
                    yield from walk(seq)

    for _, items, _ in parsed.branches:
        yield from walk(items)


class _Builder:
    """Automata (interegular) over one abstract alphabet shared by every pattern of a
    question: the code points cut into the intervals no class of either pattern splits, one
    symbol each. Inclusion over these symbols is inclusion over characters."""

    def __init__(self, *parsed: Parsed) -> None:
        import interegular.fsm

        library: Any = interegular.fsm  # untyped library
        self.FSM: Any = library.FSM
        cuts = {0, TOP + 1, 10, 11}
        for p in parsed:
            for ranges in _ranges_of(p):
                for lo, hi in ranges:
                    cuts.update((lo, hi + 1))
        edges = sorted(cuts)
        self.atoms = list(zip(edges, [e - 1 for e in edges[1:]], strict=False))
        self.alphabet = library.Alphabet({chr(lo): i for i, (lo, _) in enumerate(self.atoms)})
        self.cache: dict[Ranges, Any] = {}

    def chars(self, ranges: Ranges) -> Any:
        if ranges not in self.cache:
            inside = {
                i
                for i, (lo, hi) in enumerate(self.atoms)
                if any(a <= lo and hi <= b for a, b in ranges)
            }
            self.cache[ranges] = self.FSM(
                alphabet=self.alphabet,
                states={0, 1},
                initial=0,
                finals={1},
                map={0: {i: 1 for i in inside}},
            )
        return self.cache[ranges]

    def epsilon(self) -> Any:
        return self.FSM(alphabet=self.alphabet, states={0}, initial=0, finals={0}, map={})

    def repeat(self, fsm: Any, lo: int, hi: int | None) -> Any:
        if (lo, hi) == (1, 1):
            return fsm
        parts = [fsm.times(lo)] if lo else []
        if hi is None:
            parts.append(fsm.star())
        elif hi > lo:
            parts.append((fsm | self.epsilon()).times(hi - lo))
        if not parts:
            return self.epsilon()
        return parts[0] if len(parts) == 1 else self.FSM.concatenate(*parts)

    def seq(self, items: tuple[Item, ...], wide: bool) -> Any:
        parts = [self.repeat(self.node(n, wide), lo, hi) for n, lo, hi in items]
        if not parts:
            return self.epsilon()
        return parts[0] if len(parts) == 1 else self.FSM.concatenate(*parts)

    def node(self, node: Node, wide: bool) -> Any:
        if node[0] == "set":
            return self.chars(node[1].pick(wide))
        branches = [self.seq(s, wide) for s in node[1]]
        return branches[0] if len(branches) == 1 else self.FSM.union(*branches)

    def search(self, parsed: Parsed, *, wide: bool, py_dollar: bool) -> Any:
        """The strings in which the pattern matches somewhere."""
        anything = self.chars(((0, TOP),)).star()
        newline = self.chars(((10, 10),)) | self.epsilon()
        options = []
        for start, items, end in parsed.branches:
            parts = [] if start else [anything]
            parts.append(self.seq(items, wide))
            if not end:
                parts.append(anything)
            elif py_dollar:
                parts.append(newline)
            options.append(self.FSM.concatenate(*parts) if len(parts) > 1 else parts[0])
        return options[0] if len(options) == 1 else self.FSM.union(*options)

    def lengths(self, lo: int, hi: int | None) -> Any:
        return self.repeat(self.chars(((0, TOP),)), lo, hi)

    def example(self, fsm: Any) -> str | None:
        """A shortest string the automaton accepts (breadth first over its states)."""
        first: dict[Any, str] = {}
        for char, key in fsm.alphabet.items():
            first.setdefault(key, char)
        seen, queue = {fsm.initial}, [(fsm.initial, "")]
        while queue:
            state, text = queue.pop(0)
            if state in fsm.finals:
                return text
            for key, nxt in sorted(fsm.map.get(state, {}).items()):
                if nxt not in seen:
                    seen.add(nxt)
                    queue.append((nxt, text + str(first.get(key, "?"))))
        return None


@lru_cache(maxsize=1024)
def includes(
    sub: str | None, sup: str, min_len: int = 0, max_len: int | None = None
) -> tuple[bool, str]:
    """(proven, why): True when every string of length in [min_len, max_len] that matches `sub`
    (None: any string) matches `sup`, under every validator's reading. On False, `why` says
    what failed: a string that breaks it, or why it cannot be decided."""
    try:
        sub_parsed = parse(sub) if sub is not None else None
        sup_parsed = parse(sup)
    except Unsupported as exc:
        return False, f"cannot decide the pattern ({exc})"
    if max_len is not None and max_len > MAX_LENGTH_AUTOMATON:
        max_len = None  # widening the sub side keeps the answer safe
    min_len = min(min_len, MAX_LENGTH_AUTOMATON)
    dollars = any(end for _, _, end in (sub_parsed or sup_parsed).branches) or any(
        end for _, _, end in sup_parsed.branches
    )
    _start_budget()
    try:
        build = _Builder(*(p for p in (sub_parsed, sup_parsed) if p is not None))
        for py_dollar in (False, True) if dollars else (False,):
            left = build.lengths(min_len, max_len)
            if sub_parsed is not None:
                left = left & build.search(sub_parsed, wide=True, py_dollar=py_dollar)
            missing = left - build.search(sup_parsed, wide=False, py_dollar=py_dollar)
            if not missing.empty():
                sample = build.example(missing)
                return False, (
                    f"strings such as {sample!r} may match one and not the other"
                    if sample is not None
                    else "no"
                )
        return True, ""
    except TooComplex as exc:
        return False, f"cannot decide the pattern ({exc})"
    except RecursionError:
        return False, "cannot decide the pattern (nested too deeply)"
    finally:
        _budget.left = None


@lru_cache(maxsize=1024)
def disjoint(a: str, b: str) -> bool:
    """True when provably no string matches both patterns under any validator's reading."""
    try:
        pa, pb = parse(a), parse(b)
    except Unsupported:
        return False
    _start_budget()
    try:
        build = _Builder(pa, pb)
        for py_dollar in (False, True):
            one = build.search(pa, wide=True, py_dollar=py_dollar)
            if not (one & build.search(pb, wide=True, py_dollar=py_dollar)).empty():
                return False
        return True
    except (TooComplex, RecursionError):
        return False
    finally:
        _budget.left = None
