"""Building blocks every entry point's corpus draws from: hostile text, JSON values, raw bytes,
header values and credentials."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

# Strings known to break naive parsers, SQL, paths, templates, logs and terminals.
NASTY = [
    "", " ", "\x00", "\t\n\r", "null", "None", "true", "0", "-1", "1e309", "NaN", "Infinity",
    "'", "''", "\"", "\\", "' OR '1'='1", "'; DROP TABLE apps; --", "1; SELECT pg_sleep(10)",
    "$1", "%s", "%00", "%ZZ", "%", "{}", "[]", "${jndi:ldap://127.0.0.1/x}", "{{7*7}}",
    "../../../../etc/passwd", "..\\..\\windows", "/", "//", "?", "#", "&", "=",
    "<script>alert(1)</script>", "]]>", "<!DOCTYPE x>", "\u202e\u0644\u0627", "\ufeff",
    "\ud800", "\udfff", "a\ud800b", "\U0001f600", "Ω≈ç√∫", "ǅ", "\u0000\u0001\u001f",
    "a" * 300, "x" * 70_000, "0" * 400, "9" * 5000, "-0", "1.0", "١٢٣",
]  # fmt: skip

# Every code point, lone surrogates included (they are not valid Unicode and must be refused).
any_char = st.characters(exclude_categories=())


def texts(max_size: int = 40) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(NASTY),
        st.text(any_char, max_size=max_size),
        st.text(st.characters(codec="ascii"), max_size=max_size),
    )


def json_scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.integers(min_value=-(2**200), max_value=2**200),
        st.floats(allow_nan=False, allow_infinity=False),
        TEXT,
    )


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    return st.recursive(
        SCALAR,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(SHORT_TEXT, inner, max_size=4)
        ),
        max_leaves=max_leaves,
    )


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """one_of with weights: the branch is drawn from a list holding each index `weight` times
    (one_of itself picks about uniformly, and repeating a branch in it does not add weight)."""
    indices = st.sampled_from([i for i, (weight, _) in enumerate(choices) for _ in range(weight)])
    branches = [strategy for _, strategy in choices]

    @st.composite
    def pick(draw: st.DrawFn) -> Any:
        return draw(branches[draw(indices)])

    return pick()


# True about once in ten draws; False (keep the valid form) is the simplest, as shrinking wants.
RARELY = st.sampled_from([False] * 9 + [True])

# Built once: building strategies inside every draw costs more than the requests themselves.
TEXT = texts()
SHORT_TEXT = texts(12)
SCALAR = json_scalars()
JSON = json_values()
SMALL_JSON = json_values(5)


def deep(depth: int, opener: str = "[", closer: str = "]") -> bytes:
    return (opener * depth + closer * depth).encode()


# Bodies that are not JSON at all, or JSON no parser should have to accept.
RAW_BODIES = [
    b"", b" ", b"\x00", b"\xff\xfe\x00{", b"\xef\xbb\xbf{}", b"{", b"}", b"[", b"{\"a\":}",
    b"{'a': 1}", b"NaN", b"Infinity", b"-Infinity", b"[NaN]", b"{\"a\": Infinity}",
    b"1e99999", b"-1e99999", b"9" * 5000, b"\"\\ud800\"", b"{\"\\ud800\": 1}",
    b"{\"a\": \"\\u0000\"}", b"{\"a\": 1, \"a\": 2}", b"null", b"true", b"[]", b"{}", b"\"x\"",
    deep(100_000), b"{\"a\":" * 50_000 + b"1" + b"}" * 50_000,
    deep(2000), b"[" * 10 + b"]" * 9, b"{\"a\": [1, 2,]}", b"/* comment */ {}",
    "{\"é\": \"ü\"}".encode("utf-16"), "{\"é\": \"ü\"}".encode("latin-1"),
    b"{\"data\": \"" + b"A" * 1_100_000 + b"\"}",
]  # fmt: skip


def json_bytes(value: Any) -> st.SearchStrategy[bytes]:
    """`value` serialised several ways: plain, ASCII-escaped, or with its end cut off."""

    def dump(ascii_only: bool) -> bytes:
        return json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")

    return weighted(
        (3, st.just(dump(True))),
        (3, st.just(dump(False))),
        (1, st.integers(min_value=0, max_value=len(dump(True))).map(lambda n: dump(True)[:n])),
    )


def raw_bodies() -> st.SearchStrategy[bytes]:
    return st.one_of(st.sampled_from(RAW_BODIES), st.binary(max_size=200))


# Header values as bytes: HTTP allows visible ASCII, space, tab and obs-text (0x80-0xff).
header_bytes = st.one_of(
    st.binary(max_size=60).map(
        lambda b: bytes(c for c in b if c in (9, 32) or 33 <= c <= 126 or c >= 128).strip()
    ),
    st.sampled_from([t.encode("utf-8", "surrogatepass") for t in NASTY if len(t) < 400]).map(
        lambda b: bytes(c for c in b if c in (9, 32) or 33 <= c <= 126 or c >= 128).strip()
    ),
)


def authorizations(
    good: list[str], others: list[str] | None = None
) -> st.SearchStrategy[bytes | None]:
    """Mostly a working key; otherwise another app's, none, a broken scheme, a forged or
    truncated key."""
    forged = [
        b"Bearer", b"Bearer ", b"Basic", b"Basic !!!", b"Basic " + b"Og==", b"bearer bze_",
        b"Bearer bze_x_y", b"Bearer bze_0000000000_" + b"A" * 43, b"Token abc", b"Bearer \xff",
        b"Basic dXNlcjpwYXNz",
    ]  # fmt: skip
    ok = [f"Bearer {k}".encode() for k in good]
    return weighted(
        (16, st.sampled_from(ok)),
        (1, st.sampled_from([f"Bearer {k}".encode() for k in [*good, *(others or [])]])),
        (1, st.sampled_from([*forged, None])),
        (1, st.sampled_from(ok).map(lambda b: b[:-5])),
        (1, header_bytes.map(lambda b: b"Bearer " + b)),
    )
