"""scrub: a secret echoed back by a server never reaches a message, in the forms servers echo it."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus

import pytest
from hypothesis import given
from hypothesis import strategies as st

from image_release.adapters.scrub import MASK, scrub

TOKEN = "ghp_Ab/cd+EF==gh%ij 42"


def forms(secret: str, prefix: str = "") -> list[str]:
    return [
        secret,
        quote(secret, safe=""),
        re.sub(r"%[0-9A-F]{2}", lambda m: m.group(0).lower(), quote(secret, safe="")),
        quote_plus(secret, safe=""),
        json.dumps(secret)[1:-1],
        base64.b64encode(secret.encode()).decode(),
        base64.urlsafe_b64encode(secret.encode()).decode().rstrip("="),
        base64.b64encode(f"{prefix}{secret}".encode()).decode(),
    ]


@pytest.mark.parametrize("prefix", ["", "x", "ab", "user:", "x-access-token:", "oauth2:"])
def test_every_echoed_form_is_masked(prefix):
    for form in forms(TOKEN, prefix):
        text = scrub(f"error: got {form!s} from the client", [TOKEN])
        assert form not in text and MASK in text, form


def test_base64_inside_a_longer_base64_text_is_masked():
    blob = base64.b64encode(b"Authorization: Basic " + f"me:{TOKEN}".encode() + b" and more").decode()
    assert scrub(blob, [TOKEN]) == MASK


def test_other_text_is_left_alone():
    text = "HTTP 403 Forbidden: aGVsbG8gd29ybGQ= sha256:" + "a" * 64
    assert scrub(text, [TOKEN]) == text
    assert scrub(text, []) == text and scrub(text, [None, "", "abc"]) == text  # short values: left alone


@given(secret=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=8, max_size=40),
       prefix=st.text(alphabet="abcdefghij:", max_size=5), junk=st.text(alphabet="xyz ", max_size=10))
def test_property_no_form_survives(secret, prefix, junk):
    for form in forms(secret, prefix):
        text = scrub(f"{junk}{form}{junk}", [secret])
        assert secret not in text
        assert form not in text or len(form) < 4
