"""The container engine adapter: build, tag and push images on a Docker engine.

``Engine`` is the facade; each concept has its module:

* ``sdk_build``: the classic builder through the docker SDK (Engine API, ``client.api.build``).
* ``buildkit``: the docker CLI, because the SDK has no BuildKit: the argv, the run, the result. Either
  ``docker buildx build`` (with ``--builder NAME`` for a named, possibly remote, builder) or, on a classic
  client that has BuildKit built in (Debian's docker.io 20.10 at ``/usr/bin/docker``),
  ``DOCKER_BUILDKIT=1 docker build``. The CLI always runs with ``--progress=plain``.
* ``cli_choice``: which docker CLI does BuildKit, probed once per process.
* ``display``: progress (plain lines, or a compact live line on a terminal).
* ``messages``: the daemon's and BuildKit's failures, parsed and classified into typed errors.
* ``push``: one tag through the SDK.
* ``docker_config``: the temporary Docker config of a build that pushes; ``builders``: buildx builders and
  BuildKit addresses; ``oci_export``: a local image as an OCI layout; ``results``: EngineInfo, BuildResult.
* ``paths``: where the context and the Dockerfile are, and ``check_build_paths``.
* ``endpoint``: which daemon (an address, ``DOCKER_HOST``, a docker context), for the SDK and the CLI alike.

Which path ``BuildSpec.buildkit`` selects:

* ``"off"``: the SDK.
* ``"on"``: BuildKit; a BuildError with the fix when no working BuildKit client is found.
* ``"auto"`` (default): BuildKit when a working client is found (Docker's own default since 23.0, and the
  only way to honour ``RUN --mount`` in a Dockerfile), the SDK otherwise; a BuildKit-only feature without
  BuildKit is a BuildError naming the feature and the fix.

Inputs are checked once, before anything is built, by the caller (the preflight):
``core.build_spec.validate_build_spec`` (the spec's own shape, the secret variables) and
``check_build_paths`` (the context, the Dockerfile, secret files). ``Engine.build`` trusts a spec that
passed both.

Where a build goes is ``BuildSpec.output``, the caller's choice (``load`` by default; ``push``, ``oci:PATH``,
``cache-only``): no build pushes unless asked. Publishing a loaded image: push with the SDK (``push``), so
registry credentials travel in the SDK's ``X-Registry-Auth`` header: never on argv, never in output. A build
that pushes itself (output ``push``, docker buildx: a multi-platform index) gets the credentials the caller
resolved as ``build(spec, auths=...)``, in a temporary DOCKER_CONFIG (``docker_config``). A one-platform
build to ``oci:PATH`` (or ``export_oci`` of a loaded image) gives the caller an OCI layout to push by digest.

Paths: a relative ``BuildSpec.dockerfile`` is resolved against ``BuildSpec.context`` (as the SDK and Compose do).
Only local directory contexts are supported.

Secrets: ``BuildSecret`` names an environment variable or a file; the CLI gets ``--secret id=X,env=VAR`` or
``--secret id=X,src=PATH`` and reads the value itself, so the value is never on argv nor in the image.

The docker SDK is imported lazily (inside methods) so importing this package stays cheap.
"""

from __future__ import annotations

from typing import Iterable, Mapping

from image_release.adapters.engine import buildkit, cli_choice, oci_export, sdk_build
from image_release.adapters.engine.base import DEFAULT_DOCKER_HOST, EngineBase, redacts_errors
from image_release.adapters.engine.cli_choice import CLI_CANDIDATES, BuildKitClient
from image_release.adapters.engine.messages import api_message, buildkit_failure
from image_release.adapters.engine.paths import build_paths, check_build_paths
from image_release.adapters.engine.results import BuildResult, EngineInfo
from image_release.core.build_spec import BuildSpec, join_words
from image_release.errors import BuildError, EngineError

# The names the tests and the benchmark use (kept from the single-module engine).
_BuildKitClient = BuildKitClient
_buildkit_failure = buildkit_failure

__all__ = [
    "BuildResult", "CLI_CANDIDATES", "DEFAULT_DOCKER_HOST", "Engine", "EngineInfo", "check_build_paths",
]


