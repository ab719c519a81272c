"""The container engine adapter: build, tag and push images on a Docker engine.

Two build paths, one result type:

* ``sdk``: the classic builder through the docker SDK (Engine API, ``client.api.build``). Every event of the
  stream is checked: the daemon reports a failed step as an ``{"error": ...}`` event inside a normal HTTP 200
  stream, never as an exception.
* ``buildkit``: the docker CLI, because the SDK has no BuildKit. Either ``docker buildx build`` (with
  ``--builder NAME`` for a named, possibly remote, builder) or, on a classic client that has BuildKit built in
  (Debian's docker.io 20.10 at ``/usr/bin/docker``), ``DOCKER_BUILDKIT=1 docker build``. The CLI always runs
  with ``--progress=plain``; this module renders it (plain lines, or a compact live line on a terminal) and
  keeps the tail of it so a failure carries BuildKit's own message.

Which path ``BuildSpec.buildkit`` selects:

* ``"off"``: the SDK. A BuildKit-only feature (platforms, cache export, secrets, a buildx builder) is a
  BuildError naming the feature.
* ``"on"``: BuildKit; a BuildError with the fix when no working BuildKit client is found.
* ``"auto"`` (default): BuildKit when a working client is found (Docker's own default since 23.0, and the
  only way to honour ``RUN --mount`` in a Dockerfile), the SDK otherwise; a BuildKit-only feature without
  BuildKit is a BuildError naming the feature and the fix.

Publishing: build with the CLI, push with the SDK (``push``), so registry credentials only ever travel in the
SDK's ``X-Registry-Auth`` header: never on argv, never in output. The one exception is a multi-platform build
with ``docker buildx``: a manifest list cannot be loaded into the classic image store, so that build pushes its
tags itself (``--push``, credentials from the user's Docker config) and returns the pushed digest.

Paths: a relative ``BuildSpec.dockerfile`` is resolved against ``BuildSpec.context`` (as the SDK and Compose do).
Both are checked before the daemon is contacted. Only local directory contexts are supported.

Secrets: ``BuildSecret`` names an environment variable or a file; the CLI gets ``--secret id=X,env=VAR`` or
``--secret id=X,src=PATH`` and reads the value itself, so the value is never on argv nor in the image.

The docker SDK is imported lazily (inside methods) so importing this module stays cheap.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, TextIO

from image_release.core.build_spec import BuildSecret, BuildSpec
from image_release.errors import (
    AuthError,
    BuildError,
    EngineError,
    PublishError,
    RegistryError,
    RegistryUnreachable,
)

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
# Where to look for a docker CLI when none is configured (after ``docker`` on PATH). Debian's /usr/bin/docker
# (20.10) has BuildKit built in; newer clients need the buildx plugin for it.
CLI_CANDIDATES = ("/usr/bin/docker", "/usr/local/bin/docker")

_LAYER_DONE = ("Pushed", "Layer already exists")
# The classic builder's own lines, left out of a failure's "last output".
_BUILDER_CHATTER = re.compile(r"^(--->|Removing intermediate container|Successfully (built|tagged) )")
_SECRET_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class EngineInfo:
    server_version: str
    api_version: str
    os: str
    arch: str
    buildkit: bool  # a BuildKit build path works
    buildkit_via: str | None  # "buildx" | "classic-cli" | None
    cli: str | None  # absolute path of the docker CLI used for BuildKit builds
    cli_version: str | None
    notes: tuple[str, ...] = ()  # why candidate CLIs were passed over


@dataclass(frozen=True)
class BuildResult:
    image_id: str  # sha256:... (config digest) of the local image; for a buildx --push build, see digest
    tags: tuple[str, ...]
    builder: str  # "sdk" | "buildkit"
    digest: str | None = None  # manifest digest, only when the build pushed (multi-platform buildx)
    pushed: bool = False  # True when the build itself pushed its tags (multi-platform buildx)


@dataclass(frozen=True)
class _BuildKitClient:
    cli: str
    via: str  # "buildx" | "classic-cli"
    version: str | None


# Probe results per (cli realpath, docker host): probing runs a tiny build, so do it once per process.
_PROBE_CACHE: dict[tuple[str, str], tuple[_BuildKitClient | None, str]] = {}
_PROBE_LOCK = threading.Lock()


# --------------------------------------------------------------------------------------------------- display


class _Display:
    """Progress output: ``plain`` writes lines; ``tty`` keeps one updating line per step; ``quiet`` nothing."""

    def __init__(self, out: TextIO | None, mode: str):
        self.out = out
        self.mode = mode if out is not None else "quiet"
        self._open = False
        self._title = ""

    def _width(self) -> int:
        return max(20, shutil.get_terminal_size((100, 20)).columns - 1)

    def _write(self, text: str) -> None:
        try:
            self.out.write(text)  # type: ignore[union-attr]
            self.out.flush()  # type: ignore[union-attr]
        except (OSError, ValueError):  # a closed pipe must not fail the build
            self.mode = "quiet"

    def step(self, title: str) -> None:
        """A new step: plain prints it; tty starts a new live line."""
        if self.mode == "plain":
            self._write(title + "\n")
        elif self.mode == "tty":
            if self._open:
                self._write("\n")
            self._title = title
            self._open = True
            self._write(title[: self._width()])

    def detail(self, text: str, plain: bool = True) -> None:
        """Progress inside the current step: plain prints it (unless ``plain`` is False); tty rewrites the line."""
        if self.mode == "plain":
            if plain:
                self._write(text + "\n")
        elif self.mode == "tty":
            line = f"{self._title}  {text}" if self._title else text
            self._write("\r\x1b[K" + line[: self._width()])
            self._open = True

    def line(self, text: str) -> None:
        """A permanent line (both modes)."""
        if self.mode == "quiet":
            return
        self.close()
        self._write(text + "\n")

    def close(self) -> None:
        if self.mode == "tty" and self._open:
            self._write("\n")
        self._open = False
        self._title = ""


def _percent(current: Any, total: Any) -> int | None:
    """Push/pull progress percentage; the daemon's ``current`` can exceed ``total``: clamp to 0..100."""
    try:
        cur, tot = float(current), float(total)
    except (TypeError, ValueError):
        return None
    if tot <= 0:
        return None
    return int(max(0.0, min(100.0, cur * 100.0 / tot)))


