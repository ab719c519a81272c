"""``release.targets`` (monorepos): each target's settings, merged over ``release`` and validated
(pure: reads the mapping it is given).

::

    release:
      targets:
        api: {images: [ghcr.io/acme/api], build: {context: api}, tag_prefix: "api/"}
        web: {images: [ghcr.io/acme/web], build: {context: web}, tag_prefix: "web-", paths: [shared]}

A target takes any setting of ``release`` (its own ``images``, ``build``, ``tags``, ``flavor``,
``notes``, ``project``, ``clean``, ...) and inherits the rest: mappings merge key by key (a target's
``build: {context: api}`` keeps ``release.build.args``), anything else (lists, strings) replaces.
Two keys are its own: ``tag_prefix`` (default ``<name>/``) and ``paths`` (extra paths whose commits
count as the target's, besides its build context). ``tag``, ``dry_run`` and ``targets`` are not
per target. Every target's merged settings go through ``settings.parse_settings``, so an error names
the target (``release.targets.api: ...``).
"""

from __future__ import annotations

import copy
import posixpath
import re
from dataclasses import dataclass
from typing import Any, Mapping

from image_release.core.targets import Target
from image_release.errors import ConfigError
from image_release.settings import DEFAULTS, Settings, _plain, parse_settings

OWN_KEYS = ("tag_prefix", "paths")
NOT_PER_TARGET = ("tag", "dry_run", "targets")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,62}$")  # a GitHub output name prefix, a folder name


@dataclass(frozen=True)
class TargetSettings:
    """A target and what its run is made from: the merged ``release`` mapping and its parsed settings."""

    target: Target
    raw: Mapping[str, Any]
    settings: Settings


def parse_targets(raw: Mapping[str, Any] | None) -> tuple[TargetSettings, ...]:
    """The targets of the ``release`` mapping ``raw`` (empty without ``release.targets``), in the
    order written. ConfigError for a bad target, a shared tag prefix or images two targets share."""
    release = _plain(raw)  # Invoke's DataProxy -> plain dicts
    targets = release.pop("targets", None) or {}
    if not isinstance(targets, Mapping):
        raise ConfigError(f"release.targets must be a mapping of names to targets, not {type(targets).__name__}",
                          hint="targets: {api: {images: [...], build: {context: api}, tag_prefix: 'api/'}}")
    if targets:
        parse_settings(release)  # what the targets inherit, checked as itself (its errors name no target)
    out = tuple(_target(str(name), value, release) for name, value in targets.items())
    _distinct(out)
    return out


def _target(name: str, value: Any, release: Mapping[str, Any]) -> TargetSettings:
    where = f"release.targets.{name}"
    if not _NAME.match(name):
        raise ConfigError(f"{where}: the target name {name!r} is not a plain name",
                          hint="use letters, digits, '-' and '_', starting with a letter (it names outputs and folders)")
    value = dict(value or {}) if isinstance(value, Mapping) or value is None else value
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a mapping, not {type(value).__name__}",
                          hint="for example: images: [...], build: {context: " + name + "}, tag_prefix: " + name + "/")
    unknown = sorted(str(k) for k in value if (k not in DEFAULTS and k not in OWN_KEYS) or k in NOT_PER_TARGET)
    if unknown:
        allowed = sorted(k for k in (*DEFAULTS, *OWN_KEYS) if k not in NOT_PER_TARGET)
        raise ConfigError(f"unknown setting {where}.{unknown[0]}",
                          hint=f"a target takes {', '.join(allowed)} (see docs/configuration.md)")
    prefix = value.pop("tag_prefix", f"{name}/")
    extra = value.pop("paths", [])
    merged = _merge(copy.deepcopy(dict(release)), value)
    try:
        settings = parse_settings(merged)
    except ConfigError as e:
        raise ConfigError(f"{where}: {e.message}", hint=e.hint) from None
    paths = _paths(where, settings, extra)
    return TargetSettings(Target(name, _prefix(where, prefix), paths), merged, settings)


def _merge(base: dict, over: Mapping) -> dict:
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), Mapping):
            base[key] = _merge(dict(base[key]), value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _prefix(where: str, prefix: Any) -> str:
    if prefix is None:
        prefix = ""
    if not isinstance(prefix, str) or any(c.isspace() or c in "~^:?*[\\" for c in prefix) or ".." in prefix:
        raise ConfigError(f"{where}.tag_prefix {prefix!r} cannot start a git tag",
                          hint="for example: tag_prefix: api/ (tags api/v1.2.0) or tag_prefix: api- (tags api-v1.2.0)")
    return prefix


def _paths(where: str, settings: Settings, extra: Any) -> tuple[str, ...]:
    """The build context, the Dockerfile when it is outside the context, then the extra paths;
    normalised, relative to the project folder."""
    if isinstance(extra, str):
        extra = [line for line in extra.splitlines() if line.strip()]
    if not isinstance(extra, (list, tuple)) or not all(isinstance(p, str) and p.strip() for p in extra):
        raise ConfigError(f"{where}.paths must be a list of paths", hint="for example: paths: [shared, proto]")
    b = settings.build
    found = [b.context]
    dockerfile = posixpath.normpath(posixpath.join(b.context, b.dockerfile))
    if not posixpath.isabs(b.dockerfile) and (dockerfile == ".." or dockerfile.startswith("../") or
                                              not _under(dockerfile, b.context)):
        found.append(dockerfile)
    found += [p.strip() for p in extra]
    out = []
    for p in found:
        norm = posixpath.normpath(p.replace("\\", "/"))
        if posixpath.isabs(norm) or norm == ".." or norm.startswith("../"):
            raise ConfigError(f"{where}: the path {p!r} is outside the project",
                              hint="give paths relative to the project folder (the folder of invoke.yaml)")
        if norm not in out:
            out.append(norm)
    return tuple(out)


def _under(path: str, folder: str) -> bool:
    folder = posixpath.normpath(folder)
    return folder == "." or path == folder or path.startswith(folder.rstrip("/") + "/")


def _distinct(targets: tuple[TargetSettings, ...]) -> None:
    """No two targets share a tag prefix, or an image (they would replace each other's tags)."""
    seen: dict[str, str] = {}
    for t in targets:
        other = seen.setdefault(t.target.tag_prefix, t.target.name)
        if other != t.target.name:
            raise ConfigError(f"release.targets {other} and {t.target.name} have the same tag prefix "
                              f"{t.target.tag_prefix!r}", hint="give each target its own tag_prefix (api/, web-)")
    owners: dict[str, str] = {}
    for t in targets:
        for image in _image_names(t.settings.images):
            other = owners.setdefault(image, t.target.name)
            if other != t.target.name:
                raise ConfigError(
                    f"release.targets {other} and {t.target.name} both publish to {image}",
                    hint="give each target its own images (targets: {name: {images: [...]}})")
    names = [t.target.name for t in targets if not t.settings.images]
    if len(names) > 1:
        raise ConfigError(f"release.targets {', '.join(names)} name no images, so they would share the CI's default "
                          "image with each other", hint="give each target its own images (targets: {name: {images: [...]}})")


def _image_names(entries) -> list[str]:
    from image_release.core.images import parse_images

    return [e.name.lower() for e in parse_images(tuple(entries))]
