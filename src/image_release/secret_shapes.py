"""What a value looks like, said without showing it: a token of a known kind, or a random-looking string.

Used where a value ends up somewhere a secret must not be: a setting that names a variable (a token pasted
in its place is never echoed; the error says what kind of thing it looks like), a build arg (kept in the
image's history: a secret-looking one gets a warning pointing to ``build.secrets``), Invoke's debug log.
Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections import Counter

# Known token formats, as the forges and clouds issue them (and as secret scanners look for them).
TOKEN_KINDS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a GitHub token", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})")),
    ("a GitLab token", re.compile(r"\bgl(?:pat|dt|rt|ptt|cbt|imt|agent|oas|ft|soat)-[A-Za-z0-9_-]{20,}")),
    ("a Slack token", re.compile(r"\bxox[abeoprs]-[A-Za-z0-9-]{10,}")),
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA|AROA|AIDA)[0-9A-Z]{16}\b")),
    ("an npm token", re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("a Docker Hub token", re.compile(r"\bdckr_pat_[A-Za-z0-9_-]{20,}")),
    ("a PyPI token", re.compile(r"\bpypi-[A-Za-z0-9_-]{50,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----")),
)

RANDOM_MIN_LENGTH = 21  # "a high-entropy string over 20 characters"
_TOKEN_CHARS = re.compile(r"^[A-Za-z0-9+/=_.~-]+$")
_HEX_OR_UUID = re.compile(r"^[0-9a-fA-F-]+$")  # commit SHAs, digests, UUIDs: ordinary build args
_RUN = re.compile(r"[A-Za-z0-9]{16,}")


def token_kind(value: str) -> str | None:
    """The kind of known token ``value`` is or contains ("a GitHub token"), or None."""
    for kind, pattern in TOKEN_KINDS:
        if pattern.search(value):
            return kind
    return None


def entropy(value: str) -> float:
    """Shannon entropy of ``value``, in bits per character."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def looks_random(value: str) -> bool:
    """A string over 20 characters, of the characters tokens are made of (no spaces, no ``:``), with letters
    and digits, holding a run of 16 or more letters and digits spread as a random string's are. Hex strings
    and UUIDs (commit SHAs, digests) are not counted: they are what build args ordinarily carry; nor are
    names made of words (``python3.11-slim-bookworm``): their runs are short or repeat letters."""
    if len(value) < RANDOM_MIN_LENGTH or not _TOKEN_CHARS.match(value) or _HEX_OR_UUID.match(value):
        return False
    if not (any(c.isdigit() for c in value) and any(c.isalpha() for c in value)):
        return False
    # n random characters carry close to log2(n) bits each (nearly all distinct), up to the alphabet's
    # log2(64); words stay well below.
    return any(entropy(run) >= 0.85 * math.log2(min(len(run), 64)) for run in _RUN.findall(value))


def describe(value: str) -> str | None:
    """What ``value`` looks like when it looks like a secret ("a GitHub token", "a random-looking string of
    40 characters"), else None. Never includes the value."""
    kind = token_kind(value)
    if kind:
        return kind
    if looks_random(value):
        return f"a random-looking string of {len(value)} characters"
    return None


def looks_like_a_secret_not_a_name(value: str) -> str | None:
    """For a setting that must name a variable: what ``value`` looks like when it is rather a secret (a known
    token, or a random-looking string mixing upper and lower case, which variable names do not), else None."""
    kind = token_kind(value)
    if kind:
        return kind
    if looks_random(value) and value != value.upper() and value != value.lower():
        return f"a token (a random string of {len(value)} characters)"
    return None


def shapes_pattern() -> re.Pattern[str]:
    """One pattern matching every known token format (to blank them in text no value list covers)."""
    return re.compile("|".join(f"(?:{p.pattern})" for _, p in TOKEN_KINDS[:-1]))