class Engine(EngineBase):
    """A Docker engine: ``check``, ``build``, ``push``, ``tag``, ``inspect``, ``image_exists``, ``remove_image``.

    ``docker_host``: the daemon address (``unix:///...``, ``tcp://...``); default, as the docker CLI decides:
    ``$DOCKER_HOST`` (with ``DOCKER_TLS_VERIFY``/``DOCKER_CERT_PATH``), else the docker context named by
    ``$DOCKER_CONTEXT`` or selected with ``docker context use``, else the local socket (``Engine.endpoint``).
    The CLI for BuildKit builds is given the same address or context, so both paths talk to one daemon.
    ``out``: where progress goes (None: nowhere). ``progress``: ``auto`` (a live display on a terminal, plain
    lines otherwise and whenever ``CI`` is set), ``plain``, ``tty`` or ``quiet``. ``timeout``: seconds, for
    SDK requests and for a whole CLI build. ``cli``: the docker CLI for BuildKit builds (a path or a name on
    PATH); default: the first of ``docker`` on PATH, /usr/bin/docker, /usr/local/bin/docker whose BuildKit
    works. ``env``: the environment for the CLI (default ``os.environ``). ``redact``: applied to every line
    the engine writes (build and push progress, BuildKit's and the daemon's own lines) and to the message
    and hint of every error it raises, so a Dockerfile that prints a secret does not show it (default: none).
    """

    # -------------------------------------------------------------------------------------- check

    @redacts_errors
    def check(self) -> EngineInfo:
        """Reach the daemon and find a BuildKit path. Unreachable daemon: EngineError with the fix."""
        import docker

        client = self._client()
        try:
            ver = self._api_call("reading the engine version", client.api.version)
        except docker.errors.APIError as exc:
            raise EngineError(f"the Docker engine at {self.docker_host} refused a version request: "
                              f"{api_message(exc)}") from None
        bk, notes = self._buildkit()
        return EngineInfo(
            server_version=str(ver.get("Version", "")), api_version=str(ver.get("ApiVersion", "")),
            os=str(ver.get("Os", "")), arch=str(ver.get("Arch", "")),
            buildkit=bk is not None, buildkit_via=bk.via if bk else None,
            cli=bk.cli if bk else None, cli_version=bk.version if bk else None,
            notes=tuple(self.redact(n) for n in notes),
        )

    def _buildkit(self) -> tuple[BuildKitClient | None, tuple[str, ...]]:
        return cli_choice.choose(self)

    # -------------------------------------------------------------------------------------- build

    @redacts_errors
    def build(self, spec: BuildSpec, auths: Mapping[str, Mapping[str, str]] | None = None) -> BuildResult:
        """Build ``spec`` to its ``output``; BuildError (with the daemon's or BuildKit's message) on any failure.

        ``spec`` is trusted: the caller has run ``validate_build_spec`` and ``check_build_paths`` on it.
        ``auths``: the registry credentials for a BuildKit build that talks to registries itself (output
        push, a registry cache), host -> ``{"username", "password"}`` or ``{"identitytoken"}`` (as
        ``registry_auth.docker_auth_config`` gives them); the CLI then runs with a temporary DOCKER_CONFIG
        holding only these (mode 0600, removed after, never printed)."""
        context, dockerfile = build_paths(spec)
        mode = (spec.buildkit or "auto").strip().lower()
        if mode == "off":
            return sdk_build.build_sdk(self, spec, context, dockerfile)
        bk, notes = self._buildkit()
        if bk is not None:
            return buildkit.build_cli(self, spec, context, dockerfile, bk, auths)
        needs = spec.needs_buildkit
        if mode == "on" or needs:
            self._ping()  # a daemon that is down fails every probe: say that, not "no BuildKit"
            why = "; ".join(notes) or "no docker CLI found"
            asked = "buildkit is on" if mode == "on" else f"{join_words(needs)} need BuildKit"
            raise BuildError(
                f"{asked}, but no working BuildKit client was found ({why})",
                hint="install the docker buildx plugin, or point the engine's cli setting at a docker "
                "client with BuildKit built in (Debian's /usr/bin/docker 20.10)"
                + ("" if mode == "on" and not needs else ", or remove " + join_words(needs))
                + ("; or set buildkit to auto/off to use the classic builder" if not needs else ""),
            )
        return sdk_build.build_sdk(self, spec, context, dockerfile)

    @redacts_errors
    def buildkit_argv(self, spec: BuildSpec, context: str, dockerfile: str, bk: BuildKitClient,
                      iidfile: str, metadata_file: str | None = None) -> tuple[list[str], bool]:
        """The CLI argv for a BuildKit build, and whether the build pushes. Holds no secret value."""
        return buildkit.buildkit_argv(spec, context, dockerfile, bk, iidfile, metadata_file)

    def _run_cli(self, argv: list[str], display, env=None) -> tuple[list[str], int, bool]:
        return buildkit.run_cli(self, argv, display, env)

    @redacts_errors
    def export_oci(self, image: str, layout: str, ref_name: str | None = None) -> tuple[str, str]:
        """Write the local image ``image`` (id or ref) to the OCI image layout directory ``layout`` (for a
        push by digest); return (manifest digest, ``os/arch[/variant]``)."""
        return oci_export.save_oci_layout(self, image, layout, ref_name)

    # -------------------------------------------------------------------------------------- images

    @redacts_errors
    def image_exists(self, ref: str) -> bool:
        return self._inspect_id(ref) is not None

    @redacts_errors
    def inspect(self, ref: str) -> dict:
        """The engine's ``docker image inspect`` of ``ref``; EngineError when it is absent."""
        import docker

        try:
            return self._api_call("inspecting an image", self._client().api.inspect_image, ref)
        except docker.errors.NotFound:
            raise EngineError(f"no image {ref} in the Docker engine",
                              hint="build it first (invoke build)") from None
        except docker.errors.APIError as exc:
            raise EngineError(f"inspecting {ref} failed: {api_message(exc)}") from None

    @redacts_errors
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
                raise EngineError(f"tagging {image_id} as {ref} failed: {api_message(exc)}") from None
            if not ok:
                raise EngineError(f"the engine refused to tag {image_id} as {ref}")

    @redacts_errors
    def remove_image(self, ref: str, force: bool = False) -> bool:
        """Remove a local image or tag; False when it was not there."""
        import docker

        try:
            self._api_call("removing an image", self._client().api.remove_image, ref, force=force)
            return True
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError as exc:
            raise EngineError(f"removing {ref} failed: {api_message(exc)}",
                              hint="a container may still use it (remove_image(ref, force=True))") from None

