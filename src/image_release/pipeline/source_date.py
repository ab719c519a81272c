"""The image's ``org.opencontainers.image.created``: the source's date, not the run's, so that building the
same commit again gives the same image (and a re-run publishes, replaces and signs nothing new).

The date is ``SOURCE_DATE_EPOCH`` (https://reproducible-builds.org/specs/source-date-epoch/) when set, else the
commit time of the commit being built. Without either (not a git checkout) the label keeps the run's time.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

from image_release.errors import ConfigError

CREATED = "org.opencontainers.image.created"


def source_date(run) -> datetime | None:
    """``SOURCE_DATE_EPOCH`` (whole seconds since 1970, UTC), else the commit time of the commit built."""
    raw = (run.env.get("SOURCE_DATE_EPOCH") or "").strip()
    if raw:
        if not raw.isdigit():
            raise ConfigError(f"SOURCE_DATE_EPOCH must be whole seconds since 1970, not {raw!r}",
                              hint="for example SOURCE_DATE_EPOCH=$(git log -1 --format=%ct)")
        return datetime.fromtimestamp(int(raw), timezone.utc)
    ctx = run.context
    if ctx.commit_date is not None:
        return ctx.commit_date
    facts = run.git.facts()  # CI contexts come from variables: the checkout knows the commit's time
    if facts.commit_date is not None and ctx.sha and facts.sha == ctx.sha:
        return facts.commit_date
    return None


def with_created_label(run, settings):
    """``settings`` whose build labels carry ``created`` from the source date, unless the project sets that
    label itself (the user's label wins, as for every OCI label), or asks for metadata-action's labels."""
    if settings.semantics == "metadata-action" or any(key == CREATED for key, _value in settings.build.labels):
        return settings
    when = source_date(run)
    if when is None:
        return settings
    stamp = when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return replace(settings, build=replace(settings.build, labels=settings.build.labels + ((CREATED, stamp),)))
