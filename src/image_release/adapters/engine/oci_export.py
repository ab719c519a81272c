"""An image of the engine's store written as an OCI image layout directory, for builders that have no OCI
exporter (the classic builder, and the BuildKit built into dockerd 20.10: ``exporter "oci" could not be
found``), so a one-platform build can be pushed by digest by its caller like a buildx ``type=oci`` output.

The ``docker save`` stream (``APIClient.get_image``) is read once, member by member: each ``layer.tar`` is
gzipped (mtime 0, so the same layer gives the same blob) into ``blobs/sha256/`` while it is hashed, the config
is copied as is (its digest is the image id), then the manifest and ``index.json`` are written. Memory stays
bounded by one read buffer; the layout's size is the compressed image.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import tarfile
import tempfile
from typing import IO, Iterable

from image_release.errors import EngineError

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
_CHUNK = 1 << 20


class _Stream:
    """A file-like reader over the chunks of ``docker save``."""

    def __init__(self, chunks: Iterable[bytes]):
        self._it = iter(chunks)
        self._buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self._buf) < n:
            chunk = next(self._it, None)
            if chunk is None:
                break
            self._buf += chunk
        data, self._buf = (self._buf, b"") if n < 0 else (self._buf[:n], self._buf[n:])
        return data


class _Blobs:
    def __init__(self, layout: str):
        self.dir = os.path.join(layout, "blobs", "sha256")
        os.makedirs(self.dir, exist_ok=True)

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(self.dir, digest), "wb") as fh:
            fh.write(data)
        return "sha256:" + digest, len(data)

    def put_gzipped(self, src: IO[bytes]) -> tuple[str, int]:
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-")
        h, size = hashlib.sha256(), 0
        with os.fdopen(fd, "wb") as raw:
            class _Tee:
                def write(self, b):
                    nonlocal size
                    h.update(b)
                    size += len(b)
                    return raw.write(b)

                def flush(self):
                    raw.flush()

            with gzip.GzipFile(fileobj=_Tee(), mode="wb", mtime=0, compresslevel=6) as gz:
                for block in iter(lambda: src.read(_CHUNK), b""):
                    gz.write(block)
        os.replace(tmp, os.path.join(self.dir, h.hexdigest()))
        return "sha256:" + h.hexdigest(), size


def export_oci_layout(chunks: Iterable[bytes], layout: str, ref_name: str | None = None) -> tuple[str, str]:
    """Write the image of a ``docker save`` stream (one image) to the OCI layout directory ``layout``.
    Returns (manifest digest, ``os/arch[/variant]``)."""
    blobs = _Blobs(layout)
    layers: dict[str, tuple[str, int]] = {}  # member name -> (digest, size)
    links: dict[str, str] = {}  # a layer.tar that is a link to another one
    configs: dict[str, bytes] = {}
    save_manifest = None
    with tarfile.open(fileobj=_Stream(chunks), mode="r|") as tar:
        for member in tar:
            if member.name.endswith("layer.tar") and (member.issym() or member.islnk()):
                links[member.name] = os.path.normpath(os.path.join(os.path.dirname(member.name), member.linkname))
            elif member.name.endswith("layer.tar") and member.isfile():
                layers[member.name] = blobs.put_gzipped(tar.extractfile(member))
            elif member.name == "manifest.json":
                save_manifest = json.load(tar.extractfile(member))
            elif member.name.endswith(".json") and member.isfile() and "/" not in member.name:
                configs[member.name] = tar.extractfile(member).read()
    if not isinstance(save_manifest, list) or len(save_manifest) != 1:
        raise EngineError("the engine's image export had no single image manifest",
                          hint="check the Docker engine's log, then build again")
    entry = save_manifest[0]
    config_bytes = configs.get(entry.get("Config", ""))
    if config_bytes is None:
        raise EngineError("the engine's image export had no image config", hint="check the Docker engine's log")
    return _write_manifest(layout, blobs, entry, config_bytes, layers, links, ref_name)


def _write_manifest(layout, blobs, entry, config_bytes, layers, links, ref_name) -> tuple[str, str]:
    cfg_digest, cfg_size = blobs.put_bytes(config_bytes)
    descs = []
    for name in entry.get("Layers") or []:
        found = layers.get(name) or layers.get(links.get(name, ""))
        if found is None:
            raise EngineError(f"the engine's image export lacks the layer {name}", hint="build the image again")
        descs.append({"mediaType": LAYER, "digest": found[0], "size": found[1]})
    manifest = {"schemaVersion": 2, "mediaType": MANIFEST,
                "config": {"mediaType": CONFIG, "digest": cfg_digest, "size": cfg_size}, "layers": descs}
    digest, size = blobs.put_bytes(json.dumps(manifest, separators=(",", ":")).encode())
    config = json.loads(config_bytes)
    platform = {"os": config.get("os") or "linux", "architecture": config.get("architecture") or "amd64"}
    if config.get("variant"):
        platform["variant"] = config["variant"]
    desc = {"mediaType": MANIFEST, "digest": digest, "size": size, "platform": platform}
    if ref_name:
        desc["annotations"] = {"org.opencontainers.image.ref.name": ref_name}
    with open(os.path.join(layout, "index.json"), "w", encoding="utf-8") as fh:
        json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": [desc]}, fh)
    with open(os.path.join(layout, "oci-layout"), "w", encoding="utf-8") as fh:
        json.dump({"imageLayoutVersion": "1.0.0"}, fh)
    return digest, "/".join(platform[k] for k in ("os", "architecture", "variant") if k in platform)


def layout_digest(layout: str) -> tuple[str | None, str | None]:
    """(digest, platform) of the one manifest or index an OCI layout's ``index.json`` names."""
    try:
        with open(os.path.join(layout, "index.json"), encoding="utf-8") as fh:
            manifests = json.load(fh).get("manifests") or []
    except (OSError, ValueError, AttributeError):
        return None, None
    if len(manifests) != 1 or not isinstance(manifests[0], dict):
        return None, None
    p = manifests[0].get("platform") or {}
    platform = "/".join(str(p[k]) for k in ("os", "architecture", "variant") if p.get(k)) or None
    return manifests[0].get("digest"), platform


def save_oci_layout(eng, image: str, layout: str, ref_name: str | None = None) -> tuple[str, str]:
    """Write the local image ``image`` (id or ref) of ``eng``'s store to the OCI layout ``layout``."""
    import docker

    from image_release.adapters.engine.messages import api_message

    try:
        chunks = eng._api_call("exporting an image", eng._client().api.get_image, image)
        os.makedirs(layout, exist_ok=True)
        return export_oci_layout(chunks, layout, ref_name)
    except docker.errors.APIError as exc:
        raise EngineError(f"exporting {image} from the engine failed: {api_message(exc)}",
                          hint="build the image first; check the Docker engine's log") from None
    except (OSError, tarfile.TarError) as exc:
        raise EngineError(f"writing the OCI layout {layout} failed: {exc}",
                          hint="give a writable directory with room for the image") from None


def image_platform(info: dict) -> str | None:
    """``os/arch[/variant]`` of an ``inspect_image`` answer."""
    parts = [info.get("Os"), info.get("Architecture"), info.get("Variant")]
    return "/".join(str(p) for p in parts if p) or None
