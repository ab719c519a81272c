"""Pushing an OCI image layout with the tool's own registry client (``RegistryClient``), not the engine.

A layout is what ``Engine.export_oci`` writes for an image of the engine's store (layers gzipped with
mtime 0: the same image gives the same blobs and the same digest every time), or what a BuildKit build to
``oci:PATH`` wrote (a one-platform manifest, or an index over several). ``read_layout`` reads its
``index.json`` and the manifest (or index) it names; ``push_content`` makes everything that manifest
references present in a repository:

- every blob (configs and layers, each once), with bounded concurrency (``BLOB_WORKERS`` at a time), each
  at the least cost (``RegistryClient.push_blob``): a cross-repository mount from ``mount_from`` (other
  repositories of the same registry that already hold it: one request), else a HEAD (already there), else
  an upload of the file (read per attempt, never held in memory);
- for an index, each platform manifest, put under its digest once its blobs are there.

The top manifest itself is returned, not put: the caller puts it under the version tag (after reading that
tag once more), or under its digest for a push by digest (``put_by_digest``). Every request goes through the
client: its credentials (``registry_auth``), its one retry policy (429, 5xx, a dropped connection on an
upload's POST, its PUT, a manifest PUT) and its request counts (``RegistryClient.stats``).
"""

from __future__ import annotations

import json
import re
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from image_release.adapters.registry import (
    BLOB_EXISTS,
    BLOB_MOUNTED,
    BLOB_UPLOADED,
    DOCKER_MANIFEST_LIST,
    MANIFEST_MEDIA_TYPES,
    OCI_INDEX,
    Manifest,
    RegistryClient,
)
from image_release.errors import EngineError, PublishError

BLOB_WORKERS = 4
_HEX = re.compile(r"^sha256:([a-f0-9]{64})$")
_INDEXES = (OCI_INDEX, DOCKER_MANIFEST_LIST)


@dataclass(frozen=True)
class Layout:
    """An OCI image layout directory and the manifest (or index) its ``index.json`` names."""

    path: Path
    top: Manifest
    platform: str | None = None  # ``os/arch[/variant]`` of a one-platform manifest, when index.json says

    def blob(self, digest: str) -> Path:
        m = _HEX.match(digest or "")
        if not m:
            raise EngineError(f"the OCI layout {self.path} names a blob {digest!r} that is not a sha256 digest",
                              hint="build the image again")
        return self.path / "blobs" / "sha256" / m.group(1)

    def manifest(self, digest: str, media_type: str | None) -> Manifest:
        """The manifest ``digest`` of the layout, its bytes checked against the digest."""
        path = self.blob(digest)
        try:
            raw = path.read_bytes()
        except OSError as exc:
            raise EngineError(f"the OCI layout {self.path} lacks the manifest {digest} ({exc.strerror})",
                              hint="build the image again") from None
        found = Manifest.from_bytes(raw, media_type or _media_type(raw))
        if found.digest != digest:
            raise EngineError(f"the OCI layout {self.path} holds other bytes under {digest} ({found.digest})",
                              hint="the layout was changed after the build: build the image again")
        if found.media_type not in MANIFEST_MEDIA_TYPES:
            raise EngineError(f"the OCI layout {self.path} names {digest} as {found.media_type!r}, not a manifest",
                              hint="build the image again")
        return found


@dataclass
class PushReport:
    """What ``push_content`` did: the top manifest (to be put by the caller), and the blobs by outcome."""

    top: Manifest
    blobs: dict[str, str] = field(default_factory=dict)  # digest -> "mounted" | "exists" | "uploaded"
    manifests: tuple[str, ...] = ()  # platform manifests of an index, put by digest

    def count(self, outcome: str) -> int:
        return sum(1 for v in self.blobs.values() if v == outcome)

    def summary(self) -> str:
        parts = [f"{self.count(o)} {o}" for o in (BLOB_UPLOADED, BLOB_MOUNTED, BLOB_EXISTS) if self.count(o)]
        text = f"{len(self.blobs)} blob(s): " + (", ".join(parts) or "none")
        if self.manifests:
            text += f"; {len(self.manifests)} platform manifest(s)"
        return text


