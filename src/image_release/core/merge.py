"""Per-platform builds merged into one release (pure): the digest records, the merge's checks, the index.

A per-platform build (``invoke build --platform linux/arm64 --push-by-digest``, one CI job per platform)
pushes its image to every image repository by digest only and writes one record per image,
``<record_dir>/<image-safe-name>/<platform-safe>.json`` (``record_path``, ``record_json``): the digest, the
platform, the image and the commit. ``invoke release --merge DIR_OR_FILES`` reads them back
(``parse_record``), the publish step reads what the registry holds for each digest
(``PlatformManifest``), and ``merged_index`` decides:

- every image of the release has records, and no record names another image;
- one record per platform and image, the same digest for a platform in every image, and, when
  ``release.build.platforms`` lists platforms, exactly those;
- every digest is in every image's repository, as a one-platform manifest of the platform its record
  says;
- every image was built from this run's commit: the record's commit and the image's
  ``org.opencontainers.image.revision`` label.

Anything else is a ``ConfigError`` before any tag moves. Otherwise the result is the OCI image index to
put (``MergedIndex``): its platform manifests sorted by platform, serialised compactly, so the same digests
at the same commit always give the same index digest. It is published like the image of a
single-process release (``core.publish``: ``PushVersion(index=...)``).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from image_release.errors import ConfigError

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
ONE_PLATFORM = ("application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.v2+json")
REVISION = "org.opencontainers.image.revision"
RECORD_VERSION = 1
_PLATFORM = re.compile(r"^[a-z0-9_.-]+/[a-z0-9_.-]+(/[a-z0-9_.-]+)?$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
HINT = ("merge the records the per-platform builds of this commit wrote (`invoke build --platform P "
        "--push-by-digest`, one per platform), each platform once")


def safe_name(text: str) -> str:
    """``127.0.0.1:5000/team/app`` -> ``127.0.0.1-5000-team-app``; ``linux/arm64/v8`` -> ``linux-arm64-v8``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "image"


def record_path(record_dir: str, image: str, platform: str) -> str:
    """Where a per-platform build records its digest for ``image``."""
    return f"{record_dir.rstrip('/')}/{safe_name(image)}/{safe_name(platform)}.json"


def normalize_platform(text: str) -> str:
    """``Linux/ARM64`` -> ``linux/arm64``; a ConfigError for anything that is not ``os/arch[/variant]``."""
    value = (text or "").strip().lower()
    if not _PLATFORM.match(value):
        raise ConfigError(f"{text!r} is not a platform",
                          hint="write os/arch[/variant], e.g. linux/arm64 or linux/arm/v7")
    return value


_DEFAULT_VARIANT = {"arm64": "v8", "arm": "v7", "amd64": "v1"}


def same_platform(a: str | None, b: str | None) -> bool:
    """``linux/arm64`` and ``linux/arm64/v8`` are one platform (the variant each architecture defaults to,
    as containerd matches them)."""
    if not a or not b:
        return False

    def full(p: str) -> tuple[str, ...]:
        parts = p.strip().lower().split("/")
        if len(parts) == 2 and parts[1] in _DEFAULT_VARIANT:
            parts.append(_DEFAULT_VARIANT[parts[1]])
        return tuple(parts)

    return full(a) == full(b)


@dataclass(frozen=True)
class DigestRecord:
    """What a per-platform build pushed: ``image@digest``, for ``platform``, built from ``commit``."""

    image: str
    platform: str
    digest: str
    commit: str | None = None
    source: str = ""  # the record's file, for messages


