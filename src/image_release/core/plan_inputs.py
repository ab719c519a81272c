"""What the planner reads from the settings (pure data): a small typed input, so that core does not
depend on the shape of :class:`image_release.settings.Settings`. ``settings.plan_settings`` builds it
from the parsed settings; the planner's functions also accept a ``Settings`` and convert it there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from image_release.core.build_spec import BuildSecret

SAFE = "safe"  # this project's guarantees: SemVer release tags, the floating-tag guard, no 0 major
METADATA_ACTION = "metadata-action"  # docker/metadata-action's outputs, exactly


@dataclass(frozen=True)
class BuildInputs:
    """``release.build``: what the build spec is made of (the plan adds the tags and the labels)."""

    context: str
    dockerfile: str
    args: tuple[tuple[str, str], ...]
    target: str | None
    labels: tuple[tuple[str, str], ...]
    platforms: tuple[str, ...]
    cache_from: tuple[str, ...]
    cache_to: tuple[str, ...]
    secrets: tuple[BuildSecret, ...]
    buildkit: str
    builder: str | None
    network: str | None
    pull: bool
    dev_tag: str


@dataclass(frozen=True)
class PlanSettings:
    """The settings a plan is made from: the tag rules and flavor (metadata-action lines), the image
    entries, ``major_zero``, which events publish, the project's OCI label values and the build."""

    tags: tuple[str, ...]
    flavor: tuple[str, ...]
    images: tuple[str, ...]
    major_zero: bool
    publish: Mapping[str, bool]
    project: Mapping[str, str | None]
    build: BuildInputs
    semantics: str = SAFE  # SAFE or METADATA_ACTION
    annotations: tuple[str, ...] = ()  # metadata-action's `annotations:` lines (key=value, expressions allowed)


def as_plan_settings(settings) -> PlanSettings:
    """``settings`` as a :class:`PlanSettings`: itself, or converted from a parsed ``Settings``."""
    if isinstance(settings, PlanSettings):
        return settings
    from image_release.settings import Settings, plan_settings

    if isinstance(settings, Settings):
        return plan_settings(settings)
    raise TypeError(f"expected PlanSettings or Settings, not {type(settings).__name__}")