# ---------------------------------------------------------------------------------------------------- engine


class Engine:
    """A Docker engine: ``check``, ``build``, ``push``, ``tag``, ``image_exists``, ``remove_image``.

    ``docker_host``: the daemon address (``unix:///...``, ``tcp://...``); default ``$DOCKER_HOST`` or the local
    socket. The same address is given to the CLI for BuildKit builds, so both paths talk to one daemon.
    ``out``: where progress goes (None: nowhere). ``progress``: ``auto`` (a live display on a terminal, plain
    lines otherwise and whenever ``CI`` is set), ``plain``, ``tty`` or ``quiet``. ``timeout``: seconds, for
    SDK requests and for a whole CLI build. ``cli``: the docker CLI for BuildKit builds (a path or a name on
    PATH); default: the first of ``docker`` on PATH, /usr/bin/docker, /usr/local/bin/docker whose BuildKit
    works. ``env``: the environment for the CLI and for secret lookups (default ``os.environ``).
    """

    def __init__(
        self,
        docker_host: str | None = None,
        out: TextIO | None = sys.stderr,
        progress: str = "auto",
        timeout: float = 600,
        cli: str | None = None,
        env: Mapping[str, str] | None = None,
    ):
        if progress not in ("auto", "plain", "tty", "quiet"):
            raise EngineError(
                f"unknown progress mode {progress!r}", hint="use one of: auto, plain, tty, quiet"
            )
        self.env = dict(os.environ if env is None else env)
        self._host_given = bool(docker_host)
        self.docker_host = docker_host or self.env.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
        self.out = out
        self.progress = progress
        self.timeout = timeout
        self.cli = cli
        self._client_obj = None

    def __repr__(self) -> str:
        return f"Engine(docker_host={self.docker_host!r}, progress={self.progress!r}, cli={self.cli!r})"

    # ------------------------------------------------------------------------------------------ internals

    def _display(self) -> _Display:
        mode = self.progress
        if mode == "auto":
            isatty = getattr(self.out, "isatty", None)
            tty = bool(isatty and isatty())
            mode = "tty" if tty and not self.env.get("CI") else "plain"
        return _Display(self.out, mode)

    def _unreachable(self, exc: BaseException) -> EngineError:
        return EngineError(
            f"cannot reach the Docker engine at {self.docker_host}: {_short(exc)}",
            hint="start dockerd (scripts/services.sh start for the test services) or set DOCKER_HOST "
            "to a running engine",
        )

    def _client(self):
        if self._client_obj is None:
            import docker  # lazy: keeps `invoke --list` fast
            import requests

            try:
                if self._host_given:
                    self._client_obj = docker.DockerClient(base_url=self.docker_host, timeout=int(self.timeout))
                else:  # DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH, as the CLI reads them
                    self._client_obj = docker.from_env(environment=self.env, timeout=int(self.timeout))
            except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
                raise self._unreachable(exc) from None
        return self._client_obj

    def _api_call(self, what: str, fn, *args, **kwargs):
        """Run one SDK call; connection failures become EngineError, API errors are re-raised as is."""
        import docker
        import requests

        try:
            return fn(*args, **kwargs)
        except requests.exceptions.ConnectionError as exc:
            raise self._unreachable(exc) from None
        except docker.errors.APIError:
            raise
        except docker.errors.DockerException as exc:
            raise EngineError(f"{what} failed: {_short(exc)}") from None

    def _cli_env(self, buildkit: bool) -> dict[str, str]:
        env = dict(self.env)
        env["DOCKER_HOST"] = self.docker_host
        env.pop("DOCKER_CONTEXT", None)  # DOCKER_HOST decides, as for the SDK
        if buildkit:
            env["DOCKER_BUILDKIT"] = "1"
        return env

    def _cli_candidates(self) -> list[str]:
        path = self.env.get("PATH")
        if self.cli:
            found = self.cli if os.sep in self.cli else shutil.which(self.cli, path=path)
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

    def _probe(self, cli: str) -> tuple[_BuildKitClient | None, str]:
        key = (os.path.realpath(cli), self.docker_host)
        with _PROBE_LOCK:
            if key in _PROBE_CACHE:
                return _PROBE_CACHE[key]
        result = self._probe_uncached(cli)
        if result[0] is not None:  # failures are not cached: the daemon may just not be up yet
            with _PROBE_LOCK:
                _PROBE_CACHE[key] = result
        return result

    def _probe_uncached(self, cli: str) -> tuple[_BuildKitClient | None, str]:
        version = None
        try:
            v = subprocess.run([cli, "--version"], capture_output=True, text=True, timeout=30,
                               env=self._cli_env(False), stdin=subprocess.DEVNULL)
            version = v.stdout.strip() or None
            bx = subprocess.run([cli, "buildx", "version"], capture_output=True, text=True, timeout=30,
                                env=self._cli_env(False), stdin=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError) as exc:
            return None, f"{cli}: cannot run it ({_short(exc)})"
        if bx.returncode == 0:
            return _BuildKitClient(cli, "buildx", version), f"{cli}: docker buildx works"
        # Without buildx: clients before 23.0 have BuildKit built in (DOCKER_BUILDKIT=1 docker build);
        # later ones need the buildx plugin. The version says which, without a probe build (that
        # cost 0.2-0.35 s on every run). Only an unreadable version falls back to the probe build.
        major = _client_major(version)
        if major is not None:
            if major < 23:
                return _BuildKitClient(cli, "classic-cli", version), \
                    f"{cli}: a {major}.x client, DOCKER_BUILDKIT=1 docker build"
            return None, f"{cli}: a {major}.x client without the buildx plugin (BuildKit needs it)"
        try:
            pr = subprocess.run(
                [cli, "build", "--progress=plain", "--output", "type=tar,dest=" + os.devnull, "-"],
                input="FROM scratch\n", capture_output=True, text=True, timeout=60,
                env=self._cli_env(True),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return None, f"{cli}: BuildKit probe failed ({_short(exc)})"
        if pr.returncode == 0:
            return _BuildKitClient(cli, "classic-cli", version), f"{cli}: DOCKER_BUILDKIT=1 docker build works"
        last = (pr.stderr.strip().splitlines() or pr.stdout.strip().splitlines() or ["no output"])[-3:]
        return None, f"{cli}: no buildx and DOCKER_BUILDKIT=1 docker build fails ({' '.join(s.strip() for s in last)})"

    def _buildkit(self) -> tuple[_BuildKitClient | None, tuple[str, ...]]:
        notes = []
        candidates = self._cli_candidates()
        if not candidates:
            notes.append(f"no docker CLI found ({self.cli!r})" if self.cli else "no docker CLI on PATH")
        # Ask every candidate at once (a few short `--version`/`buildx version` processes each), then
        # take the first that works, in order: the same answer as one by one, in a third of the time.
        if len(candidates) > 1:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(max_workers=len(candidates)) as pool:
                results = list(pool.map(self._probe, candidates))
        else:
            results = [self._probe(cli) for cli in candidates]
        for client, note in results:
            if client is not None:
                return client, tuple(notes)
            notes.append(note)
        return None, tuple(notes)

    def _ping(self) -> None:
        import docker

        try:
            self._api_call("pinging the engine", self._client().api.ping)
        except docker.errors.APIError as exc:
            raise EngineError(f"the Docker engine at {self.docker_host} answered the ping with an error: "
                              f"{_api_message(exc)}") from None

    # ------------------------------------------------------------------------------------------ check

    def check(self) -> EngineInfo:
        """Reach the daemon and find a BuildKit path. Unreachable daemon: EngineError with the fix."""
        import docker

        client = self._client()
        try:
            ver = self._api_call("reading the engine version", client.api.version)
        except docker.errors.APIError as exc:
            raise EngineError(f"the Docker engine at {self.docker_host} refused a version request: "
                              f"{_api_message(exc)}") from None
        bk, notes = self._buildkit()
        return EngineInfo(
            server_version=str(ver.get("Version", "")),
            api_version=str(ver.get("ApiVersion", "")),
            os=str(ver.get("Os", "")),
            arch=str(ver.get("Arch", "")),
            buildkit=bk is not None,
            buildkit_via=bk.via if bk else None,
            cli=bk.cli if bk else None,
            cli_version=bk.version if bk else None,
            notes=notes,
        )

    # ------------------------------------------------------------------------------------------ build

    def build(self, spec: BuildSpec) -> BuildResult:
        """Build ``spec``; BuildError (with the daemon's or BuildKit's message) on any failure."""
        context, dockerfile = _check_paths(spec)
        _check_secrets(spec, self.env)
        mode = (spec.buildkit or "auto").strip().lower()
        if mode not in ("auto", "on", "off"):
            raise BuildError(f"unknown buildkit setting {spec.buildkit!r}", hint="use one of: auto, on, off")
        needs = spec.needs_buildkit
        if mode == "off":
            if needs:
                raise BuildError(
                    f"{_join(needs)} need{'s' if len(needs) == 1 else ''} BuildKit, but BuildKit is turned off "
                    f"for this build",
                    hint="set buildkit to auto or on (with docker buildx, or a classic docker client with "
                    "BuildKit built in), or remove " + _join(needs) + " from the build settings",
                )
            return self._build_sdk(spec, context, dockerfile)
        bk, notes = self._buildkit()
        if bk is None:
            why = "; ".join(notes) or "no docker CLI found"
            if mode == "on" or needs:
                self._ping()  # a daemon that is down fails every probe: say that, not "no BuildKit"
                asked = "buildkit is on" if mode == "on" else f"{_join(needs)} need BuildKit"
                raise BuildError(
                    f"{asked}, but no working BuildKit client was found ({why})",
                    hint="install the docker buildx plugin, or point the engine's cli setting at a docker "
                    "client with BuildKit built in (Debian's /usr/bin/docker 20.10)"
                    + ("" if mode == "on" and not needs else ", or remove " + _join(needs))
                    + ("; or set buildkit to auto/off to use the classic builder" if not needs else ""),
                )
            return self._build_sdk(spec, context, dockerfile)
        return self._build_cli(spec, context, dockerfile, bk)

    # -- classic builder through the SDK

    def _build_sdk(self, spec: BuildSpec, context: str, dockerfile: str) -> BuildResult:
        import docker

        client = self._client()
        display = self._display()
        tags = tuple(spec.tags)
        first = tags[0] if tags else None
        kwargs: dict[str, Any] = dict(
            path=context,
            dockerfile=dockerfile,
            tag=first,
            rm=True,
            forcerm=True,
            decode=True,
            pull=bool(spec.pull),
            nocache=bool(spec.no_cache),
        )
        if spec.build_args:
            kwargs["buildargs"] = dict(spec.build_args)
        if spec.labels:
            kwargs["labels"] = dict(spec.labels)
        if spec.target:
            kwargs["target"] = spec.target
        if spec.cache_from:
            kwargs["cache_from"] = list(spec.cache_from)
        if spec.network:
            kwargs["network_mode"] = spec.network

        image_id: str | None = None
        step = ""
        step_output: deque[str] = deque(maxlen=12)
        pending = ""
        try:
            stream = self._api_call("starting the build", client.api.build, **kwargs)
            for event in stream:
                if not isinstance(event, dict):
                    continue
                if "error" in event or "errorDetail" in event:
                    if pending.strip():
                        step_output.append(pending.strip())
                    display.close()
                    raise BuildError(
                        _build_message(_event_error(event), step, list(step_output)),
                        hint=_build_hint(_event_error(event), buildkit=False),
                    )
                if "stream" in event:
                    pending += str(event["stream"])
                    while "\n" in pending:
                        line, pending = pending.split("\n", 1)
                        line = line.rstrip("\r")
                        if not line.strip():
                            continue
                        if re.match(r"^Step \d+/\d+ :", line):
                            step = line
                            step_output.clear()
                            display.step(line)
                        else:
                            if not _BUILDER_CHATTER.match(line.strip()):
                                step_output.append(line.strip())
                            display.detail(line.strip())
                    # 'Step 1/2 : FROM x' arrives before its newline: show it at once on a terminal
                elif "status" in event:
                    text = _status_text(event)
                    ticking = bool((event.get("progressDetail") or {}).get("current"))
                    display.detail(text, plain=not ticking)
                aux = event.get("aux")
                if isinstance(aux, dict) and aux.get("ID"):
                    image_id = str(aux["ID"])
        except docker.errors.APIError as exc:
            display.close()
            msg = _api_message(exc)
            raise BuildError(f"docker build failed: {msg}", hint=_build_hint(msg, buildkit=False)) from None
        except (BuildError, EngineError):
            raise
        except Exception as exc:  # the stream broke (daemon gone, timeout)
            display.close()
            import requests

            if isinstance(exc, requests.exceptions.ConnectionError):
                raise self._unreachable(exc) from None
            raise BuildError(f"docker build stream broke off: {_short(exc)}",
                             hint="check the Docker engine (its log) and retry") from None
        if pending.strip():
            display.detail(pending.strip())
        if not image_id:
            # Older daemons only say "Successfully built <short id>": resolve the first tag instead.
            if first:
                image_id = self._inspect_id(first)
            if not image_id:
                display.close()
                raise BuildError("docker build ended without reporting an image id",
                                 hint="check the Docker engine's log; the build stream was incomplete")
        if len(tags) > 1:
            self.tag(image_id, tags[1:])
        display.line(f"built {image_id}" + (f" as {', '.join(tags)}" if tags else ""))
        return BuildResult(image_id=image_id, tags=tags, builder="sdk")

    # -- BuildKit through the CLI

    def buildkit_argv(self, spec: BuildSpec, context: str, dockerfile: str, bk: _BuildKitClient,
                      iidfile: str, metadata_file: str | None = None) -> tuple[list[str], bool]:
        """The CLI argv for a BuildKit build, and whether the build pushes. Holds no secret value."""
        push = False
        if bk.via == "buildx":
            argv = [bk.cli, "buildx", "build"]
            if spec.builder:
                argv += ["--builder", spec.builder]
        else:
            argv = [bk.cli, "build"]
            if spec.builder:
                raise BuildError(
                    f"a named buildx builder ({spec.builder!r}) needs docker buildx, and {bk.cli} has none "
                    "(it builds with the engine's built-in BuildKit)",
                    hint="install the docker buildx plugin, or remove the builder setting",
                )
            if len(spec.platforms) > 1:
                raise BuildError(
                    f"building for several platforms ({', '.join(spec.platforms)}) needs docker buildx; "
                    f"{bk.cli} with the engine's built-in BuildKit builds one platform at a time",
                    hint="install the docker buildx plugin (with a docker-container builder), "
                    "or give one platform",
                )
        argv += ["--progress=plain", "--file", dockerfile, "--iidfile", iidfile]
        for tag in spec.tags:
            argv += ["--tag", tag]
        build_args = list(spec.build_args)
        for key, value in build_args:
            argv += ["--build-arg", f"{key}={value}"]
        for key, value in spec.labels:
            argv += ["--label", f"{key}={value}"]
        if spec.target:
            argv += ["--target", spec.target]
        if spec.platforms:
            argv += ["--platform", ",".join(spec.platforms)]
        for ref in spec.cache_from:
            argv += ["--cache-from", ref]
        for dest in spec.cache_to:
            if bk.via == "buildx":
                argv += ["--cache-to", dest]
            elif _is_inline_cache(dest):
                if not any(k == "BUILDKIT_INLINE_CACHE" for k, _ in build_args):
                    argv += ["--build-arg", "BUILDKIT_INLINE_CACHE=1"]
            else:
                raise BuildError(
                    f"cache export to {dest!r} needs docker buildx; {bk.cli} with the engine's built-in "
                    "BuildKit can only embed the cache in the image (cache_to: type=inline)",
                    hint="install the docker buildx plugin, or use cache_to: type=inline",
                )
        for secret in spec.secrets:
            argv += ["--secret", _secret_arg(secret)]
        if spec.network:
            argv += ["--network", spec.network]
            if bk.via == "buildx" and spec.network == "host":
                argv += ["--allow", "network.host"]
        if spec.pull:
            argv.append("--pull")
        if spec.no_cache:
            argv.append("--no-cache")
        if bk.via == "buildx":
            if metadata_file:
                argv += ["--metadata-file", metadata_file]
            if len(spec.platforms) > 1:
                if not spec.tags:
                    raise BuildError(
                        "a multi-platform build with docker buildx must push, and no tag was given",
                        hint="give at least one image tag, or build one platform",
                    )
                argv.append("--push")
                push = True
            else:
                argv.append("--load")
        argv.append(context)
        return argv, push

    def _build_cli(self, spec: BuildSpec, context: str, dockerfile: str, bk: _BuildKitClient) -> BuildResult:
        display = self._display()
        with tempfile.TemporaryDirectory(prefix="image-release-build-") as tmp:
            iidfile = os.path.join(tmp, "iid")
            metadata = os.path.join(tmp, "metadata.json")
            argv, push = self.buildkit_argv(spec, context, dockerfile, bk, iidfile, metadata)
            tail, rc, timed_out = self._run_cli(argv, display)
            display.close()
            if timed_out:
                raise BuildError(f"the BuildKit build did not finish within {self.timeout:g} s and was stopped",
                                 hint="raise the engine timeout, or look for a step that hangs")
            if rc != 0:
                final, step, output = _buildkit_failure(tail)
                raise BuildError(_build_message(final, step, output), hint=_build_hint(final, buildkit=True))
            image_id = _read(iidfile)
            meta = {}
            try:
                with open(metadata, encoding="utf-8") as fh:
                    meta = json.load(fh)
            except (OSError, ValueError):
                pass
        digest = meta.get("containerimage.digest") if push else None
        if not image_id:
            image_id = str(meta.get("containerimage.config.digest") or "")
        if not image_id and spec.tags and not push:
            image_id = self._inspect_id(spec.tags[0]) or ""
        if not image_id:
            raise BuildError("the BuildKit build finished without reporting an image id",
                             hint="check the docker CLI output above")
        display.line(f"built {image_id}" + (f" as {', '.join(spec.tags)}" if spec.tags else "")
                     + (f" and pushed {digest}" if push and digest else ""))
        return BuildResult(image_id=image_id, tags=tuple(spec.tags), builder="buildkit",
                           digest=digest, pushed=push)

    def _run_cli(self, argv: list[str], display: _Display) -> tuple[list[str], int, bool]:
        """Run the CLI, render its plain progress, return (last lines, return code, timed out)."""
        tail: deque[str] = deque(maxlen=400)
        try:
            proc = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=self._cli_env(True), text=True, encoding="utf-8", errors="replace", bufsize=1,
            )
        except OSError as exc:
            raise BuildError(f"cannot run {argv[0]}: {_short(exc)}",
                             hint="set the engine's cli setting to a working docker client") from None
        timed_out = threading.Event()

        def _kill() -> None:
            timed_out.set()
            proc.kill()

        timer = threading.Timer(self.timeout, _kill)
        timer.daemon = True
        timer.start()
        render = _BuildKitRenderer(display)
        try:
            assert proc.stdout is not None
            for raw in proc.stdout:
                line = raw.rstrip("\n").rstrip("\r")
                tail.append(line)
                render.feed(line)
            rc = proc.wait()
        finally:
            timer.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        return list(tail), rc, timed_out.is_set()

    def _inspect_id(self, ref: str) -> str | None:
        import docker

        try:
            return str(self._api_call("inspecting an image", self._client().api.inspect_image, ref)["Id"])
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            raise EngineError(f"inspecting {ref} failed: {_api_message(exc)}") from None

    # ------------------------------------------------------------------------------------------ images

    def image_exists(self, ref: str) -> bool:
        return self._inspect_id(ref) is not None

    def inspect(self, ref: str) -> dict:
        """The engine's ``docker image inspect`` of ``ref``; EngineError when it is absent."""
        import docker

        try:
            return self._api_call("inspecting an image", self._client().api.inspect_image, ref)
        except docker.errors.NotFound:
            raise EngineError(f"no image {ref} in the Docker engine",
                              hint="build it first (invoke build)") from None
        except docker.errors.APIError as exc:
            raise EngineError(f"inspecting {ref} failed: {_api_message(exc)}") from None

    def tag(self, image_id: str, refs: Iterable[str]) -> None:
        """Give the local image ``image_id`` each of ``refs`` (``registry/repo:tag``)."""
        import docker
        from docker.utils import parse_repository_tag

        client = self._client()
        for ref in refs:
            repo, tag = parse_repository_tag(ref)
            if "@" in ref or not repo:
                raise EngineError(f"cannot tag an image as {ref!r}", hint="give name:tag, not a digest")
            try:
                ok = self._api_call("tagging an image", client.api.tag, image_id, repo, tag or "latest",
                                    force=True)
            except docker.errors.APIError as exc:
                raise EngineError(f"tagging {image_id} as {ref} failed: {_api_message(exc)}") from None
            if not ok:
                raise EngineError(f"the engine refused to tag {image_id} as {ref}")

    def remove_image(self, ref: str, force: bool = False) -> bool:
        """Remove a local image or tag; False when it was not there."""
        import docker

        try:
            self._api_call("removing an image", self._client().api.remove_image, ref, force=force)
            return True
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError as exc:
            raise EngineError(f"removing {ref} failed: {_api_message(exc)}",
                              hint="a container may still use it (remove_image(ref, force=True))") from None

    # ------------------------------------------------------------------------------------------ push

    def push(self, ref: str, auth_config: dict | None = None) -> str:
        """Push ONE ``registry/repo:tag`` through the SDK; return the manifest digest the daemon reports.

        Errors arrive as events in the stream; each one becomes RegistryUnreachable (registry down),
        AuthError (credentials refused), EngineError (no such local image) or RegistryError, with the
        daemon's message. ``auth_config`` travels in the X-Registry-Auth header only and is never printed.
        """
        import docker
        from docker.utils import parse_repository_tag

        repo, tag = parse_repository_tag(ref)
        if "@" in ref or not tag:
            raise PublishError(
                f"cannot push {ref!r}: a push needs one explicit tag (name:tag)",
                hint="give the full reference with its tag, e.g. registry/repo:1.2.3",
            )
        client = self._client()
        display = self._display()
        display.step(f"pushing {ref}")
        digest: str | None = None
        layers: dict[str, str] = {}
        kwargs: dict[str, Any] = dict(tag=tag, stream=True, decode=True)
        if auth_config:
            kwargs["auth_config"] = dict(auth_config)
        try:
            stream = self._api_call("starting the push", client.api.push, repo, **kwargs)
            for event in stream:
                if not isinstance(event, dict):
                    continue
                if "error" in event or "errorDetail" in event:
                    display.close()
                    raise _push_error(ref, _event_error(event))
                aux = event.get("aux")
                if isinstance(aux, dict) and aux.get("Digest"):
                    digest = str(aux["Digest"])
                status = event.get("status")
                if not status:
                    continue
                layer = event.get("id")
                detail = event.get("progressDetail") or {}
                if layer:
                    pct = _percent(detail.get("current"), detail.get("total"))
                    changed = layers.get(layer) != status
                    layers[layer] = status
                    done = sum(1 for s in layers.values() if s in _LAYER_DONE or s.startswith("Mounted from"))
                    text = f"{layer}: {status}" + (f" {pct}%" if pct is not None else "")
                    display.detail(f"[{done}/{len(layers)} layers] {text}", plain=False)
                    if changed and display.mode == "plain":
                        display.detail(f"{layer}: {status}")
                else:
                    display.detail(str(status))
        except docker.errors.APIError as exc:
            display.close()
            raise _push_error(ref, _api_message(exc)) from None
        except (RegistryError, AuthError, EngineError, PublishError):
            raise
        except Exception as exc:
            display.close()
            import requests

            if isinstance(exc, requests.exceptions.ConnectionError):
                raise self._unreachable(exc) from None
            raise PublishError(f"pushing {ref} broke off: {_short(exc)}",
                               hint="check the Docker engine and the registry, then retry") from None
        if not digest:
            display.close()
            raise PublishError(f"pushing {ref} ended without a manifest digest from the engine",
                               hint="check the Docker engine's log; the push stream was incomplete")
        display.line(f"pushed {ref} {digest}")
        return digest


