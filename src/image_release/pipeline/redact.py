"""Secret redaction for everything the tool prints (pure apart from reading the env mapping given).

Secrets are known by where they come from: the environment variables the settings name for tokens
and registry passwords, the CI's own secret variables, and any variable whose name ends like a
secret's (as GoReleaser does). Their values are replaced by ``***`` wherever they appear.
"""

from __future__ import annotations

from typing import Iterable, Mapping

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
        names |= {k for k in env if k.upper().endswith(SUFFIXES)}
        return cls(env[n] for n in sorted(names) if env.get(n))

    def add(self, value: str | None) -> None:
        if value and len(value) >= MIN_LENGTH and value not in self.values:
            self.values.append(value)
            # Longest first, so a secret containing another is replaced whole.
            self.values.sort(key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for v in self.values:
            if v in text:
                text = text.replace(v, "***")
        return text
