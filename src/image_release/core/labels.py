"""The OCI labels of the image (pure): ``org.opencontainers.image.*`` from the project settings and
the context, then the user's own ``release.build.labels`` (a user label of the same key wins)."""

from __future__ import annotations

from image_release.core.context import Context
from image_release.core.plan_inputs import PlanSettings
from image_release.core.versions import Version


def oci_labels(ctx: Context, settings: PlanSettings, version: Version | None, local_tag: str) -> tuple[tuple[str, str], ...]:
    """The labels: OCI keys that have a value, in the spec's order, then the user's labels by name."""
    proj = settings.project
    repo_name = (ctx.repository or "").rsplit("/", 1)[-1] or None
    source = proj.get("source")
    if not source and ctx.repository and ctx.server_url:
        source = f"{ctx.server_url.rstrip('/')}/{ctx.repository}"
    values = {
        "org.opencontainers.image.title": proj.get("title") or repo_name,
        "org.opencontainers.image.description": proj.get("description"),
        "org.opencontainers.image.url": proj.get("url") or source,
        "org.opencontainers.image.source": source,
        "org.opencontainers.image.version": str(version) if version else local_tag,
        "org.opencontainers.image.created": ctx.timestamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "org.opencontainers.image.revision": ctx.sha or None,
        "org.opencontainers.image.licenses": proj.get("licenses"),
        "org.opencontainers.image.vendor": proj.get("vendor"),
    }
    out = [(k, v) for k, v in values.items() if v]
    user = dict(settings.build.labels)
    out = [(k, user.pop(k, v)) for k, v in out] + sorted(user.items())
    return tuple(out)
