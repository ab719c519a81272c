"""Secret redaction for everything the tool prints (pure apart from reading the env mapping given).

Secrets are known by where they come from: the environment variables the settings name for tokens
and registry passwords, the CI's own secret variables, and any variable whose name ends like a
secret's (as GoReleaser does). Their values are replaced by ``***`` wherever they appear, and so are
the forms a value takes on its way out: URL-encoded, base64, and for a PEM key (the signing key of
``release.sign.key_env``, stored as it is or base64-encoded) each line of its body.
"""

from __future__ import annotations

import base64
import binascii
from typing import Iterable, Mapping
from urllib.parse import quote, quote_plus

WELL_KNOWN = (
    "GITHUB_TOKEN", "GH_TOKEN", "GITLAB_TOKEN", "CI_JOB_TOKEN", "CI_REGISTRY_PASSWORD",
    "CI_DEPLOY_PASSWORD", "DOCKER_PASSWORD", "REGISTRY_PASSWORD", "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
)
SUFFIXES = ("_TOKEN", "_PASSWORD", "_SECRET", "_API_KEY", "_PRIVATE_KEY")
MIN_LENGTH = 4  # shorter values would shred ordinary output


class Redactor:
    def __init__(self, values: Iterable[str] = ()):
        self.values: list[str] = []
        for v in values:
            self.add(v)

    @classmethod
    def from_env(cls, env: Mapping[str, str], settings=None) -> "Redactor":
        names = set(WELL_KNOWN)
        if settings is not None:
            names |= {
                settings.forge.github_token_env, settings.forge.gitlab_token_env,
                settings.forge.gitlab_job_token_env,
            }
            if settings.registry_password_env:
                names.add(settings.registry_password_env)
            names |= {s.env for s in settings.build.secrets if s.env}
            names |= {n for n in (settings.sign.key_env, settings.sign.password_env) if n}
        names |= {k for k in env if k.upper().endswith(SUFFIXES)}
        return cls(env[n] for n in sorted(names) if env.get(n))

    def add(self, value: str | None) -> None:
        if not value or len(value) < MIN_LENGTH or value in self.values:
            return
        for form in secret_forms(value):
            if len(form) >= MIN_LENGTH and form not in self.values:
                self.values.append(form)
        # Longest first, so a secret containing another is replaced whole.
        self.values.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for v in self.values:
            if v in text:
                text = text.replace(v, "***")
        return text


PEM_LINE_MIN = 16  # a PEM body line shorter than this (the last one of a block) is left to the whole value


def secret_forms(value: str) -> list[str]:
    """``value`` and the forms it takes in URLs, headers and files: URL-encoded, base64; a PEM key's body
    lines, also when the variable holds the PEM base64-encoded."""
    forms = [value, quote(value, safe=""), quote_plus(value), base64.b64encode(value.encode()).decode()]
    pem = value if "-----BEGIN" in value else _decoded_pem(value)
    if pem:
        if pem != value:
            forms += [pem, base64.b64encode(pem.encode()).decode()]
        forms += [line.strip() for line in pem.splitlines()
                  if len(line.strip()) >= PEM_LINE_MIN and not line.startswith("-----")]
    return list(dict.fromkeys(forms))


def _decoded_pem(value: str) -> str | None:
    if len(value) < 64 or "-" in value:
        return None
    try:
        text = base64.b64decode("".join(value.split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    return text if "-----BEGIN" in text else None