# --------------------------------------------------------------------------------------------------- helpers


class _BuildKitRenderer:
    """Turns BuildKit's ``--progress=plain`` lines into the display: one step per vertex (``#N``)."""

    _LINE = re.compile(r"^#(\d+) (.*)$")

    def __init__(self, display: _Display):
        self.display = display
        self.seen: set[str] = set()
        self.current: str | None = None

    def feed(self, line: str) -> None:
        d = self.display
        if d.mode == "plain":
            d._write(line + "\n")
            return
        if d.mode != "tty":
            return
        m = self._LINE.match(line)
        if not m:
            if line.strip() and not line.startswith("------"):
                d.detail(line.strip())
            return
        num, rest = m.groups()
        if rest.startswith("sha256:"):
            return
        if num not in self.seen:
            self.seen.add(num)
            self.current = num
            d.step(rest)
            return
        text = re.sub(r"^\d+\.\d+ ", "", rest)
        d.detail(text if num == self.current else f"#{num} {text}")


def _check_paths(spec: BuildSpec) -> tuple[str, str]:
    """Absolute context and Dockerfile paths; BuildError with the fix when either is missing."""
    context = os.path.abspath(spec.context or ".")
    if not os.path.exists(context):
        raise BuildError(f"build context {spec.context!r} does not exist ({context})",
                         hint="set the build context to an existing directory (relative to where you run)")
    if not os.path.isdir(context):
        raise BuildError(f"build context {spec.context!r} is not a directory ({context})",
                         hint="set the build context to a directory")
    name = spec.dockerfile or "Dockerfile"
    dockerfile = name if os.path.isabs(name) else os.path.join(context, name)
    dockerfile = os.path.normpath(dockerfile)
    if not os.path.isfile(dockerfile):
        raise BuildError(
            f"Dockerfile {name!r} not found (looked for {dockerfile})",
            hint="create it, or set the Dockerfile path (a relative path is taken relative to the build context)",
        )
    return context, dockerfile


