"""BuildKit builds through the docker CLI: the argv, the run (plain progress rendered live, its tail kept),
and the result (image id from ``--iidfile``, pushed digest from ``--metadata-file``).

The argv never holds a secret value: build secrets are ``--secret id=X,env=VAR`` or ``src=PATH`` and
BuildKit reads the value itself.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
from collections import deque
from typing import TYPE_CHECKING

from image_release.adapters.engine.cli_choice import BuildKitClient
from image_release.adapters.engine.display import BuildKitRenderer, Display
from image_release.adapters.engine.messages import build_hint, build_message, buildkit_failure, short
from image_release.adapters.engine.paths import secret_path
from image_release.core.build_spec import BuildSecret, BuildSpec
from image_release.errors import BuildError

if TYPE_CHECKING:
    from image_release.adapters.engine import BuildResult, Engine


def buildkit_argv(spec: BuildSpec, context: str, dockerfile: str, bk: BuildKitClient,
                  iidfile: str, metadata_file: str | None = None) -> tuple[list[str], bool]:
    """The CLI argv for a BuildKit build, and whether the build pushes. Holds no secret value."""
    argv = _command(spec, bk)
    argv += ["--progress=plain", "--file", dockerfile, "--iidfile", iidfile]
    argv += _inputs(spec)
    argv += _cache(spec, bk)
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
    outputs, push = _outputs(spec, bk, metadata_file)
    return argv + outputs + [context], push


def _command(spec: BuildSpec, bk: BuildKitClient) -> list[str]:
    """``docker buildx build [--builder NAME]``, or ``docker build`` where that client can do the build."""
    if bk.via == "buildx":
        return [bk.cli, "buildx", "build"] + (["--builder", spec.builder] if spec.builder else [])
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
            hint="install the docker buildx plugin (with a docker-container builder), or give one platform",
        )
    return [bk.cli, "build"]


def _inputs(spec: BuildSpec) -> list[str]:
    """Tags, build args, labels, target and platforms."""
    argv: list[str] = []
    for tag in spec.tags:
        argv += ["--tag", tag]
    for key, value in spec.build_args:
        argv += ["--build-arg", f"{key}={value}"]
    for key, value in spec.labels:
        argv += ["--label", f"{key}={value}"]
    if spec.target:
        argv += ["--target", spec.target]
    if spec.platforms:
        argv += ["--platform", ",".join(spec.platforms)]
    return argv


def _cache(spec: BuildSpec, bk: BuildKitClient) -> list[str]:
    """``--cache-from`` and ``--cache-to``; without buildx only the inline cache (a build arg) is possible."""
    argv: list[str] = []
    for ref in spec.cache_from:
        argv += ["--cache-from", ref]
    for dest in spec.cache_to:
        if bk.via == "buildx":
            argv += ["--cache-to", dest]
        elif _is_inline_cache(dest):
            if not any(k == "BUILDKIT_INLINE_CACHE" for k, _ in spec.build_args) and \
                    "BUILDKIT_INLINE_CACHE=1" not in argv:
                argv += ["--build-arg", "BUILDKIT_INLINE_CACHE=1"]
        else:
            raise BuildError(
                f"cache export to {dest!r} needs docker buildx; {bk.cli} with the engine's built-in "
                "BuildKit can only embed the cache in the image (cache_to: type=inline)",
                hint="install the docker buildx plugin, or use cache_to: type=inline",
            )
    return argv


def _outputs(spec: BuildSpec, bk: BuildKitClient, metadata_file: str | None) -> tuple[list[str], bool]:
    """Where the result goes: the classic client loads it; buildx loads one platform and pushes several."""
    if bk.via != "buildx":
        return [], False
    argv = ["--metadata-file", metadata_file] if metadata_file else []
    if len(spec.platforms) > 1:
        if not spec.tags:
            raise BuildError(
                "a multi-platform build with docker buildx must push, and no tag was given",
                hint="give at least one image tag, or build one platform",
            )
        return argv + ["--push"], True
    return argv + ["--load"], False


def _secret_arg(secret: BuildSecret) -> str:
    if secret.env:
        return f"id={secret.id},env={secret.env}"
    return f"id={secret.id},src={secret_path(secret)}"


def _is_inline_cache(dest: str) -> bool:
    parts = dict(p.split("=", 1) for p in dest.split(",") if "=" in p)
    return parts.get("type") == "inline" or dest.strip() == "inline"


def run_cli(eng: Engine, argv: list[str], display: Display) -> tuple[list[str], int, bool]:
    """Run the CLI, render its plain progress, return (last lines, return code, timed out)."""
    tail: deque[str] = deque(maxlen=400)
    try:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=eng._cli_env(True), text=True, encoding="utf-8", errors="replace", bufsize=1,
        )
    except OSError as exc:
        raise BuildError(f"cannot run {argv[0]}: {short(exc)}",
                         hint="set the engine's cli setting to a working docker client") from None
    timed_out = threading.Event()

    def _kill() -> None:
        timed_out.set()
        proc.kill()

    timer = threading.Timer(eng.timeout, _kill)
    timer.daemon = True
    timer.start()
    render = BuildKitRenderer(display)
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


def build_cli(eng: Engine, spec: BuildSpec, context: str, dockerfile: str, bk: BuildKitClient) -> BuildResult:
    """Run one BuildKit build; BuildError with BuildKit's own message (failed step, its last output)."""
    from image_release.adapters.engine import BuildResult

    display = eng._display()
    with tempfile.TemporaryDirectory(prefix="image-release-build-") as tmp:
        iidfile = os.path.join(tmp, "iid")
        metadata = os.path.join(tmp, "metadata.json")
        argv, push = eng.buildkit_argv(spec, context, dockerfile, bk, iidfile, metadata)
        tail, rc, timed_out = eng._run_cli(argv, display)
        display.close()
        if timed_out:
            raise BuildError(f"the BuildKit build did not finish within {eng.timeout:g} s and was stopped",
                             hint="raise the engine timeout, or look for a step that hangs")
        if rc != 0:
            final, step, output = buildkit_failure(tail)
            raise BuildError(build_message(final, step, output), hint=build_hint(final, buildkit=True))
        image_id, meta = _read(iidfile), _read_json(metadata)
    digest = meta.get("containerimage.digest") if push else None
    if not image_id:
        image_id = str(meta.get("containerimage.config.digest") or "")
    if not image_id and spec.tags and not push:
        image_id = eng._inspect_id(spec.tags[0]) or ""
    if not image_id:
        raise BuildError("the BuildKit build finished without reporting an image id",
                         hint="check the docker CLI output above")
    display.line(f"built {image_id}" + (f" as {', '.join(spec.tags)}" if spec.tags else "")
                 + (f" and pushed {digest}" if push and digest else ""))
    return BuildResult(image_id=image_id, tags=tuple(spec.tags), builder="buildkit", digest=digest, pushed=push)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
