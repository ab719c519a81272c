"""What the OCI distribution API sends and takes: media types, manifests, answers, and their parsing.

Used by ``registry_http`` (the transport) and ``registry`` (the client); everything here is importable from
``image_release.adapters.registry`` too. No requests are made here.

- ``Answer``: an HTTP answer whose body was read in full with a bound on its size and time
  (``read_bounded``); ``RegistryClient`` returns nothing else.
- ``Manifest`` (exact bytes), ``ManifestInfo`` (digest, media type, size), ``PutResult`` (what a manifest
  PUT's answer proved), ``RequestStats`` (what the client sent, thread-safe).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import quote, urlsplit

from image_release.core.image_ref import is_digest
from image_release.errors import RegistryError

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
MANIFEST_MEDIA_TYPES = (OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2)
MANIFEST_ACCEPT = ", ".join(MANIFEST_MEDIA_TYPES)

THROWAWAY_ANNOTATION = "org.image-release.tag-delete"

MIB = 1 << 20
MANIFEST_LIMIT = 4 * MIB  # what distribution accepts for a manifest
ANSWER_LIMIT = 1 * MIB  # any other answer body: errors, tokens, upload answers

# Tag delete results (what ``delete_tag`` did).
TAG_DELETED = "tag-delete"  # the registry deleted the tag itself (OCI tag DELETE)
TAG_THROWAWAY = "throwaway"  # a throwaway manifest was put on the tag and deleted
TAG_MANIFEST = "manifest"  # siblings_ok=True: the manifest was deleted by digest
TAG_ABSENT = "absent"  # the tag did not exist


@dataclass(frozen=True)
class ManifestInfo:
    digest: str
    media_type: str
    size: int


@dataclass(frozen=True)
class Manifest:
    """A manifest exactly as the registry holds it: ``raw`` bytes are what the digest is computed over."""

    raw: bytes = field(repr=False)
    media_type: str
    digest: str

    @classmethod
    def from_bytes(cls, raw: bytes, media_type: str) -> "Manifest":
        return cls(raw=raw, media_type=media_type, digest=sha256_digest(raw))

    @property
    def size(self) -> int:
        return len(self.raw)

    def json(self) -> dict:
        return json.loads(self.raw)

    @property
    def is_index(self) -> bool:
        return self.media_type in (OCI_INDEX, DOCKER_MANIFEST_LIST)


#: how a ``PutResult`` knows what the registry serves under the tag
VIA_ANSWER = "answer"  # the PUT's own answer: 201, Docker-Content-Digest, Location on this registry
VIA_READ_BACK = "read-back"  # a HEAD of the tag on this registry after the PUT
VIA_NONE = "none"  # the answer did not prove it and no read-back was asked for


@dataclass(frozen=True)
class PutResult:
    """What a manifest PUT established.

    ``digest``: the manifest's digest (what was put). ``verified``: this registry is known to serve ``digest``
    under the tag (``via`` says how). ``seen``: the digest it serves there as far as this call knows (the
    answer's ``Docker-Content-Digest`` or the read-back; None: unknown, or no such tag on read-back).
    ``reason``: why the answer alone did not prove it ("" when it did).
    """

    digest: str
    verified: bool
    seen: str | None
    via: str
    reason: str = ""


@dataclass
class RequestStats:
    """Counts of what the client sent: every HTTP request (retries and token fetches included). Thread-safe."""

    requests: int = 0
    bytes_sent: int = 0
    bytes_received: int = 0
    by_kind: Counter = field(default_factory=Counter)  # "HEAD manifests", "PUT manifests", "GET token", ...
    _lock: Any = field(default_factory=threading.Lock, repr=False, compare=False)

    def count(self, method: str, kind: str, sent: int, received: int) -> None:
        with self._lock:
            self.requests += 1
            self.bytes_sent += sent
            self.bytes_received += received
            self.by_kind[f"{method} {kind}"] += 1

    def of(self, kind: str) -> int:
        """Requests whose path kind is ``kind`` ("manifests", "blobs", "tags", "token", "ping"), any method."""
        with self._lock:
            return sum(n for key, n in self.by_kind.items() if key.split(" ", 1)[1] == kind)

    def reset(self) -> None:
        with self._lock:
            self.requests = self.bytes_sent = self.bytes_received = 0
            self.by_kind.clear()


@dataclass
class Answer:
    """An HTTP answer read in full (within its bounds). ``foreign_redirect``: the host a redirect pointed to
    when it was not followed because it left the registry (None otherwise)."""

    status_code: int
    headers: Mapping[str, str]
    content: bytes
    url: str
    reason: str = ""
    foreign_redirect: str | None = None

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def links(self) -> dict[str, dict[str, str]]:
        """The ``Link`` header by ``rel``, as ``requests.Response.links`` has it."""
        from requests.utils import parse_header_links

        header = self.headers.get("Link")
        return {(link.get("rel") or link.get("url")): link for link in parse_header_links(header)} if header else {}

    def close(self) -> None:
        """Nothing to release: the body was read and the connection given back."""


def read_bounded(resp: Any, limit: int, deadline: float, what: str, host: str) -> bytes:
    """The body of a streamed ``requests`` response, at most ``limit`` bytes, read before ``deadline``
    (``time.monotonic()``). Raises RegistryError beyond either bound."""
    declared = resp.headers.get("Content-Length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(what, host, limit)
    chunks: list[bytes] = []
    size = 0
    for chunk in resp.iter_content(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise _too_large(what, host, limit)
        if time.monotonic() > deadline:
            raise RegistryError(f"registry {host} took too long to send its answer to {what}",
                                hint="the registry or a proxy in between is stalling; retry later")
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(what: str, host: str, limit: int) -> RegistryError:
    return RegistryError(f"registry {host} sent more than {limit // 1024} KiB in answer to {what}; not read",
                         hint="a registry sends manifests up to 4 MiB and short answers otherwise; "
                         "check the registry and any proxy in between")


def same_origin(url: str, base: str) -> bool:
    """``url`` names the same host and port as ``base`` (default ports filled in; a relative URL is)."""
    target, origin = urlsplit(url), urlsplit(base)
    if not target.netloc:
        return True

    def key(parts: Any) -> tuple[str, int | None]:
        try:
            port = parts.port
        except ValueError:
            return (parts.netloc.lower(), None)
        return ((parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(parts.scheme))

    return key(target) == key(origin)


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


_CHALLENGE_PARAM = re.compile(r'\s*([A-Za-z][A-Za-z0-9_-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?')


def parse_www_authenticate(header: str | None) -> tuple[str, dict[str, str]]:
    """``Bearer realm="...",service="...",scope="..."`` -> ("bearer", {realm, service, scope}).

    Returns ("", {}) for an empty header. Only the first challenge is read (registries send one).
    """
    if not header:
        return "", {}
    header = header.strip()
    scheme, _, rest = header.partition(" ")
    params: dict[str, str] = {}
    pos = 0
    while pos < len(rest):
        m = _CHALLENGE_PARAM.match(rest, pos)
        if not m or m.end() == pos:
            break
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
        pos = m.end()
    return scheme.lower(), params


def error_detail(resp: Any) -> tuple[str, str]:
    """(first error code, readable text) from a registry error body ``{"errors": [{"code", "message"}]}``."""
    try:
        body = resp.json()
        errors = body.get("errors") or []
        if errors:
            first = errors[0]
            code = str(first.get("code") or "")
            text = "; ".join(f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors)
            return code, text[:500]
    except Exception:  # noqa: BLE001 - not JSON: fall back to the status line
        pass
    return "", f"HTTP {resp.status_code} {getattr(resp, 'reason', '') or ''}".strip()


def make_throwaway(manifest: Manifest) -> Manifest:
    """A unique manifest with the same blobs as ``manifest`` (one extra annotation), same media type."""
    doc = manifest.json()
    annotations = dict(doc.get("annotations") or {})
    annotations[THROWAWAY_ANNOTATION] = uuid.uuid4().hex
    doc["annotations"] = annotations
    raw = json.dumps(doc, indent=3, sort_keys=False).encode()
    return Manifest.from_bytes(raw, manifest.media_type)


def same_scope(a: str, b: str) -> bool:
    """``repository:x:push,pull`` and ``repository:x:pull,push`` are the same scope (registries vary the order)."""
    ta, _, aa = a.rpartition(":")
    tb, _, ab = b.rpartition(":")
    return ta == tb and set(aa.split(",")) == set(ab.split(","))


def ref_sep(ref: str) -> str:
    return "@" if is_digest(ref) else ":"


def media_type_of(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip()


def basic_header(username: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def form_quote(value: str) -> str:
    return quote(value, safe="")
