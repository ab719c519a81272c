"""What every engine part shares: the daemon address, the SDK client, the CLI's environment, the display.

``EngineBase`` is the state half of ``Engine`` (the facade in ``__init__``); the build, BuildKit and push
modules are functions of it. The docker SDK is imported inside the methods that use it.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Callable, Mapping, TextIO

from image_release.adapters.engine.display import Display
from image_release.adapters.engine.messages import api_message, short
from image_release.errors import EngineError, ReleaseError

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
PROGRESS_MODES = ("auto", "plain", "tty", "quiet")


def _same(text: str) -> str:
    return text


def redacts_errors(method):
    """A public method whose typed errors leave with ``self.redact`` applied to their message and hint
    (a build's last output, the daemon's text: anything the engine relays may hold a secret value)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except ReleaseError as exc:
            exc.message = self.redact(exc.message)
            exc.hint = self.redact(exc.hint) if exc.hint else exc.hint
            exc.args = (exc.message,)
            raise

    return wrapper


class EngineBase:
    """The connection to one Docker engine: see ``Engine`` for the parameters."""

    def __init__(
        self,
        docker_host: str | None = None,
        out: TextIO | None = sys.stderr,
        progress: str = "auto",
        timeout: float = 600,
        cli: str | None = None,
        env: Mapping[str, str] | None = None,
        redact: Callable[[str], str] | None = None,
    ):
        if progress not in PROGRESS_MODES:
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
        self.redact: Callable[[str], str] = redact or _same
        self._client_obj = None

    def __repr__(self) -> str:
        return f"Engine(docker_host={self.docker_host!r}, progress={self.progress!r}, cli={self.cli!r})"

    def _display(self) -> Display:
        mode = self.progress
        if mode == "auto":
            isatty = getattr(self.out, "isatty", None)
            tty = bool(isatty and isatty())
            mode = "tty" if tty and not self.env.get("CI") else "plain"
        return Display(self.out, mode, self.redact)

    def _unreachable(self, exc: BaseException) -> EngineError:
        return EngineError(
            f"cannot reach the Docker engine at {self.docker_host}: {short(exc)}",
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
            raise EngineError(f"{what} failed: {short(exc)}") from None

    def _cli_env(self, buildkit: bool) -> dict[str, str]:
        env = dict(self.env)
        env["DOCKER_HOST"] = self.docker_host
        env.pop("DOCKER_CONTEXT", None)  # DOCKER_HOST decides, as for the SDK
        if buildkit:
            env["DOCKER_BUILDKIT"] = "1"
        return env

    def _ping(self) -> None:
        import docker

        try:
            self._api_call("pinging the engine", self._client().api.ping)
        except docker.errors.APIError as exc:
            raise EngineError(f"the Docker engine at {self.docker_host} answered the ping with an error: "
                              f"{api_message(exc)}") from None

    def _inspect_id(self, ref: str) -> str | None:
        import docker

        try:
            return str(self._api_call("inspecting an image", self._client().api.inspect_image, ref)["Id"])
        except docker.errors.NotFound:
            return None
        except docker.errors.APIError as exc:
            raise EngineError(f"inspecting {ref} failed: {api_message(exc)}") from None
