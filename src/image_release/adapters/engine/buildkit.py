"""BuildKit builds through the docker CLI: the argv, the run (plain progress rendered live, its tail kept),
and the result (image id from ``--iidfile``, pushed digest from ``--metadata-file``).

The argv never holds a secret value: build secrets are ``--secret id=X,env=VAR`` or ``src=PATH`` and
BuildKit reads the value itself; registry credentials for a build that pushes are in a temporary
``DOCKER_CONFIG`` (``docker_config``). Outputs (``BuildSpec.output``), as each client can do them:

==============  ==========================================  ==============================================
output          docker buildx build                          DOCKER_BUILDKIT=1 docker build (20.10)
==============  ==========================================  ==============================================
load            ``--load`` (one platform)                    the default (the engine's image store)
push            ``--push``                                   BuildError: needs buildx
oci:PATH        ``--output type=oci,dest=PATH,tar=false``    loaded, then exported to PATH (no OCI exporter)
cache-only      ``--output type=cacheonly``                  ``--output type=cacheonly``
==============  ==========================================  ==============================================
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import threading
from collections import deque
from contextlib import nullcontext
from typing import TYPE_CHECKING, Mapping

from image_release.adapters.engine.builders import builder_name, ensure_builder
from image_release.adapters.engine.cli_choice import BuildKitClient
from image_release.adapters.engine.display import BuildKitRenderer, Display
from image_release.adapters.engine.docker_config import temporary_docker_config
from image_release.adapters.engine.messages import build_hint, build_message, buildkit_failure, short
from image_release.adapters.engine.oci_export import layout_digest, save_oci_layout
from image_release.adapters.engine.paths import secret_path
from image_release.adapters.engine.results import BuildResult
from image_release.core.build_spec import BuildSecret, BuildSpec
from image_release.errors import BuildError

if TYPE_CHECKING:
    from image_release.adapters.engine import Engine


def buildkit_argv(spec: BuildSpec, context: str, dockerfile: str, bk: BuildKitClient,
                  iidfile: str | None, metadata_file: str | None = None) -> tuple[list[str], bool]:
    """The CLI argv for a BuildKit build, and whether the build pushes. Holds no secret value.
    ``iidfile`` is left out for a cache-only build (there is no image id to write)."""
    argv = _command(spec, bk)
    argv += ["--progress=plain", "--file", dockerfile]
    if iidfile and spec.output_kind != "cache-only":
        argv += ["--iidfile", iidfile]
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
        return [bk.cli, "buildx", "build"] + (["--builder", builder_name(spec.builder)] if spec.builder else [])
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
    """Where the result goes (see the table above), and whether the build pushes."""
    kind = spec.output_kind
    if kind == "load" and len(spec.platforms) > 1:
        raise BuildError(f"a build for several platforms ({', '.join(spec.platforms)}) cannot be loaded into "
                         "the engine's image store",
                         hint="choose output push, oci:PATH or cache-only for a multi-platform build")
    if bk.via != "buildx":
        if kind == "push":
            raise BuildError(f"a build that pushes itself (output push) needs docker buildx, and {bk.cli} has none",
                             hint="build with output load and push the image afterwards, or install buildx")
        return (["--output", "type=cacheonly"] if kind == "cache-only" else []), False
    argv = ["--metadata-file", metadata_file] if metadata_file else []
    if kind == "push":
        return argv + ["--push"], True
    if kind == "oci":
        return argv + ["--output", f"type=oci,dest={os.path.abspath(spec.oci_path or '')},tar=false"], False
    if kind == "cache-only":
        return argv + ["--output", "type=cacheonly"], False
    return argv + ["--load"], False


def _secret_arg(secret: BuildSecret) -> str:
    if secret.env:
        return f"id={secret.id},env={secret.env}"
    return f"id={secret.id},src={secret_path(secret)}"


def _is_inline_cache(dest: str) -> bool:
    parts = dict(p.split("=", 1) for p in dest.split(",") if "=" in p)
    return parts.get("type") == "inline" or dest.strip() == "inline"


def run_cli(eng: Engine, argv: list[str], display: Display,
            env: Mapping[str, str] | None = None) -> tuple[list[str], int, bool]:
    """Run the CLI (in ``env``, default the engine's CLI environment), render its plain progress, return
    (last lines, return code, timed out)."""
    tail: deque[str] = deque(maxlen=400)
    try:
        proc = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else eng._cli_env(True), text=True, encoding="utf-8",
            errors="replace", bufsize=1,
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


def build_cli(eng: Engine, spec: BuildSpec, context: str, dockerfile: str, bk: BuildKitClient,
              auths: Mapping[str, Mapping[str, str]] | None = None) -> BuildResult:
    """Run one BuildKit build; BuildError with BuildKit's own message (failed step, its last output).
    With ``auths`` the CLI sees only those registry credentials (a temporary DOCKER_CONFIG)."""
    display = eng._display()
    config = temporary_docker_config(auths, eng._cli_env(True)) if auths else nullcontext(eng._cli_env(True))
    with tempfile.TemporaryDirectory(prefix="image-release-build-") as tmp, config as env:
        iidfile = os.path.join(tmp, "iid")
        metadata = os.path.join(tmp, "metadata.json")
        if spec.builder and bk.via == "buildx":
            ensure_builder(eng, bk, spec.builder, env)
        argv, push = eng.buildkit_argv(spec, context, dockerfile, bk, iidfile, metadata)
        tail, rc, timed_out = eng._run_cli(argv, display, env)
        display.close()
        if timed_out:
            raise BuildError(f"the BuildKit build did not finish within {eng.timeout:g} s and was stopped",
                             hint="raise the engine timeout, or look for a step that hangs")
        if rc != 0:
            final, step, output = buildkit_failure(tail)
            raise BuildError(build_message(final, step, output), hint=build_hint(final, buildkit=True))
        image_id, meta = _read(iidfile), _read_json(metadata)
    result = _result(eng, spec, bk, image_id, meta, push)
    display.line(describe(result))
    return result


def _result(eng: Engine, spec: BuildSpec, bk: BuildKitClient, image_id: str, meta: dict, push: bool) -> BuildResult:
    kind = spec.output_kind
    tags = tuple(spec.tags)
    if kind == "cache-only":
        return BuildResult(image_id="", tags=(), builder="buildkit", output=spec.output)
    digest = str(meta.get("containerimage.digest") or "") or None
    if push:
        return BuildResult(image_id=image_id, tags=tags, builder="buildkit", digest=digest, pushed=True,
                           output=spec.output)
    if kind == "oci" and bk.via == "buildx":
        oci_digest, platform = layout_digest(spec.oci_path or "")
        return BuildResult(image_id=image_id, tags=tags, builder="buildkit", output=spec.output,
                           oci_layout=os.path.abspath(spec.oci_path or ""), oci_digest=oci_digest, platform=platform)
    if not image_id:
        image_id = str(meta.get("containerimage.config.digest") or "")
    if not image_id and tags:
        image_id = eng._inspect_id(tags[0]) or ""
    if not image_id:
        raise BuildError("the BuildKit build finished without reporting an image id",
                         hint="check the docker CLI output above")
    return loaded_result(eng, spec, image_id, "buildkit")


def loaded_result(eng: Engine, spec: BuildSpec, image_id: str, builder: str) -> BuildResult:
    """The result of a build loaded into the engine's store as ``image_id``: its platform, and for an
    ``oci:PATH`` output the image exported to that layout."""
    from image_release.adapters.engine.oci_export import image_platform

    platform = image_platform(eng.inspect(image_id))
    if spec.output_kind != "oci":
        return BuildResult(image_id=image_id, tags=tuple(spec.tags), builder=builder, output=spec.output,
                           platform=platform)
    layout = os.path.abspath(spec.oci_path or "")
    oci_digest, platform = save_oci_layout(eng, image_id, layout, spec.tags[0] if spec.tags else None)
    return BuildResult(image_id=image_id, tags=tuple(spec.tags), builder=builder, output=spec.output,
                       oci_layout=layout, oci_digest=oci_digest, platform=platform)


def describe(result: BuildResult) -> str:
    """The line a build ends with: what was built and where it went (nothing pushed, unless it was)."""
    tags = f" as {', '.join(result.tags)}" if result.tags else ""
    if result.output == "cache-only":
        return "built into the build cache only: nothing loaded, nothing pushed"
    if result.pushed:
        return f"built{tags} and pushed {result.digest or '(no digest reported)'}"
    if result.oci_layout:
        return (f"built {result.oci_digest or result.image_id} ({result.platform or 'all platforms'}) into the OCI "
                f"layout {result.oci_layout}; nothing pushed")
    return f"built {result.image_id}{tags}"


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
