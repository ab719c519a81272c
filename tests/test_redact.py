"""The redactor knows every form a secret takes on its way out (issue 14), and the shapes of secrets.

A forge, a registry or a proxy in front of them echoes what it was sent: the token as it is, URL-encoded (a
query or form value, either case of hex), JSON-escaped, base64 (a Basic header: ``user:token``, with any user
name; a Docker config ``auth``; standard or URL-safe alphabet, padded or not). Every such form of a known
value is replaced; ordinary text is left alone.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from image_release.pipeline.redact import Redactor, secret_forms
from image_release.secret_shapes import describe, looks_like_a_secret_not_a_name, token_kind

TOKEN = "ghp_PLANTED/tok+en=value 0123456789abcdef"
USER = "alice"


def b64_forms(data: bytes) -> list[str]:
    std, url = base64.b64encode(data).decode(), base64.urlsafe_b64encode(data).decode()
    return [std, std.rstrip("="), url, url.rstrip("=")]


def every_form(value: str, user: str) -> list[str]:
    forms = [value, quote(value, safe=""), quote(value), quote_plus(value), json.dumps(value)[1:-1]]
    forms += [quote(value, safe="").replace("%2F", "%2f").replace("%2B", "%2b")]
    forms += b64_forms(value.encode()) + b64_forms(f"{user}:{value}".encode())
    return forms


@pytest.mark.parametrize("form", every_form(TOKEN, USER))
def test_every_form_of_a_value_is_replaced(form):
    redact = Redactor([TOKEN], users=[USER])
    out = redact(f"error: server said <{form}> while creating the release")
    assert form not in out and "***" in out
    assert out.startswith("error: server said <") and out.endswith("> while creating the release")


@pytest.mark.parametrize("user", ["x-access-token", "oauth2", "someone-we-never-heard-of", "b", "bo", "bob"])
@pytest.mark.parametrize("encode", [base64.b64encode, base64.urlsafe_b64encode])
def test_a_basic_header_with_any_user_name_loses_the_token(user, encode):
    """The base64 of ``user:token`` for a user the redactor does not know: the part of it that encodes the
    token (whatever its alignment) is replaced, so no decoding of what is left gives the token back."""
    redact = Redactor([TOKEN])
    header = encode(f"{user}:{TOKEN}".encode()).decode()
    out = redact(f"Authorization: Basic {header}")
    assert header not in out and "***" in out
    left = out.split("Basic ", 1)[1].replace("***", "")
    assert len(left) <= len(user) * 4 // 3 + 6  # what remains encodes the user name, not the token


@pytest.mark.parametrize("prefix", [b"", b"x", b"xy", b'{"auths":{"r":{"auth":"'])
def test_the_value_inside_any_longer_base64_text_is_replaced(prefix):
    redact = Redactor([TOKEN])
    blob = base64.b64encode(prefix + TOKEN.encode() + b" and more bytes after it").decode()
    out = redact(blob)
    assert out.count("***") == 1
    before, after = out.split("***")
    assert TOKEN.encode() not in base64.b64decode(before[: len(before) // 4 * 4])
    masked = len(blob) - len(before) - len(after)
    assert masked >= len(TOKEN) * 4 // 3 - 2  # all but the one or two characters it shares with its neighbours


def test_a_user_added_later_covers_the_values_already_known():
    redact = Redactor([TOKEN])
    redact.add(None, user="registry-user")
    header = base64.b64encode(f"registry-user:{TOKEN}".encode()).decode()
    assert redact(header) == "***"


def test_a_pem_key_is_redacted_line_by_line():
    body = ["MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
            "Zq1y3l7m8K2x9H0aYb4Ew5T6uVcR1sNdLfGjMoPiQeW2kXnA3hBt"]
    pem = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(body) + "\n-----END PRIVATE KEY-----\n"
    redact = Redactor([pem])
    out = redact("a log that shows a key line: " + body[1] + " and " + body[0])
    assert body[0] not in out and body[1] not in out
    encoded = base64.b64encode(pem.encode()).decode()
    assert Redactor([encoded])("line " + body[0]) == "line ***"  # the variable holds the PEM base64-encoded


def test_ordinary_text_and_short_values_are_left_alone():
    text = "release plan: version 1.2.3 (context from cli, sha 37485ff), push: yes, Dockerfile, latest"
    assert Redactor([TOKEN, "abc"], users=[USER])(text) == text
    assert "abc" not in secret_forms(TOKEN)  # forms are never shorter than 4 characters
    assert all(len(f) >= 4 for f in secret_forms("abcd", ["u"]))


def test_a_secret_built_from_the_mask_and_another_secret_goes_too():
    redact = Redactor(["abcd", "***x"])
    assert "***x" not in redact("abcdx")


def test_values_lists_the_raw_values_longest_first():
    redact = Redactor(["short-secret", "a-much-longer-secret-value"])
    assert redact.values == ("a-much-longer-secret-value", "short-secret")


def test_from_env_knows_the_registry_user_for_basic_forms():
    from image_release.settings import parse_settings

    settings = parse_settings({"registry": {"username_env": "REG_USER", "password_env": "REG_PW"}})
    env = {"REG_USER": "robot", "REG_PW": "registry-pass-0123"}
    header = base64.b64encode(b"robot:registry-pass-0123").decode()
    assert Redactor.from_env(env, settings)(f"Basic {header}") == "Basic ***"


# -- shapes ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("value,kind", [
    ("ghp_" + "A1b2C3d4E5f6G7h8I9j0" * 2, "GitHub"),
    ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", "GitHub"),
    ("glpat-abcdefghij0123456789", "GitLab"),
    ("xoxb-1234567890-abcdefghij", "Slack"),
    ("AKIAIOSFODNN7EXAMPLE", "AWS"),
])
def test_known_token_kinds(value, kind):
    assert kind in token_kind(value)
    assert kind in describe(value)
    assert value not in describe(value)


@pytest.mark.parametrize("value", [
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "npm_PLANTEDbuildSECRET0123456789abcdef",
    "q8Zr2LmX0vTn5YpK7wHs3JdC",
])
def test_random_strings_over_20_characters_look_secret(value):
    assert "random" in describe(value)


@pytest.mark.parametrize("value", [
    "1.2.3", "production", "python3.11-slim-bookworm", "node20alpinebookworm2024", "ubuntu-22.04-lts-minimal",
    "37485ff566b0669aeeeaab3e19727932f7517a71",  # a commit SHA
    "a8b9c1d2-3e4f-5a6b-7c8d-9e0f1a2b3c4d",  # a UUID
    "registry.example.com/team/app", "org.opencontainers.image.title", "release-candidate-2024-10-01",
    "https://example.com/a/b?c=d",
])
def test_ordinary_build_arg_values_do_not(value):
    assert describe(value) is None


@pytest.mark.parametrize("name", ["GITHUB_TOKEN", "MY_REGISTRY_PASSWORD_2", "CI_JOB_TOKEN", "token_env_name"])
def test_variable_names_are_names(name):
    assert looks_like_a_secret_not_a_name(name) is None
