"""The evaluation environment: what the global expressions (``{{branch}}``, ``{{tag}}``, ``{{sha}}``,
``{{base_ref}}``, ``{{is_default_branch}}``, dates) give for one context. One per evaluate/render call."""

from __future__ import annotations

import re
from datetime import datetime, timezone

from image_release.core.context import PR, SCHEDULE, TAG, Context
from image_release.core.tag_rules.moment import _zone, format_moment
from image_release.core.tag_rules.templates import _VERSION_NAMES, _Expr
from image_release.core.tag_rules.version_parts import _VersionVars

_SHORT_SHA = 7
_ON_DEFAULT_BRANCH = re.compile("create|discussion|issues|schedule")


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


class _Env:
    __slots__ = ("ctx", "is_tag", "tag", "branch", "is_pr", "pr", "is_schedule", "sha", "short_sha", "_cache")

    def __init__(self, ctx: Context):
        self.ctx = ctx
        ref = ctx.ref or ""
        self.is_tag = ctx.event == TAG or ref.startswith("refs/tags/")
        self.tag = (ctx.tag or ref[len("refs/tags/"):]) if self.is_tag else ""
        if ref.startswith("refs/heads/"):
            self.branch = ref[len("refs/heads/"):]
        else:
            self.branch = ""
        self.is_pr = ctx.event == PR or ref.startswith("refs/pull/")
        if ctx.pr_number is not None:
            self.pr = str(ctx.pr_number)
        else:
            pr = ref[len("refs/pull/"):] if ref.startswith("refs/pull/") else ""
            self.pr = pr[: -len("/merge")] if pr.endswith("/merge") else pr
        self.is_schedule = ctx.event == SCHEDULE
        self.sha = ctx.sha or ""
        self.short_sha = self.sha[:_SHORT_SHA]
        self._cache: dict = {}

    def is_default_branch(self) -> bool:
        # metadata-action: the ref minus refs/heads/ equals the repository's default branch. A
        # schedule counts as the default branch only when the branch is unknown (GitHub runs
        # schedules there); GitLab schedules name their branch, which may be another one.
        ref = self.ctx.ref or ""
        name = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref
        if not name:
            return False
        if self.ctx.default_branch and name == self.ctx.default_branch:
            return True
        if self.ctx.ci == "github" and self.ctx.event_name and _ON_DEFAULT_BRANCH.search(self.ctx.event_name):
            # GitHub runs these events for the last commit of the default branch (metadata-action)
            return True
        if self.ctx.default_branch:
            return False
        return self.is_schedule

    def base_ref(self) -> str:
        if self.is_tag or self.is_pr:
            base = self.ctx.base_ref or ""
            return base[len("refs/heads/"):] if base.startswith("refs/heads/") else base
        return ""

    def value(self, expr: _Expr, vars: _VersionVars | None) -> str:
        name = expr.name
        if name in _VERSION_NAMES:
            assert vars is not None
            return str(getattr(vars, name))
        key = (name, expr.fmt, expr.tz)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if name == "branch":
            out = self.branch
        elif name == "tag":
            out = self.tag
        elif name == "sha":
            out = self.short_sha
        elif name == "base_ref":
            out = self.base_ref()
        elif name == "is_default_branch":
            out = "true" if self.is_default_branch() else "false"
        elif name == "is_not_default_branch":
            out = "false" if self.is_default_branch() else "true"
        else:  # date, commit_date
            when = self.ctx.timestamp
            if name == "commit_date" and self.ctx.commit_date is not None:
                when = self.ctx.commit_date
            zone = _zone(expr.tz) if expr.tz else timezone.utc
            local = _aware(when).astimezone(zone)
            fmt = expr.fmt or ""
            if expr.default_format:  # moment's defaultFormatUtc / defaultFormat
                fmt = "YYYY-MM-DDTHH:mm:ss[Z]" if not local.utcoffset() else "YYYY-MM-DDTHH:mm:ssZ"
            out = format_moment(local, fmt)
        self._cache[key] = out
        return out
