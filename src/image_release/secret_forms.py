"""The forms a secret value takes on its way out, and where to look for them (pure).

A forge, a registry or a proxy in front of them can echo what it was sent: the value as it is,
URL-encoded (a query or form value), JSON-escaped, base64 (standard or URL-safe, padded or not) of the
value or of ``user:value`` (Basic auth), the value's base64 at any offset inside a longer base64 text,
and for a PEM key each line of its body. One definition serves the run's redactor
(``pipeline.redact``) and the adapters that scrub what a server answered (``adapters.scrub``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Iterable
from urllib.parse import quote, quote_plus

MIN_LENGTH = 4  # shorter values would shred ordinary output
MIN_FRAGMENT = 6  # a base64 fragment shorter than this would match ordinary words
PEM_LINE_MIN = 16  # a PEM body line shorter than this (the last one of a block) is left to the whole value
MASK = "***"


def secret_forms(value: str, users: Iterable[str] = ()) -> list[str]:
    """``value`` and the forms it takes in URLs, headers, JSON and files: URL-encoded (``quote`` with and
    without ``/`` kept, ``quote_plus``), JSON-escaped, base64 (standard and URL-safe, padded or not) of the
    value, of ``user:value`` for each of ``users``, and the part of the value's base64 that stays the same
    at each of the three alignments it can take inside longer base64 text (a Basic header with any user
    name, a Docker config ``auth``); a PEM key's body lines, also when the value is the PEM base64-encoded."""
    forms = [value, quote(value, safe=""), quote(value), quote_plus(value), quote_plus(value, safe="/")]
    escaped = json.dumps(value)[1:-1]
    forms += [escaped, escaped.replace("/", "\\/")]
    forms += _base64_forms(value.encode())
    forms += basic_forms(value, users)
    forms += _embedded_base64(value.encode())
    forms += _pem_forms(value)
    return [f for f in dict.fromkeys(forms) if len(f) >= MIN_LENGTH]


def _base64_forms(data: bytes) -> list[str]:
    std = base64.b64encode(data).decode()
    url = base64.urlsafe_b64encode(data).decode()
    return [std, std.rstrip("="), url, url.rstrip("=")]


def basic_forms(value: str, users: Iterable[str]) -> list[str]:
    return [f for user in users for f in _base64_forms(f"{user}:{value}".encode())]


def _embedded_base64(raw: bytes) -> list[str]:
    """The characters of the value's base64 that do not depend on the bytes around it, for each of the three
    offsets (mod 3) at which the value can start inside a longer encoded text; both alphabets."""
    out = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode()
        # output character i carries bits [6i, 6i+6): keep those made of the value's bits alone
        core = encoded[(8 * shift + 5) // 6:(8 * (shift + len(raw))) // 6]
        if len(core) >= MIN_FRAGMENT:
            out += [core, core.replace("+", "-").replace("/", "_")]
    return out


def _pem_forms(value: str) -> list[str]:
    pem = value if "-----BEGIN" in value else _decoded_pem(value)
    if not pem:
        return []
    forms = [pem, base64.b64encode(pem.encode()).decode()] if pem != value else []
    forms += [line.strip() for line in pem.splitlines()
              if len(line.strip()) >= PEM_LINE_MIN and not line.startswith("-----")]
    return forms


def _decoded_pem(value: str) -> str | None:
    if len(value) < 64 or "-" in value:
        return None
    try:
        text = base64.b64decode("".join(value.split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return text if "-----BEGIN" in text else None


def form_pattern(form: str) -> str:
    """``form`` as a regular expression; its percent-escapes match in either case (``%2F``, ``%2f``)."""
    parts = re.split(r"(%[0-9A-F]{2})", form)
    return "".join(f"(?i:{re.escape(p)})" if i % 2 else re.escape(p) for i, p in enumerate(parts))
