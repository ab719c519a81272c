"""Pushing one tag through the docker SDK: credentials travel only in the ``X-Registry-Auth`` header.

Failures arrive as ``{"error": ...}`` events inside a normal HTTP 200 stream; each one becomes a typed
error (``messages.push_error``). The manifest digest comes from the stream's ``aux`` event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from image_release.adapters.engine.display import Display, percent
from image_release.adapters.engine.messages import api_message, event_error, push_error, short
from image_release.errors import AuthError, EngineError, PublishError, RegistryError

if TYPE_CHECKING:
    from image_release.adapters.engine import Engine

_LAYER_DONE = ("Pushed", "Layer already exists")


class _PushStream:
    """Reads the push events: layer progress on the display, the digest from ``aux``, errors raised."""

    def __init__(self, ref: str, display: Display):
        self.ref = ref
        self.display = display
        self.digest: str | None = None
        self.layers: dict[str, str] = {}

    def feed(self, event: Any) -> None:
        if not isinstance(event, dict):
            return
        if "error" in event or "errorDetail" in event:
            self.display.close()
            raise push_error(self.ref, event_error(event))
        aux = event.get("aux")
        if isinstance(aux, dict) and aux.get("Digest"):
            self.digest = str(aux["Digest"])
        status = event.get("status")
        if not status:
            return
        layer = event.get("id")
        if not layer:
            self.display.detail(str(status))
            return
        detail = event.get("progressDetail") or {}
        pct = percent(detail.get("current"), detail.get("total"))
        changed = self.layers.get(layer) != status
        self.layers[layer] = status
        done = sum(1 for s in self.layers.values() if s in _LAYER_DONE or s.startswith("Mounted from"))
        text = f"{layer}: {status}" + (f" {pct}%" if pct is not None else "")
        self.display.detail(f"[{done}/{len(self.layers)} layers] {text}", plain=False)
        if changed and self.display.mode == "plain":
            self.display.detail(f"{layer}: {status}")


def split_ref(ref: str) -> tuple[str, str]:
    """(repository, tag) of ``registry/repo:tag``; PublishError unless it has exactly one explicit tag."""
    from docker.utils import parse_repository_tag

    repo, tag = parse_repository_tag(ref)
    if "@" in ref or not tag:
        raise PublishError(
            f"cannot push {ref!r}: a push needs one explicit tag (name:tag)",
            hint="give the full reference with its tag, e.g. registry/repo:1.2.3",
        )
    return repo, tag


def push(eng: Engine, ref: str, auth_config: dict | None = None) -> str:
    """Push ONE ``registry/repo:tag``; return the manifest digest the daemon reports."""
    repo, tag = split_ref(ref)
    client = eng._client()
    display = eng._display()
    display.step(f"pushing {ref}")
    stream = _PushStream(ref, display)
    kwargs: dict[str, Any] = dict(tag=tag, stream=True, decode=True)
    if auth_config:
        kwargs["auth_config"] = dict(auth_config)
    _run_stream(eng, ref, stream, lambda: eng._api_call("starting the push", client.api.push, repo, **kwargs))
    if not stream.digest:
        display.close()
        raise PublishError(f"pushing {ref} ended without a manifest digest from the engine",
                           hint="check the Docker engine's log; the push stream was incomplete")
    display.line(f"pushed {ref} {stream.digest}")
    return stream.digest


def _run_stream(eng: Engine, ref: str, stream: _PushStream, start) -> None:
    import docker
    import requests

    try:
        for event in start():
            stream.feed(event)
    except docker.errors.APIError as exc:
        stream.display.close()
        raise push_error(ref, api_message(exc)) from None
    except (RegistryError, AuthError, EngineError, PublishError):
        raise
    except requests.exceptions.ConnectionError as exc:
        stream.display.close()
        raise eng._unreachable(exc) from None
    except Exception as exc:  # noqa: BLE001 - the stream broke off (timeout, a malformed chunk)
        stream.display.close()
        raise PublishError(f"pushing {ref} broke off: {short(exc)}",
                           hint="check the Docker engine and the registry, then retry") from None
