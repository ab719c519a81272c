"""``BuildSpec.builder``: a buildx builder by name (docker-container, kubernetes, remote drivers: whatever
``docker buildx create`` made), or the address of a BuildKit daemon, as ``BUILDKIT_HOST`` spells it
(``tcp://buildkitd:1234``, ``unix:///run/buildkit/buildkitd.sock``, ``docker-container://NAME``,
``kube-pod://NAME``). For an address the engine makes (once) a buildx builder with the ``remote`` driver,
named after the address, and builds with it."""

from __future__ import annotations

import hashlib
import subprocess
import threading
from typing import TYPE_CHECKING

from image_release.adapters.engine.cli_choice import BuildKitClient
from image_release.adapters.engine.messages import short
from image_release.errors import BuildError

if TYPE_CHECKING:
    from image_release.adapters.engine.base import EngineBase

ADDRESS_SCHEMES = ("tcp://", "unix://", "docker-container://", "kube-pod://", "npipe://", "ssh://")
_MADE: set[tuple[str, str]] = set()
_LOCK = threading.Lock()


def is_address(builder: str) -> bool:
    return builder.startswith(ADDRESS_SCHEMES)


def builder_name(builder: str) -> str:
    """The buildx builder name for ``builder``: itself, or ``image-release-<hash>`` for an address."""
    if not is_address(builder):
        return builder
    return "image-release-" + hashlib.sha256(builder.encode("utf-8")).hexdigest()[:12]


def ensure_builder(eng: EngineBase, bk: BuildKitClient, builder: str, env: dict[str, str]) -> str:
    """The name to give ``--builder``; for a BuildKit address, a remote-driver builder made if missing."""
    name = builder_name(builder)
    if not is_address(builder):
        return name
    key = (bk.cli, builder)
    with _LOCK:
        if key in _MADE:
            return name
        if _run(bk, ["buildx", "inspect", name], env).returncode != 0:
            made = _run(bk, ["buildx", "create", "--name", name, "--driver", "remote", builder], env)
            if made.returncode != 0:
                why = (made.stderr or made.stdout).strip().splitlines()[-1:] or ["no output"]
                raise BuildError(
                    f"cannot make a buildx builder for the BuildKit daemon at {builder}: {eng.redact(why[0])}",
                    hint="check the address (tcp://HOST:PORT, unix:///PATH, docker-container://NAME, "
                    "kube-pod://NAME) and that buildx has the remote driver (buildx 0.8 or later)",
                )
        _MADE.add(key)
    return name


def _run(bk: BuildKitClient, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([bk.cli, *args], capture_output=True, text=True, env=env, timeout=120,
                              stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        raise BuildError(f"cannot run {bk.cli} {' '.join(args[:2])}: {short(exc)}",
                         hint="set the engine's cli setting to a working docker client with buildx") from None