def record_json(image: str, platform: str, digest: str, commit: str | None) -> str:
    """The record's file content (JSON, one object, keys sorted)."""
    doc = {"commit": commit, "digest": digest, "image": image, "platform": platform, "version": RECORD_VERSION}
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def parse_record(text: str, source: str) -> DigestRecord:
    """A record read back from ``source`` (its file name, for messages); ConfigError when it is not one."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{source} is not a digest record (not JSON: {exc})", hint=HINT) from None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), str) for k in ("image", "platform", "digest")):
        raise ConfigError(f"{source} is not a digest record (it needs image, platform and digest)", hint=HINT)
    if not _DIGEST.match(doc["digest"]):
        raise ConfigError(f"{source}: {doc['digest']!r} is not a sha256 digest", hint=HINT)
    commit = doc.get("commit")
    if commit is not None and not isinstance(commit, str):
        raise ConfigError(f"{source}: the commit is not a string", hint=HINT)
    try:
        platform = normalize_platform(doc["platform"])
    except ConfigError as e:
        raise ConfigError(f"{source}: {e.message}", hint=e.hint) from None
    return DigestRecord(doc["image"], platform, doc["digest"], commit or None, source)


@dataclass(frozen=True)
class PlatformManifest:
    """What the registry holds under a record's digest (read by the publish step): the manifest's media type
    and size, and, when its config was read (``config_read``), the platform and the revision label."""

    digest: str
    media_type: str
    size: int
    platform: str | None = None
    revision: str | None = None
    config_read: bool = False


@dataclass(frozen=True)
class MergedIndex:
    """The OCI image index a merge puts: ``raw`` exactly as it goes to the registry."""

    raw: bytes
    digest: str
    platforms: tuple[tuple[str, str], ...]  # (platform, digest of its manifest), sorted by platform
    commit: str | None = None
    media_type: str = OCI_INDEX

    def describe_platforms(self) -> str:
        return ", ".join(f"{p} {d[:19]}" for p, d in self.platforms)

    def text(self) -> str:
        return json.dumps(json.loads(self.raw), indent=2)


def by_image(records: Iterable[DigestRecord], images: Sequence[str]) -> dict[str, list[DigestRecord]]:
    """The records grouped by image, checked: every image has records, none names another image, one
    record per platform per image."""
    grouped: dict[str, list[DigestRecord]] = {image: [] for image in images}
    for rec in records:
        if rec.image not in grouped:
            raise ConfigError(f"{rec.source} records {rec.image}@{rec.digest}, which is not an image of this "
                              f"release ({', '.join(images)})",
                              hint="merge the records of this project's images only (release.images)")
        for other in grouped[rec.image]:
            if other.platform == rec.platform:
                raise ConfigError(f"{rec.image} has two records for {rec.platform}: {other.source} ({other.digest}) "
                                  f"and {rec.source} ({rec.digest})", hint=HINT)
        grouped[rec.image].append(rec)
    for image, recs in grouped.items():
        if not recs:
            raise ConfigError(f"no digest record for {image}: nothing to merge for it", hint=HINT)
    return grouped


def _check_platforms(grouped: Mapping[str, list[DigestRecord]], wanted: Sequence[str]) -> dict[str, str]:
    """platform -> digest, the same in every image; exactly ``wanted`` when it lists platforms."""
    first, *rest = grouped
    chosen = {r.platform: r.digest for r in grouped[first]}
    for image in rest:
        mine = {r.platform: r.digest for r in grouped[image]}
        if mine != chosen:
            raise ConfigError(f"{image} and {first} have different per-platform digests ({_listing(mine)} and "
                              f"{_listing(chosen)})",
                              hint="merge the records of one set of per-platform builds: each pushes its image "
                              "to every image repository")
    if wanted:
        want = {normalize_platform(p) for p in wanted}
        missing, extra = sorted(want - set(chosen)), sorted(set(chosen) - want)
        if missing or extra:
            raise ConfigError("the records do not match release.build.platforms ("
                              + "; ".join(([f"missing {', '.join(missing)}"] if missing else [])
                                          + ([f"not listed: {', '.join(extra)}"] if extra else [])) + ")",
                              hint="build and record each platform of release.build.platforms once, or change it")
    return chosen


def _listing(platforms: Mapping[str, str]) -> str:
    return ", ".join(f"{p} {d[:19]}" for p, d in sorted(platforms.items()))


def _check_commit(grouped: Mapping[str, list[DigestRecord]], commit: str | None) -> None:
    for recs in grouped.values():
        for rec in recs:
            if commit and rec.commit and not _same_commit(rec.commit, commit):
                raise ConfigError(f"{rec.source}: {rec.image}@{rec.digest} ({rec.platform}) was built from commit "
                                  f"{rec.commit[:12]}, and this release is of {commit[:12]}",
                                  hint="merge the per-platform builds of the commit being released")


def _same_commit(a: str, b: str) -> bool:
    return a.startswith(b) or b.startswith(a)


def check_manifest(rec: DigestRecord, found: PlatformManifest | None, commit: str | None) -> None:
    """``rec``'s digest as the registry holds it: present, one platform, the platform recorded, the commit."""
    where = f"{rec.image}@{rec.digest}"
    if found is None:
        raise ConfigError(f"{where} ({rec.platform}, from {rec.source}) is not in the registry",
                          hint="re-run that platform's build with --push-by-digest, or merge the records of "
                          "builds that pushed")
    if found.media_type not in ONE_PLATFORM:
        raise ConfigError(f"{where} is {found.media_type}, not a one-platform image manifest",
                          hint="record one-platform builds (`invoke build --platform P --push-by-digest`)")
    if not found.config_read:
        return  # another repository of the same images: the first one's config was checked
    if not same_platform(found.platform, rec.platform):
        raise ConfigError(f"{where} is a {found.platform or 'platform-less'} image, and {rec.source} says "
                          f"{rec.platform}", hint=HINT)
    revision = found.revision
    if commit and (revision is None or not _same_commit(revision, commit)):
        said = f"commit {revision[:12]}" if revision else f"no {REVISION} label"
        raise ConfigError(f"{where} ({rec.platform}) has {said}, and this release is of commit {commit[:12]}",
                          hint="merge the per-platform builds of the commit being released")


def merged_index(records: Iterable[DigestRecord], images: Sequence[str],
                 found: Mapping[tuple[str, str], PlatformManifest | None], commit: str | None,
                 platforms: Sequence[str] = ()) -> MergedIndex:
    """The index a merge puts over ``records`` (see the module docstring), or a ConfigError. ``found``:
    (image, digest) -> what that image's repository holds under the digest (None: nothing)."""
    grouped = by_image(records, images)
    chosen = _check_platforms(grouped, platforms)
    _check_commit(grouped, commit)
    for image, recs in grouped.items():
        for rec in recs:
            check_manifest(rec, found.get((image, rec.digest)), commit)
    first = grouped[images[0]]
    entries = []
    for platform in sorted(chosen):
        rec = next(r for r in first if r.platform == platform)
        m = found[(images[0], rec.digest)]
        parts = platform.split("/")
        plat = {"architecture": parts[1], "os": parts[0]}
        if len(parts) > 2:
            plat["variant"] = parts[2]
        entries.append({"mediaType": m.media_type, "digest": m.digest, "size": m.size, "platform": plat})
    doc = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    if commit:
        doc["annotations"] = {REVISION: commit}
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return MergedIndex(raw=raw, digest="sha256:" + hashlib.sha256(raw).hexdigest(),
                       platforms=tuple((p, chosen[p]) for p in sorted(chosen)), commit=commit)


def platform_lines(index: MergedIndex | None) -> tuple[str, ...]:
    """What the release notes say of each platform of a merged index: ``linux/arm64 (sha256:...)``."""
    if index is None:
        return ()
    return tuple(f"{p} ({d})" for p, d in index.platforms)
