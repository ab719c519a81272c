"""Secret redaction for everything the tool prints (pure apart from reading the env mapping given).

Secrets are known by where they come from: the environment variables the settings name for tokens
and registry passwords, the CI's own secret variables, and any variable whose name ends like a
secret's (as GoReleaser does). Their values are replaced by ``***`` wherever they appear, and so are
the forms a value takes on its way out, as a forge, a registry or a proxy echoes it back in an
error (:func:`image_release.secret_forms.secret_forms`): URL-encoded, JSON-escaped, base64 (standard and URL-safe, padded or
not, of the value and of ``user:value`` as Basic auth carries it, and inside any longer base64 text),
and for a PEM key each line of its body.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping

from image_release.secret_forms import MASK, MIN_LENGTH, basic_forms, form_pattern, secret_forms

WELL_KNOWN = (
    "GITHUB_TOKEN", "GH_TOKEN", "GITLAB_TOKEN", "CI_JOB_TOKEN", "CI_REGISTRY_PASSWORD",
    "CI_DEPLOY_PASSWORD", "DOCKER_PASSWORD", "REGISTRY_PASSWORD", "ACTIONS_RUNTIME_TOKEN",
    "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
)
SUFFIXES = ("_TOKEN", "_PASSWORD", "_SECRET", "_API_KEY", "_PRIVATE_KEY")
# The user names tokens travel with in Basic auth (GitHub, GitLab, GitLab CI, registries' token logins).
TOKEN_USERS = ("x-access-token", "x-oauth-basic", "oauth2", "gitlab-ci-token", "token", "<token>")


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
                self._forms.update(basic_forms(known, (user,)))
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
            self._pattern = re.compile("|".join(form_pattern(f) for f in forms))
            self._again = any("*" in f for f in forms)
        return self._pattern
