"""What every engine part shares: the daemon address, the SDK client, the CLI's environment, the display.

``EngineBase`` is the state half of ``Engine`` (the facade in ``__init__``); the build, BuildKit and export
modules are functions of it. The docker SDK is imported inside the methods that use it.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Callable, Mapping, TextIO

from image_release.adapters.engine.display import Display
from image_release.adapters.engine.endpoint import DEFAULT_DOCKER_HOST, Endpoint, cli_endpoint_env, \
    resolve_endpoint, sdk_client
from image_release.adapters.engine.messages import api_message, short
from image_release.errors import EngineError, ReleaseError

__all__ = ["DEFAULT_DOCKER_HOST", "EngineBase", "redacts_errors"]
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
        self._host_arg = docker_host or None
        self._endpoint: Endpoint | None = None
        self.out = out
        self.progress = progress
        self.timeout = timeout
        self.cli = cli
        self.redact: Callable[[str], str] = redact or _same
        self._client_obj = None

    def __repr__(self) -> str:
        where = self._endpoint.describe() if self._endpoint else (self._host_arg or "unresolved")
        return f"Engine(docker_host={where!r}, progress={self.progress!r}, cli={self.cli!r})"

    @property
    def endpoint(self) -> Endpoint:
        """The daemon this engine talks to (read on first use; see ``endpoint.resolve_endpoint``)."""
        if self._endpoint is None:
            self._endpoint = resolve_endpoint(self._host_arg, self.env)
        return self._endpoint

    @property
    def docker_host(self) -> str:
        return self.endpoint.host

    def _display(self) -> Display:
        mode = self.progress
        if mode == "auto":
            isatty = getattr(self.out, "isatty", None)
            tty = bool(isatty and isatty())
            mode = "tty" if tty and not self.env.get("CI") else "plain"
        return Display(self.out, mode, self.redact)

    def _unreachable(self, exc: BaseException) -> EngineError:
        return EngineError(
            f"cannot reach the Docker engine at {self.endpoint.describe()}: {short(exc)}",
            hint="start dockerd (scripts/services.sh start for the test services), or set DOCKER_HOST "
            "or the docker context (DOCKER_CONTEXT, `docker context use`) to a running engine",
        )

    def _client(self):
        if self._client_obj is None:
            import docker  # lazy: keeps `invoke --list` fast
            import requests

            try:
                self._client_obj = sdk_client(self.endpoint, self.env, int(self.timeout))
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
        cli_endpoint_env(self.endpoint, env)  # the daemon the SDK talks to
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