def _check_secrets(spec: BuildSpec, env: Mapping[str, str]) -> None:
    seen = set()
    for secret in spec.secrets:
        if not secret.id or not _SECRET_ID.match(secret.id):
            raise BuildError(f"build secret id {secret.id!r} is not valid",
                             hint="use letters, digits, '.', '_' and '-' only")
        if secret.id in seen:
            raise BuildError(f"build secret {secret.id!r} is given twice", hint="give each secret id once")
        seen.add(secret.id)
        if bool(secret.env) == bool(secret.src):
            raise BuildError(f"build secret {secret.id!r} needs exactly one source: env or src",
                             hint="set env: NAME_OF_VARIABLE or src: path/to/file")
        if secret.env:
            if not _ENV_NAME.match(secret.env):
                raise BuildError(f"build secret {secret.id!r}: {secret.env!r} is not an environment variable name")
            if secret.env not in env:
                raise BuildError(f"build secret {secret.id!r}: environment variable {secret.env} is not set",
                                 hint=f"export {secret.env} (its value is passed to BuildKit, never on the "
                                 "command line), or drop the secret")
        else:
            if "," in secret.src or not os.path.isfile(secret.src):
                raise BuildError(f"build secret {secret.id!r}: file {secret.src!r} not found",
                                 hint="give an existing file path without commas")


