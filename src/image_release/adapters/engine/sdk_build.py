"""Classic builds through the docker SDK (Engine API ``/build``).

Every event of the stream is checked: the daemon reports a failed step as an ``{"error": ...}`` event inside
a normal HTTP 200 stream, never as an exception. One tag per build (an Engine API limit): the others are
added with ``Engine.tag``.
"""

from __future__ import annotations

import re
from collections import deque
from typing import TYPE_CHECKING, Any

from image_release.adapters.engine.buildkit import describe, loaded_result
from image_release.adapters.engine.display import Display
from image_release.adapters.engine.messages import api_message, build_hint, build_message, event_error, \
    short, status_text
from image_release.adapters.engine.results import BuildResult
from image_release.core.build_spec import BuildSpec
from image_release.errors import BuildError, EngineError

if TYPE_CHECKING:
    from image_release.adapters.engine import Engine

# The classic builder's own lines, left out of a failure's "last output".
_BUILDER_CHATTER = re.compile(r"^(--->|Removing intermediate container|Successfully (built|tagged) )")
_STEP = re.compile(r"^Step \d+/\d+ :")


def sdk_build_kwargs(spec: BuildSpec, context: str, dockerfile: str) -> dict[str, Any]:
    """The keyword arguments of ``APIClient.build`` for ``spec`` (the first tag only)."""
    kwargs: dict[str, Any] = dict(
        path=context, dockerfile=dockerfile, tag=spec.tags[0] if spec.tags else None, rm=True, forcerm=True,
        decode=True, pull=bool(spec.pull), nocache=bool(spec.no_cache),
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
    return kwargs


class _BuildStream:
    """Reads the build events: shows progress, keeps the current step and its output, finds the image id."""

    def __init__(self, display: Display):
        self.display = display
        self.image_id: str | None = None
        self.step = ""
        self.output: deque[str] = deque(maxlen=12)
        self.pending = ""

    def feed(self, event: Any) -> None:
        if not isinstance(event, dict):
            return
        if "error" in event or "errorDetail" in event:
            if self.pending.strip():
                self.output.append(self.pending.strip())
            self.display.close()
            message = event_error(event)
            raise BuildError(build_message(message, self.step, list(self.output)),
                             hint=build_hint(message, buildkit=False))
        if "stream" in event:
            self._text(str(event["stream"]))
        elif "status" in event:
            ticking = bool((event.get("progressDetail") or {}).get("current"))
            self.display.detail(status_text(event), plain=not ticking)
        aux = event.get("aux")
        if isinstance(aux, dict) and aux.get("ID"):
            self.image_id = str(aux["ID"])

    def _text(self, chunk: str) -> None:
        self.pending += chunk
        while "\n" in self.pending:
            line, self.pending = self.pending.split("\n", 1)
            line = line.rstrip("\r")
            if not line.strip():
                continue
            if _STEP.match(line):
                self.step = line
                self.output.clear()
                self.display.step(line)
            else:
                if not _BUILDER_CHATTER.match(line.strip()):
                    self.output.append(line.strip())
                self.display.detail(line.strip())

    def finish(self) -> None:
        if self.pending.strip():
            self.display.detail(self.pending.strip())


def build_sdk(eng: Engine, spec: BuildSpec, context: str, dockerfile: str) -> BuildResult:
    """Build ``spec`` with the classic builder; BuildError with the daemon's message on any failure.
    Outputs: ``load``, and ``oci:PATH`` (loaded, then exported to the layout)."""
    display = eng._display()
    stream = _BuildStream(display)
    _run_stream(eng, sdk_build_kwargs(spec, context, dockerfile), stream)
    stream.finish()
    tags = tuple(spec.tags)
    image_id = stream.image_id
    if not image_id and tags:  # older daemons only say "Successfully built <short id>": resolve the tag
        image_id = eng._inspect_id(tags[0])
    if not image_id:
        display.close()
        raise BuildError("docker build ended without reporting an image id",
                         hint="check the Docker engine's log; the build stream was incomplete")
    if len(tags) > 1:
        eng.tag(image_id, tags[1:])
    result = loaded_result(eng, spec, image_id, "sdk")
    display.line(describe(result))
    return result


def _run_stream(eng: Engine, kwargs: dict[str, Any], stream: _BuildStream) -> None:
    import docker
    import requests

    try:
        for event in eng._api_call("starting the build", eng._client().api.build, **kwargs):
            stream.feed(event)
    except docker.errors.APIError as exc:
        stream.display.close()
        msg = api_message(exc)
        raise BuildError(f"docker build failed: {msg}", hint=build_hint(msg, buildkit=False)) from None
    except (BuildError, EngineError):
        raise
    except requests.exceptions.ConnectionError as exc:  # the daemon went away mid-stream
        stream.display.close()
        raise eng._unreachable(exc) from None
    except Exception as exc:  # noqa: BLE001 - the stream broke (timeout, a malformed chunk)
        stream.display.close()
        raise BuildError(f"docker build stream broke off: {short(exc)}",
                         hint="check the Docker engine (its log) and retry") from None
