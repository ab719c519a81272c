"""The default tag rules and flavor, in docker/metadata-action syntax (see ``tag_rules``).

They are the rules of the process this tool automates (shared/reference/process.zh.md, "多标签发布"):
the workflow there passes exactly these four lines to metadata-action, and the document asks for
``1.2.3``, ``1.2``, ``1`` and ``latest`` on a release and ``latest`` on builds of the default branch.

- On a release tag ``v1.2.3``: ``1.2.3``, ``1.2``, ``1`` from the semver rules, and ``latest`` from the
  flavor: under ``latest=auto`` the first rule that yields (a stable semver rule) adds ``latest``.
- On a prerelease tag ``v2.0.0-rc.1``: every semver pattern collapses to ``2.0.0-rc.1`` and there is
  no ``latest`` (metadata-action's documented behaviour).
- On the default branch: ``latest`` from the raw rule; on other branches and pull requests: nothing.

``{{is_default_branch}}`` is false on tag builds, so the raw rule never doubles the flavor's ``latest``.
Floating tags that would move backwards (a backport, a ``0`` major) are the planner's business, on
top of what these rules give.
"""

from __future__ import annotations

DEFAULT_TAG_RULES: tuple[str, ...] = (
    "type=semver,pattern={{version}}",
    "type=semver,pattern={{major}}.{{minor}}",
    "type=semver,pattern={{major}}",
    "type=raw,value=latest,enable={{is_default_branch}}",
)

# latest=auto: a stable release gets ``latest``; a prerelease or a branch build does not (the
# default branch gets it from the raw rule above). Spelled out so that it shows in `invoke version`.
DEFAULT_FLAVOR: tuple[str, ...] = ("latest=auto",)

# What metadata-action itself uses when its ``tags`` input is empty (README, "tags input"), for
# projects that set ``release.tags`` to an empty list and expect metadata-action's behaviour.
METADATA_ACTION_DEFAULT_TAGS: tuple[str, ...] = (
    "type=schedule",
    "type=ref,event=branch",
    "type=ref,event=tag",
    "type=ref,event=pr",
)
