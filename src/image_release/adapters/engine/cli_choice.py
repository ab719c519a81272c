"""Which docker CLI builds with BuildKit: ``docker buildx``, or a classic client (before 23.0) that has
BuildKit built in (``DOCKER_BUILDKIT=1 docker build``). Probing runs short processes, so a candidate's
answer, a failure too, is remembered for the life of the process."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from image_release.adapters.engine.messages import short

if TYPE_CHECKING:
    from image_release.adapters.engine.base import EngineBase

# Where to look for a docker CLI when none is configured (after ``docker`` on PATH). Debian's /usr/bin/docker
# (20.10) has BuildKit built in; newer clients need the buildx plugin for it.
CLI_CANDIDATES = ("/usr/bin/docker", "/usr/local/bin/docker")


@dataclass(frozen=True)
class BuildKitClient:
    cli: str
    via: str  # "buildx" | "classic-cli"
    version: str | None


Probe = tuple["BuildKitClient | None", str]

# Probe results per (cli realpath, docker endpoint), failures included: probing runs processes, and the
# answer does not change within a process (6 processes per run when a failing probe ran twice). One lock
# per key, so two threads (the warm-up and the build) asking at once probe once.
_PROBE_CACHE: dict[tuple[str, str], Probe] = {}
_PROBE_LOCKS: dict[tuple[str, str], threading.Lock] = {}
_PROBE_LOCK = threading.Lock()


def cli_candidates(eng: EngineBase) -> list[str]:
    """The configured CLI (``eng.cli``), else ``docker`` on PATH and CLI_CANDIDATES, each real file once."""
    path = eng.env.get("PATH")
    if eng.cli:
        found = eng.cli if os.sep in eng.cli else shutil.which(eng.cli, path=path)
        return [found] if found and os.access(found, os.X_OK) else []
    seen, result = set(), []
    for cand in (shutil.which("docker", path=path), *CLI_CANDIDATES):
        if not cand or not os.path.isfile(cand) or not os.access(cand, os.X_OK):
            continue
        real = os.path.realpath(cand)
        if real in seen:
            continue
        seen.add(real)
        result.append(os.path.abspath(cand))
    return result


def probe(eng: EngineBase, cli: str) -> Probe:
    """Whether ``cli`` builds with BuildKit, and why: asked at most once per process and endpoint."""
    key = (os.path.realpath(cli), eng.docker_host)
    with _PROBE_LOCK:
        lock = _PROBE_LOCKS.setdefault(key, threading.Lock())
    with lock:
        if key not in _PROBE_CACHE:
            _PROBE_CACHE[key] = _probe_uncached(eng, cli)
        return _PROBE_CACHE[key]


def _run(eng: EngineBase, argv: list[str], buildkit: bool = False, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, env=eng._cli_env(buildkit), **kwargs)


def _probe_uncached(eng: EngineBase, cli: str) -> Probe:
    try:
        v = _run(eng, [cli, "--version"], timeout=30, stdin=subprocess.DEVNULL)
        version = v.stdout.strip() or None
        bx = _run(eng, [cli, "buildx", "version"], timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{cli}: cannot run it ({short(exc)})"
    if bx.returncode == 0:
        return BuildKitClient(cli, "buildx", version), f"{cli}: docker buildx works"
    # Without buildx: clients before 23.0 have BuildKit built in (DOCKER_BUILDKIT=1 docker build);
    # later ones need the buildx plugin. The version says which, without a probe build (that
    # cost 0.2-0.35 s on every run). Only an unreadable version falls back to the probe build.
    major = client_major(version)
    if major is not None:
        if major < 23:
            return BuildKitClient(cli, "classic-cli", version), \
                f"{cli}: a {major}.x client, DOCKER_BUILDKIT=1 docker build"
        return None, f"{cli}: a {major}.x client without the buildx plugin (BuildKit needs it)"
    return _probe_build(eng, cli, version)


def _probe_build(eng: EngineBase, cli: str, version: str | None) -> Probe:
    """A tiny ``FROM scratch`` BuildKit build, for a client whose version cannot be read."""
    try:
        pr = _run(eng, [cli, "build", "--progress=plain", "--output", "type=tar,dest=" + os.devnull, "-"],
                  buildkit=True, input="FROM scratch\n", timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"{cli}: BuildKit probe failed ({short(exc)})"
    if pr.returncode == 0:
        return BuildKitClient(cli, "classic-cli", version), f"{cli}: DOCKER_BUILDKIT=1 docker build works"
    last = (pr.stderr.strip().splitlines() or pr.stdout.strip().splitlines() or ["no output"])[-3:]
    return None, f"{cli}: no buildx and DOCKER_BUILDKIT=1 docker build fails ({' '.join(s.strip() for s in last)})"


def choose(eng: EngineBase) -> tuple[BuildKitClient | None, tuple[str, ...]]:
    """The first candidate whose BuildKit works, and why the others were passed over."""
    notes = []
    candidates = cli_candidates(eng)
    if not candidates:
        notes.append(f"no docker CLI found ({eng.cli!r})" if eng.cli else "no docker CLI on PATH")
    # Ask every candidate at once (a few short `--version`/`buildx version` processes each), then
    # take the first that works, in order: the same answer as one by one, in a third of the time.
    if len(candidates) > 1:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=len(candidates)) as pool:
            results = list(pool.map(lambda cli: probe(eng, cli), candidates))
    else:
        results = [probe(eng, cli) for cli in candidates]
    for client, note in results:
        if client is not None:
            return client, tuple(notes)
        notes.append(note)
    return None, tuple(notes)


def client_major(version: str | None) -> int | None:
    """The major version of ``docker --version`` output ("Docker version 20.10.24+dfsg1, build ...")."""
    m = re.search(r"version (\d+)\.", version or "")
    return int(m.group(1)) if m else None
