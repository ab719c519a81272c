"""Registry credentials: where they come from, and how to hand them on without showing them.

Order of resolution for a registry host:

1. environment variables named in the settings (``env_names=(USER_VAR, PASS_VAR)``);
2. the CI's own variables: ``GITHUB_ACTOR``/``GITHUB_TOKEN`` for ghcr.io on GitHub Actions,
   ``CI_REGISTRY_USER``/``CI_REGISTRY_PASSWORD`` for ``$CI_REGISTRY`` on GitLab CI;
3. the Docker config (``$DOCKER_CONFIG/config.json`` or ``~/.docker/config.json``) with its ``auths``,
   ``credsStore`` and ``credHelpers``, resolved by the docker SDK's own code (``docker.auth``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from image_release.errors import AuthError, ConfigError

GHCR = "ghcr.io"
IDENTITY_TOKEN_USER = "<token>"  # docker's convention for identity tokens


@dataclass(frozen=True)
class Credentials:
    """A username and a password or token. The password never shows in ``repr``/``str``."""

    username: str
    password: str = field(repr=False)
    source: str = field(default="", compare=False)  # where they came from, for messages ("env REG_USER/REG_PASS")

    def __repr__(self) -> str:
        src = f", source={self.source!r}" if self.source else ""
        return f"Credentials(username={self.username!r}, password='***'{src})"

    __str__ = __repr__

    @property
    def is_identity_token(self) -> bool:
        """An OAuth refresh token from ``docker login`` (Docker config ``IdentityToken``), not a password."""
        return self.username == IDENTITY_TOKEN_USER


def _host_key(host: str) -> str:
    """Compare hosts the way Docker does: no scheme, no path, lower case, index.docker.io == docker.io."""
    host = host.strip()
    for prefix in ("https://", "http://"):
        if host.lower().startswith(prefix):
            host = host[len(prefix) :]
    host = host.split("/", 1)[0].lower()
    if host in ("index.docker.io", "registry-1.docker.io"):
        host = "docker.io"
    return host


def resolve_credentials(
    host: str,
    env: Mapping[str, str],
    env_names: tuple[str, str] | None = None,
) -> Credentials | None:
    """Credentials for ``host`` (``ghcr.io``, ``registry.example.com:5000``), or None when none are configured.

    Raises ConfigError when only half of a configured pair is set, AuthError when a credential helper fails.
    """
    key = _host_key(host)

    if env_names:
        if len(env_names) != 2 or not all(isinstance(n, str) and n for n in env_names):
            raise ConfigError(
                f"registry credential variables must be two names (user, password), got {env_names!r}",
                hint='set e.g. registry.credentials_env = ["REGISTRY_USER", "REGISTRY_PASSWORD"]',
            )
        user_var, pass_var = env_names
        user, password = env.get(user_var), env.get(pass_var)
        if user and password:
            return Credentials(user, password, source=f"env {user_var}/{pass_var}")
        if user or password:
            missing = pass_var if user else user_var
            raise ConfigError(
                f"registry credentials for {host}: {missing} is not set (its pair is)",
                hint=f"set both {user_var} and {pass_var}, or neither",
            )

    if env.get("GITHUB_ACTIONS") == "true" and key == GHCR and env.get("GITHUB_TOKEN"):
        return Credentials(
            env.get("GITHUB_ACTOR") or "github-actions",
            env["GITHUB_TOKEN"],
            source="GitHub Actions GITHUB_ACTOR/GITHUB_TOKEN",
        )

    ci_registry = env.get("CI_REGISTRY")
    if ci_registry and _host_key(ci_registry) == key and env.get("CI_REGISTRY_USER") and env.get("CI_REGISTRY_PASSWORD"):
        return Credentials(
            env["CI_REGISTRY_USER"],
            env["CI_REGISTRY_PASSWORD"],
            source="GitLab CI CI_REGISTRY_USER/CI_REGISTRY_PASSWORD",
        )

    return _from_docker_config(key, env)


def docker_config_path(env: Mapping[str, str]) -> Path:
    """The Docker config file the docker CLI would read: ``$DOCKER_CONFIG/config.json`` or
    ``~/.docker/config.json``."""
    if env.get("DOCKER_CONFIG"):
        return Path(env["DOCKER_CONFIG"]) / "config.json"
    home = env.get("HOME") or os.path.expanduser("~")
    return Path(home) / ".docker" / "config.json"


def _from_docker_config(key: str, env: Mapping[str, str]) -> Credentials | None:
    path = docker_config_path(env)
    if not path.is_file():
        return None
    import docker.auth  # lazy: the SDK is slow to import
    import docker.errors

    try:
        config = docker.auth.load_config(config_path=str(path))
        entry = config.resolve_authconfig(key)
    except docker.errors.DockerException as exc:
        # The SDK's message names the helper and its error output; it holds no secret.
        raise AuthError(
            f"could not read registry credentials for {key} from {path}: {exc}",
            hint="check the credential helper named in credsStore/credHelpers is installed and logged in "
            f"(docker login {key})",
        ) from None
    if not entry:
        return None
    username = entry.get("Username") or entry.get("username")
    password = entry.get("Password") or entry.get("password")
    if entry.get("IdentityToken") and not password:
        # An identity token is an OAuth2 refresh token: the registry client trades it at the token endpoint.
        username, password = IDENTITY_TOKEN_USER, entry["IdentityToken"]
    if not username or not password:
        return None
    return Credentials(username, password, source=f"docker config {path}")


def docker_auth_config(creds: Credentials | None) -> dict | None:
    """The ``auth_config`` dict the docker SDK's ``push``/``pull`` take, or None without credentials."""
    if creds is None:
        return None
    if creds.is_identity_token:
        return {"identitytoken": creds.password}
    return {"username": creds.username, "password": creds.password}