def _media_type(raw: bytes) -> str:
    try:
        found = json.loads(raw).get("mediaType")
    except (ValueError, AttributeError):
        found = None
    return found if isinstance(found, str) else "application/vnd.oci.image.manifest.v1+json"


def read_layout(path: str | Path) -> Layout:
    """The layout at ``path``: its ``index.json`` must name exactly one manifest or index."""
    path = Path(path)
    try:
        doc = json.loads((path / "index.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EngineError(f"{path} is not a readable OCI image layout (index.json: {exc})",
                          hint="build the image again (its OCI layout is written by the build)") from None
    descs = doc.get("manifests") if isinstance(doc, dict) else None
    if not isinstance(descs, list) or len(descs) != 1 or not isinstance(descs[0], dict):
        raise EngineError(f"the OCI layout {path} names {len(descs) if isinstance(descs, list) else 'no'} "
                          "images; exactly one is pushed", hint="build one image (or one index) per layout")
    desc = descs[0]
    layout = Layout(path, Manifest(b"", "", ""))
    top = layout.manifest(str(desc.get("digest") or ""), desc.get("mediaType"))
    p = desc.get("platform") if isinstance(desc.get("platform"), dict) else {}
    platform = "/".join(str(p[k]) for k in ("os", "architecture", "variant") if p.get(k)) or None
    return Layout(path, top, platform)


def _references(layout: Layout, manifest: Manifest) -> tuple[list[tuple[str, Path]], list[Manifest]]:
    """(blobs, platform manifests) that ``manifest`` needs in the repository, children first."""
    doc = manifest.json()
    if manifest.media_type in _INDEXES:
        blobs: list[tuple[str, Path]] = []
        children: list[Manifest] = []
        for desc in doc.get("manifests") or []:
            child = layout.manifest(str(desc.get("digest") or ""), desc.get("mediaType"))
            more_blobs, more_children = _references(layout, child)
            blobs += more_blobs
            children += more_children + [child]
        return blobs, children
    descs = [doc.get("config") or {}] + list(doc.get("layers") or [])
    blobs = []
    for desc in descs:
        digest = str(desc.get("digest") or "")
        path = layout.blob(digest)
        if not path.is_file() and desc.get("urls"):
            continue  # a foreign layer: the registry does not hold it
        blobs.append((digest, path))
    return blobs, []


def push_content(client: RegistryClient, repo: str, layout: Layout, *, mount_from: Sequence[str] = (),
                 workers: int = BLOB_WORKERS) -> PushReport:
    """Make everything ``layout.top`` references present in ``repo``: its blobs (``workers`` at a time;
    mounted from ``mount_from``, else HEADed, else uploaded) and, for an index, its platform manifests by
    digest. Returns the report; the top manifest is the caller's to put."""
    blobs, children = _references(layout, layout.top)
    unique = dict(blobs)
    for digest, path in unique.items():
        if not path.is_file():
            raise EngineError(f"the OCI layout {layout.path} lacks the blob {digest}", hint="build the image again")
    sources = tuple(s for s in mount_from if s != repo)
    report = PushReport(layout.top)
    if len(unique) == 1 or workers <= 1:  # nothing to overlap: no threads
        for digest, path in unique.items():
            report.blobs[digest] = client.push_blob(repo, digest, path, mount_from=sources)
    elif unique:
        with ThreadPoolExecutor(max_workers=min(workers, len(unique)), thread_name_prefix="image-release-blob") as pool:
            futures = {pool.submit(client.push_blob, repo, d, p, mount_from=sources): d for d, p in unique.items()}
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for f in pending:
                f.cancel()
            for f in done:
                if f.exception() is not None:
                    raise f.exception()
            for f, digest in futures.items():
                report.blobs[digest] = f.result()
    for child in dict.fromkeys(children):
        put_by_digest(client, repo, child)
    report.manifests = tuple(c.digest for c in dict.fromkeys(children))
    return report


def put_by_digest(client: RegistryClient, repo: str, manifest: Manifest) -> None:
    """Put ``manifest`` under its own digest (no tag moves); the registry must answer that it stored it."""
    put = client.put_manifest(repo, manifest.digest, manifest, read_back=True)
    if not put.verified:
        raise PublishError(f"{client.host}/{repo}@{manifest.digest} was not stored (the registry serves "
                           f"{put.seen or 'nothing'} there)", hint="check the registry; then re-run the same command")