def _secret_arg(secret: BuildSecret) -> str:
    if secret.env:
        return f"id={secret.id},env={secret.env}"
    return f"id={secret.id},src={os.path.abspath(secret.src)}"


def _is_inline_cache(dest: str) -> bool:
    parts = dict(p.split("=", 1) for p in dest.split(",") if "=" in p)
    return parts.get("type") == "inline" or dest.strip() == "inline"


def _join(items: Iterable[str]) -> str:
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 400 else text[:400] + "..."


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _event_error(event: dict) -> str:
    detail = event.get("errorDetail")
    if isinstance(detail, dict) and detail.get("message"):
        return str(detail["message"]).strip()
    return str(event.get("error") or detail or "unknown error").strip()


def _api_message(exc) -> str:
    explanation = getattr(exc, "explanation", None)
    if explanation:
        return str(explanation).strip()
    return _short(exc)


def _status_text(event: dict) -> str:
    parts = [str(event.get("id") or ""), str(event.get("status") or ""), str(event.get("progress") or "")]
    return " ".join(p for p in parts if p).strip()


def _build_message(final: str, step: str, output: list[str]) -> str:
    text = f"image build failed: {final}"
    if step:
        text += f"\n  step: {step}"
    if output:
        text += "\n  last output:\n" + "\n".join("    " + line for line in output[-10:])
    return text


