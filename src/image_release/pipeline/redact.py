"""Secret redaction for everything the tool prints (pure apart from reading the env mapping given).

Secrets are known by where they come from: the environment variables the settings name for tokens
and registry passwords, the CI's own secret variables, and any variable whose name ends like a
secret's (as GoReleaser does). Their values are replaced by ``***`` wherever they appear, and so are
the forms a value takes on its way out, as a forge, a registry or a proxy echoes it back in an
error (:func:`secret_forms`): URL-encoded, JSON-escaped, base64 (standard and URL-safe, padded or
not, of the value and of ``user:value`` as Basic auth carries it, and inside any longer base64 text),
and for a PEM key each line of its body.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Iterable, Mapping
from urllib.parse import quote, quote_plus

WELL_KNOWN = (
    "GITHUB_TOKEN", "GH_TOKEN", "GITLAB_TOKEN", "CI_JOB_TOKEN", "CI_REGISTRY_PASSWORD",
    "CI_DEPLOY_PASSWORD", "DOCKER_PASSWORD", "REGISTRY_PASSWORD", "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
)
SUFFIXES = ("_TOKEN", "_PASSWORD", "_SECRET", "_API_KEY", "_PRIVATE_KEY")
# The user names tokens travel with in Basic auth (GitHub, GitLab, GitLab CI, registries' token logins).
TOKEN_USERS = ("x-access-token", "x-oauth-basic", "oauth2", "gitlab-ci-token", "token", "<token>")
MIN_LENGTH = 4  # shorter values would shred ordinary output
MIN_FRAGMENT = 6  # a base64 fragment shorter than this would match ordinary words
PEM_LINE_MIN = 16  # a PEM body line shorter than this (the last one of a block) is left to the whole value
MASK = "***"


class Redactor:
    """Replaces every form of every value it knows with ``***``: ``redactor(text)``."""

    def __init__(self, values: Iterable[str] = (), users: Iterable[str] = ()):
        self._values: list[str] = []
        self._users: list[str] = list(dict.fromkeys(u for u in users if u))
        self._forms: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._again = False  # a form holds "*": a replacement can complete another form
        for v in values:
            self.add(v)

    @classmethod
    def from_env(cls, env: Mapping[str, str], settings=None) -> "Redactor":
        names = set(WELL_KNOWN)
        users = list(TOKEN_USERS)
        if settings is not None:
            names |= {
                settings.forge.github_token_env, settings.forge.gitlab_token_env,
                settings.forge.gitlab_job_token_env,
            }
            if settings.registry_password_env:
                names.add(settings.registry_password_env)
            if settings.registry_username_env and env.get(settings.registry_username_env):
                users.insert(0, env[settings.registry_username_env])
            names |= {s.env for s in settings.build.secrets if s.env}
            names |= {n for n in (settings.sign.key_env, settings.sign.password_env) if n}
        names |= {k for k in env if k.upper().endswith(SUFFIXES)}
        return cls((env[n] for n in sorted(names) if env.get(n)), users=users)

    @property
    def values(self) -> tuple[str, ...]:
        """The secret values known (raw), longest first."""
        return tuple(self._values)

    def add(self, value: str | None, user: str | None = None) -> None:
        """Know ``value`` (and, with ``user``, the Basic auth form ``user:value``) from now on."""
        if user and user not in self._users:
            self._users.insert(0, user)
            for known in self._values:  # the new user's Basic forms of the values already known
                self._forms.update(_basic_forms(known, (user,)))
            self._pattern = None
        if not value or len(value) < MIN_LENGTH or value in self._values:
            return
        self._values.append(value)
        self._values.sort(key=len, reverse=True)
        self._forms.update(secret_forms(value, self._users))
        self._pattern = None

    def __call__(self, text: str) -> str:
        if not self._values or not text:
            return text
        pattern = self._compiled()
        text = pattern.sub(MASK, text)
        while self._again and pattern.search(text):  # "***" next to a form's own "*"s: until none is left
            text = pattern.sub(MASK, text)
        return text

    def _compiled(self) -> re.Pattern[str]:
        if self._pattern is None:
            forms = sorted(self._forms, key=len, reverse=True)  # longest first: a form inside another goes whole
            self._pattern = re.compile("|".join(_form_pattern(f) for f in forms))
            self._again = any("*" in f for f in forms)
        return self._pattern


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
    forms += _basic_forms(value, users)
    forms += _embedded_base64(value.encode())
    forms += _pem_forms(value)
    return [f for f in dict.fromkeys(forms) if len(f) >= MIN_LENGTH]


def _base64_forms(data: bytes) -> list[str]:
    std = base64.b64encode(data).decode()
    url = base64.urlsafe_b64encode(data).decode()
    return [std, std.rstrip("="), url, url.rstrip("=")]


def _basic_forms(value: str, users: Iterable[str]) -> list[str]:
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


def _form_pattern(form: str) -> str:
    """``form`` as a regular expression; its percent-escapes match in either case (``%2F``, ``%2f``)."""
    parts = re.split(r"(%[0-9A-F]{2})", form)
    return "".join(f"(?i:{re.escape(p)})" if i % 2 else re.escape(p) for i, p in enumerate(parts))
