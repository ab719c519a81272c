"""Which Docker engine to talk to, decided as the docker CLI decides it, so the SDK and the CLI builds reach
the same daemon: the address given to ``Engine``, else ``DOCKER_HOST``, else the context named by
``DOCKER_CONTEXT``, else the current context of ``docker context use`` (``currentContext`` in the Docker
config), else the local socket.

The docker SDK has the same lookup (``docker.context.ContextAPI``), but it reads the Docker config from
``os.environ`` only; the engine's environment is a mapping it is given, so the few files are read here:
``$DOCKER_CONFIG/config.json`` and ``contexts/meta/<sha256 of the name>/meta.json``, with the context's TLS
files in ``contexts/tls/<sha256 of the name>/docker/``.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from typing import Mapping

from image_release.errors import EngineError

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class Endpoint:
    host: str  # the daemon address (unix://, tcp://, ssh://, npipe://)
    source: str  # "argument" | "DOCKER_HOST" | "DOCKER_CONTEXT" | "docker context use" | "default"
    context: str | None = None  # the docker context it comes from; the CLI is given its name
    tls_dir: str | None = None  # the context's ca.pem/cert.pem/key.pem, when it has them
    skip_tls_verify: bool = False

    def describe(self) -> str:
        return f"{self.host} (docker context {self.context})" if self.context else self.host


def docker_config_dir(env: Mapping[str, str]) -> str:
    """``$DOCKER_CONFIG``, else ``$HOME/.docker``: where the CLI keeps config.json, contexts, plugins, builders."""
    if env.get("DOCKER_CONFIG"):
        return env["DOCKER_CONFIG"]
    home = env.get("HOME") or os.path.expanduser("~")
    return os.path.join(home, ".docker")


def resolve_endpoint(docker_host: str | None, env: Mapping[str, str]) -> Endpoint:
    """The engine's endpoint; EngineError with the fix when the context named does not exist."""
    if docker_host:
        return Endpoint(docker_host, "argument")
    if env.get("DOCKER_HOST"):
        return Endpoint(env["DOCKER_HOST"], "DOCKER_HOST")
    config = docker_config_dir(env)
    name, source = env.get("DOCKER_CONTEXT"), "DOCKER_CONTEXT"
    if not name:
        name, source = _current_context(config), "docker context use"
    if not name or name == "default":
        return Endpoint(DEFAULT_DOCKER_HOST, "default")
    return _load_context(config, name, source)


def _current_context(config: str) -> str | None:
    try:
        with open(os.path.join(config, "config.json"), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    name = data.get("currentContext") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else None


def _load_context(config: str, name: str, source: str) -> Endpoint:
    cid = hashlib.sha256(name.encode("utf-8")).hexdigest()
    meta_file = os.path.join(config, "contexts", "meta", cid, "meta.json")
    try:
        with open(meta_file, encoding="utf-8") as fh:
            meta = json.load(fh)
        docker = meta["Endpoints"]["docker"]
        host = str(docker["Host"])
    except (OSError, ValueError, KeyError, TypeError):
        raise EngineError(
            f"docker context {name!r} (from {source}) is not defined in {config}",
            hint="list the contexts with `docker context ls`; create it, select another with "
            "`docker context use NAME`, or unset DOCKER_CONTEXT",
        ) from None
    tls_dir = os.path.join(config, "contexts", "tls", cid, "docker")
    return Endpoint(host, source, context=name, tls_dir=tls_dir if os.path.isdir(tls_dir) else None,
                    skip_tls_verify=bool(docker.get("SkipTLSVerify")))


def sdk_client(endpoint: Endpoint, env: Mapping[str, str], timeout: int):
    """A docker SDK client for ``endpoint`` (DOCKER_HOST with its DOCKER_TLS_VERIFY/DOCKER_CERT_PATH)."""
    import docker

    if endpoint.source == "DOCKER_HOST":
        # DOCKER_HOST is set, so no SDK version looks at a context here (7.2 would only without it;
        # older ones have no use_context argument at all)
        return docker.from_env(environment=dict(env), timeout=timeout)
    return docker.DockerClient(timeout=timeout, **sdk_client_kwargs(endpoint))


def sdk_client_kwargs(endpoint: Endpoint) -> dict:
    """``DockerClient`` arguments for an address or a context: its TLS files, ssh:// through the ssh client."""
    tls = False
    if endpoint.tls_dir:
        from docker.tls import TLSConfig

        files = {n: os.path.join(endpoint.tls_dir, f"{n}.pem") for n in ("ca", "cert", "key")}
        have = {n: p for n, p in files.items() if os.path.isfile(p)}
        cert = (have["cert"], have["key"]) if "cert" in have and "key" in have else None
        tls = TLSConfig(client_cert=cert, ca_cert=have.get("ca"), verify=not endpoint.skip_tls_verify)
    # ssh:// as the CLI does it (the ssh client), not through paramiko, which is not a dependency
    return {"base_url": endpoint.host, "tls": tls, "use_ssh_client": endpoint.host.startswith("ssh://")}


def cli_endpoint_env(endpoint: Endpoint, env: dict[str, str]) -> None:
    """Point the docker CLI's environment ``env`` at ``endpoint``: a context by its name (the CLI reads its
    TLS files and builders itself), anything else by DOCKER_HOST."""
    if endpoint.context:
        env["DOCKER_CONTEXT"] = endpoint.context
        env.pop("DOCKER_HOST", None)
    else:
        env["DOCKER_HOST"] = endpoint.host
        env.pop("DOCKER_CONTEXT", None)
