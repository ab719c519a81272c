"""Remove known secret values from text that came back from a server, in the forms a server echoes them.

A registry, a forge or a proxy in front of them can echo what it was sent: the token as it is, URL-encoded
(a query or form value), JSON-escaped, or inside an ``Authorization: Basic`` value (base64 of ``user:token``,
at any offset). ``scrub(text, secrets)`` replaces each such form with ``***``:

- the raw value and its URL-encoded forms (``quote``, ``quote_plus``, lower-case escapes);
- any run of base64 (standard or URL-safe alphabet, padded or not) that decodes to bytes containing the
  value, and the base64 of the value itself at each of the three alignments it can take inside a longer
  base64 text.

The forms are the ones the run's redactor knows (``image_release.secret_forms``, one definition); on top of
them, any run of base64 that decodes to bytes holding a value is scrubbed. Values shorter than 4 characters
are left alone: they would match everywhere. Pure: no I/O.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Iterable

from image_release.secret_forms import MASK, MIN_LENGTH, form_pattern, secret_forms

_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{8,}={0,2}")


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every form of every secret replaced by ``***``."""
    values = sorted({s for s in secrets if s and len(s) >= MIN_LENGTH}, key=len, reverse=True)
    if not values or not text:
        return text
    text = _scrub_base64_runs(text, [v.encode() for v in values])
    forms = sorted({f for v in values for f in secret_forms(v)}, key=len, reverse=True)
    return re.sub("|".join(form_pattern(f) for f in forms), MASK, text)


def _scrub_base64_runs(text: str, raws: list[bytes]) -> str:
    def replace(match: re.Match[str]) -> str:
        run = match.group(0)
        decoded = _b64decode(run)
        if decoded is not None and any(raw in decoded for raw in raws):
            return MASK
        return run

    return _B64_RUN.sub(replace, text)


def _b64decode(run: str) -> bytes | None:
    body = run.rstrip("=")
    padded = body + "=" * (-len(body) % 4)
    for altchars in (b"+/", b"-_"):
        try:
            return base64.b64decode(padded, altchars=altchars, validate=True)
        except (binascii.Error, ValueError):
            continue
    return None