def _build_hint(message: str, buildkit: bool) -> str:
    low = message.lower()
    if "requires buildkit" in low or ("--mount" in low and not buildkit):
        return "this Dockerfile uses BuildKit syntax: set buildkit to auto or on with a BuildKit-capable client"
    if "target stage" in low or "failed to reach build target" in low:
        return "check the target setting against the stage names (FROM ... AS name) in the Dockerfile"
    if "pull access denied" in low or "registry-1.docker.io" in low or "no such host" in low \
            or "manifest unknown" in low or "not found: manifest" in low:
        return "a base image could not be found or pulled: build it locally first or use a reachable registry"
    if "returned a non-zero code" in low or "exit code" in low or "did not complete successfully" in low:
        return "a RUN step failed: fix the command in the Dockerfile (the step and its last output are shown above)"
    if "network" in low and ("bridge" in low or "not found" in low):
        return "dockerd has no default bridge here: set the build network to host"
    return "fix the Dockerfile or build settings named above and build again"


def _client_major(version: str | None) -> int | None:
    """The major version of ``docker --version`` output ("Docker version 20.10.24+dfsg1, build ...")."""
    import re

    m = re.search(r"version (\d+)\.", version or "")
    return int(m.group(1)) if m else None


def _buildkit_failure(lines: list[str]) -> tuple[str, str, list[str]]:
    """(final error, failed step, its last output lines) from BuildKit's plain progress."""
    final = ""
    for line in reversed(lines):
        s = line.strip()
        if not s or s.startswith("#") or set(s) <= {"-"}:
            continue
        if re.match(r"^\d+ \| ", s) or s.startswith(">") or re.match(r"^Dockerfile:\d+", s):
            continue
        final = re.sub(r"^(ERROR|error):\s*", "", s)
        break
    failed_num, step = None, ""
    titles: dict[str, str] = {}
    for line in lines:
        m = re.match(r"^#(\d+) (.*)$", line)
        if not m:
            continue
        num, rest = m.groups()
        titles.setdefault(num, rest)
        if rest.startswith("ERROR:"):
            failed_num = num
            if not final:
                final = rest[len("ERROR:"):].strip()
    output: list[str] = []
    if failed_num is not None:
        step = titles.get(failed_num, "")
        for line in lines:
            m = re.match(r"^#(\d+) (\d+\.\d+) (.*)$", line)
            if m and m.group(1) == failed_num:
                output.append(m.group(3))
    if not final:
        final = next((ln.strip() for ln in reversed(lines) if ln.strip()), "docker build failed without a message")
    return final, step, output[-10:]


def _push_error(ref: str, message: str) -> Exception:
    low = message.lower()
    text = f"pushing {ref} failed: {message}"
    if "does not exist locally" in low or "tag does not exist" in low or "no such image" in low:
        return EngineError(text, hint="build or tag the image first (invoke build)")
    if any(s in low for s in ("connection refused", "no such host", "i/o timeout", "connection reset",
                              "network is unreachable", "no route to host", "dial tcp", "unexpected eof")):
        return RegistryUnreachable(text, hint="start the registry or correct its address in the image name")
    if any(s in low for s in ("unauthorized", "authentication required", "denied", "forbidden",
                              "incorrect username or password")):
        return AuthError(text, hint="log in to the registry or give credentials with push permission "
                         "(docker login, or the CI's registry variables)")
    if "http response to https client" in low or "x509" in low or "certificate" in low:
        return RegistryUnreachable(text, hint="the registry's TLS does not match: use https with a valid "
                                   "certificate (loopback registries are spoken to over plain HTTP)")
    status = None
    m = re.search(r"\b(4\d\d|5\d\d)\b", message)
    if m:
        status = int(m.group(1))
    return RegistryError(text, hint="check the registry's log and the repository name", status=status)
