"""A temporary Docker config for one CLI build that talks to registries itself (``--push``, a registry cache):
the credentials the tool resolved, and nothing else.

``temporary_docker_config(auths, env)`` makes a private directory (0700) with a ``config.json`` (0600) that
holds only ``auths``, links the user's CLI plugins, buildx builders and contexts into it (so ``buildx``,
``--builder NAME`` and ``DOCKER_CONTEXT`` keep working), yields the environment with ``DOCKER_CONFIG``
pointing there, and removes the directory afterwards, whatever happened. The values never reach argv or
output: the CLI reads them from the file.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from typing import Iterator, Mapping

from image_release.adapters.engine.endpoint import docker_config_dir
from image_release.errors import AuthError

# What the CLI keeps next to config.json and a build may need (linked, not copied).
_SHARED = ("cli-plugins", "buildx", "contexts")
_DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")


def config_auths(auths: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """``{"auths": ...}`` entries of a Docker config, from host -> {"username", "password"} or
    {"identitytoken"} (optionally with "username") or {"registrytoken"}."""
    entries: dict[str, dict[str, str]] = {}
    for host, cred in auths.items():
        key = _host_key(host)
        token = cred.get("identitytoken") or cred.get("identity_token")
        if token:
            user = cred.get("username") or "<token>"
            entries[key] = {"auth": _b64(f"{user}:"), "identitytoken": str(token)}
        elif cred.get("registrytoken"):
            entries[key] = {"registrytoken": str(cred["registrytoken"])}
        elif cred.get("username") and cred.get("password") is not None:
            entries[key] = {"auth": _b64(f"{cred['username']}:{cred['password']}")}
        else:
            raise AuthError(f"the credentials given for {host} have neither a username and password nor a token",
                            hint="give {'username': ..., 'password': ...} or {'identitytoken': ...} per registry")
    return entries


@contextmanager
def temporary_docker_config(auths: Mapping[str, Mapping[str, str]], env: Mapping[str, str]) -> Iterator[dict]:
    """The CLI environment ``env`` with ``DOCKER_CONFIG`` at a private directory holding only ``auths``."""
    entries = config_auths(auths)  # before anything is written: a bad entry leaves nothing behind
    user_dir = docker_config_dir(env)
    tmp = tempfile.mkdtemp(prefix="image-release-docker-config-")  # mode 0700
    try:
        path = os.path.join(tmp, "config.json")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump({"auths": entries}, fh)
        for name in _SHARED:
            source = os.path.join(user_dir, name)
            if os.path.isdir(source):
                os.symlink(source, os.path.join(tmp, name))
        yield dict(env, DOCKER_CONFIG=tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _host_key(host: str) -> str:
    """The config's key for ``host``: a bare host[:port]; Docker Hub under its historical URL."""
    host = host.strip()
    for prefix in ("https://", "http://"):
        if host.lower().startswith(prefix):
            host = host[len(prefix):]
    host = host.split("/", 1)[0]
    return "https://index.docker.io/v1/" if host.lower() in _DOCKER_HUB else host


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")
