"""OCI annotations by level (pure): what a plan's annotations put on which object.

metadata-action's ``annotations`` output is written for the levels in
``DOCKER_METADATA_ANNOTATIONS_LEVELS`` (default ``manifest``): ``manifest`` (the image manifest's own
``annotations``), ``index`` (the image index's), ``manifest-descriptor`` and ``index-descriptor``
(the descriptors that point at them). The builder reads them there; this tool's builders (BuildKit
0.8 of Docker Engine 20.10 and the classic builder) write no annotations, so the manifests they
push have none. A manifest or index this tool writes itself can carry them: :func:`by_level` says
what goes where, :func:`annotate` adds them to a manifest's JSON, and :func:`index_annotations`
is what an index made by this tool should carry, the keys ghcr.io reads for a package included
(it shows ``org.opencontainers.image.description`` from the index of a multi-platform image, and
from the image config's label otherwise).
"""

from __future__ import annotations

import json
import re
from typing import Iterable, Mapping

from image_release.errors import ConfigError

LEVELS = ("manifest", "index", "manifest-descriptor", "index-descriptor")
DEFAULT_LEVELS = ("manifest",)
ENV_LEVELS = "DOCKER_METADATA_ANNOTATIONS_LEVELS"
# What ghcr.io reads from an index (its package page: description, source repository, licence).
GHCR_KEYS = ("org.opencontainers.image.description", "org.opencontainers.image.source",
             "org.opencontainers.image.licenses")


def parse_levels(text: str | None) -> tuple[str, ...]:
    """``DOCKER_METADATA_ANNOTATIONS_LEVELS`` (comma- or newline-separated) as levels, in order,
    without repeats; unset or blank: ``manifest``. An unknown level is a ConfigError."""
    found: list[str] = []
    for item in re.split(r"[,\n]", text or ""):
        level = item.strip()
        if not level:
            continue
        if level not in LEVELS:
            raise ConfigError(f"{ENV_LEVELS}: unknown annotation level {level!r}",
                              hint=f"use {', '.join(LEVELS)} (comma-separated), as docker/metadata-action does")
        if level not in found:
            found.append(level)
    return tuple(found) or DEFAULT_LEVELS


def by_level(annotations: Iterable[tuple[str, str]], levels: Iterable[str]) -> dict[str, dict[str, str]]:
    """level -> the annotations written there (every annotation at every level asked for)."""
    pairs = dict(annotations)
    return {level: dict(pairs) for level in levels}


def index_annotations(annotations: Iterable[tuple[str, str]], levels: Iterable[str]) -> dict[str, str]:
    """What an image index this tool writes carries: the ``index`` level's annotations when asked
    for, and always the keys ghcr.io reads from an index (:data:`GHCR_KEYS`) that the plan has."""
    pairs = dict(annotations)
    out = {k: pairs[k] for k in GHCR_KEYS if pairs.get(k)}
    if "index" in tuple(levels):
        out.update(pairs)
    return out


def annotate(raw: bytes, annotations: Mapping[str, str]) -> bytes:
    """A manifest's (or index's) JSON with ``annotations`` added (an existing key keeps its value),
    serialised compactly with sorted keys (a new manifest: a new digest). Unchanged when there is
    nothing to add."""
    doc = json.loads(raw)
    if not isinstance(doc, dict):
        raise ValueError("a manifest is a JSON object")
    current = doc.get("annotations") or {}
    added = {k: v for k, v in annotations.items() if k not in current}
    if not added:
        return raw
    doc["annotations"] = {**current, **added}
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()
