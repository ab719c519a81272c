"""The OCI labels and annotations of the image (pure): ``org.opencontainers.image.*`` from the
project settings and the context, then the user's own ``release.build.labels`` (a user label of the
same key wins; its value may use the tag rules' global expressions, ``{{date 'YYYYMMDD'}}``...).

Safe semantics write the OCI keys that have a value, in the spec's order; metadata-action semantics
write what metadata-action writes: all eight of its keys (empty ones too), ``created`` with
milliseconds, ``version`` the first tag, the user's values rendered as expressions, sorted by key.
"""

from __future__ import annotations

import unicodedata

from image_release.core.context import Context
from image_release.core.plan_inputs import PlanSettings
from image_release.core.tag_rules import render_template
from image_release.core.versions import Version

Pairs = tuple[tuple[str, str], ...]


def oci_labels(ctx: Context, settings: PlanSettings, version: Version | None, local_tag: str,
               *, user: bool = True) -> Pairs:
    """The labels: OCI keys that have a value, in the spec's order, then the user's labels by name
    (``user=False``: the OCI keys alone, what the safe annotations start from)."""
    proj = settings.project
    source = _source(ctx, settings)
    values = {
        "org.opencontainers.image.title": proj.get("title") or _repo_name(ctx),
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
    if not user:
        return tuple(out)
    own = {k: render_template(v, ctx) for k, v in settings.build.labels}  # expressions, as metadata-action's
    out = [(k, own.pop(k, v)) for k, v in out] + sorted(own.items())
    return tuple(out)


def _repo_name(ctx: Context) -> str | None:
    return (ctx.repository or "").rsplit("/", 1)[-1] or None


def _source(ctx: Context, settings: PlanSettings) -> str | None:
    source = settings.project.get("source")
    if not source and ctx.repository and ctx.server_url:
        source = f"{ctx.server_url.rstrip('/')}/{ctx.repository}"
    return source


def metadata_action_base(ctx: Context, settings: PlanSettings, main: str) -> Pairs:
    """metadata-action's eight OCI keys (``getOCIAnnotationsWithCustoms``): the repository's name,
    description, URL (url and source), the first tag, the time with milliseconds, the commit and the
    licence; empty values stay. ``vendor`` (no key of metadata-action's) follows when set."""
    proj = settings.project
    url = proj.get("url") or _source(ctx, settings) or ""
    out = [
        ("org.opencontainers.image.title", proj.get("title") or _repo_name(ctx) or ""),
        ("org.opencontainers.image.description", proj.get("description") or ""),
        ("org.opencontainers.image.url", url),
        ("org.opencontainers.image.source", _source(ctx, settings) or url),
        ("org.opencontainers.image.version", main),
        ("org.opencontainers.image.created", _iso_ms(ctx)),
        ("org.opencontainers.image.revision", ctx.sha or ""),
        ("org.opencontainers.image.licenses", proj.get("licenses") or ""),
    ]
    if proj.get("vendor"):
        out.append(("org.opencontainers.image.vendor", proj["vendor"]))
    return tuple(out)


def metadata_action_pairs(ctx: Context, base: Pairs, custom_lines) -> Pairs:
    """``base`` then the custom ``key=value`` lines (expressions rendered), a later key replacing an
    earlier one in place, sorted by key as JavaScript's ``localeCompare`` does."""
    merged: dict[str, str] = dict(base)
    for line in custom_lines:
        key, sep, value = render_template(line, ctx).partition("=")
        if sep:
            merged[key] = value
    return tuple(sorted(merged.items(), key=lambda kv: locale_key(kv[0])))


def metadata_action_labels(ctx: Context, settings: PlanSettings, main: str) -> Pairs:
    custom = [f"{k}={v}" for k, v in settings.build.labels]
    return metadata_action_pairs(ctx, metadata_action_base(ctx, settings, main), custom)


def _iso_ms(ctx: Context) -> str:
    """JavaScript's ``Date.toISOString``: UTC, milliseconds, ``Z``."""
    from datetime import timezone

    when = ctx.timestamp if ctx.timestamp.tzinfo else ctx.timestamp.replace(tzinfo=timezone.utc)
    when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


# ICU's root collation (what Node's localeCompare uses) for the characters label keys are made of:
# punctuation first in this order, then digits, then letters case-insensitively, lower case first.
_PUNCTUATION = "_-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$"


def locale_key(text: str):
    """A sort key that orders ASCII label keys as ``String.prototype.localeCompare`` does."""
    primary, tertiary = [], []
    for ch in unicodedata.normalize("NFC", text):
        if ch.isspace():
            primary.append((0, 0))
        elif ch in _PUNCTUATION:
            primary.append((1, _PUNCTUATION.index(ch)))
        elif ch.isdigit():
            primary.append((2, int(ch) if ch.isascii() else ord(ch)))
        elif ch.isalpha():
            primary.append((3, ord(ch.lower())))
        else:
            primary.append((1, len(_PUNCTUATION) + ord(ch)))
        tertiary.append(1 if ch.isupper() else 0)
    return (primary, tertiary, text)
