"""The release plan (pure): from a context, the settings and the versions known to exist, decide
exactly what a run will build, which tags it will move, and why.

Floating tags never move backwards: a tag that several versions share (``1.2``, ``1``, ``latest``,
or any rule output that another version would also produce) moves only when this release is the
highest stable version among the versions that share it. Prereleases never move floating tags.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta
from typing import Iterable

from image_release.core.build_spec import BuildSpec
from image_release.core.context import BRANCH, PR, SCHEDULE, TAG, Context
from image_release.core.tag_rules import TagOutput, evaluate, parse_flavor, parse_rules
from image_release.core.versions import Version, docker_tag, is_prerelease, parse_version
from image_release.errors import ConfigError, RuleError

VERSION = "version"  # this version's own tag: moves (it is this release)
FLOATING = "floating"  # shared by several versions: guarded
BRANCH_TAG = "branch"  # a branch, PR or schedule build's tag: not a version, not guarded


@dataclass(frozen=True)
class TagDecision:
    tag: str
    kind: str
    move: bool
    reason: str


@dataclass(frozen=True)
class ReleasePlan:
    context: Context
    version: Version | None
    images: tuple[str, ...]
    decisions: tuple[TagDecision, ...]
    labels: tuple[tuple[str, str], ...]
    build: BuildSpec
    push: bool
    push_reason: str
    release: bool
    release_reason: str
    make_latest: bool
    local_tag: str  # the tag the image gets locally before anything is published
    warnings: tuple[str, ...] = ()
    known_versions: tuple[Version, ...] = field(default=(), repr=False)

    @property
    def tags(self) -> tuple[str, ...]:
        """The tags this run moves, in rule order (the version tag first on a release)."""
        return tuple(d.tag for d in self.decisions if d.move)

    @property
    def moved(self) -> dict[str, TagDecision]:
        return {d.tag: d for d in self.decisions if d.move}

    @property
    def primary_tag(self) -> str | None:
        for d in self.decisions:
            if d.move and d.kind == VERSION:
                return d.tag
        tags = self.tags
        return tags[0] if tags else None

    def refs(self) -> tuple[str, ...]:
        """Every image:tag this run publishes."""
        return tuple(f"{image}:{tag}" for image in self.images for tag in self.tags)

    @property
    def prerelease(self) -> bool:
        return self.version is not None and is_prerelease(self.version)

    def to_dict(self) -> dict:
        ctx = self.context
        return {
            "version": str(self.version) if self.version else None,
            "event": ctx.event,
            "ref": ctx.ref,
            "sha": ctx.sha,
            "images": list(self.images),
            "tags": list(self.refs()),
            "decisions": [asdict(d) for d in self.decisions],
            "labels": dict(self.labels),
            "push": self.push,
            "push_reason": self.push_reason,
            "release": self.release,
            "release_reason": self.release_reason,
            "prerelease": self.prerelease,
            "make_latest": self.make_latest,
            "local_tag": self.local_tag,
            "warnings": list(self.warnings),
        }


def release_version(ctx: Context) -> Version | None:
    """The version a tag context releases; a tag that is not SemVer is an error (VersionError)."""
    if ctx.event != TAG or not ctx.tag:
        return None
    return parse_version(ctx.tag)


def make_plan(
    ctx: Context,
    settings,
    *,
    known_versions: Iterable[Version] = (),
    fallback_image: str | None = None,
    warnings: Iterable[str] = (),
) -> ReleasePlan:
    """Compute the plan. ``settings`` is a parsed :class:`image_release.settings.Settings`."""
    version = release_version(ctx)
    rules = parse_rules(settings.tags)
    flavor = parse_flavor(settings.flavor)
    images = default_images(ctx, settings.images)
    notes = list(warnings)

    publish_allowed = settings.publish.get(ctx.event, False)
    if not images:
        if publish_allowed and ctx.event in (TAG, BRANCH, SCHEDULE) and ctx.ci:
            raise ConfigError(
                "no image name: release.images is empty and this CI gives no default",
                hint="set release.images in invoke.yaml, e.g. images: [registry.example.com/team/app]",
            )
        if not fallback_image:
            raise ConfigError(
                "no image name: release.images is empty",
                hint="set release.images in invoke.yaml, e.g. images: [localhost:5000/app]",
            )
        images = (fallback_image,)
        local_only = True
    else:
        local_only = False

    known = sorted({v for v in known_versions})
    outputs = evaluate(rules, flavor, ctx)
    decisions: list[TagDecision] = []
    seen: set[str] = set()
    if version is not None:
        cache: dict = {}
        for out in outputs:
            if out.value in seen:
                continue
            seen.add(out.value)
            decisions.append(
                _decide_version_tag(out, version, known, rules, flavor, ctx, settings.major_zero, cache)
            )
    else:
        why = {BRANCH: "branch build", PR: "pull request build", SCHEDULE: "scheduled build"}.get(ctx.event, ctx.event)
        for out in outputs:
            if out.value in seen:
                continue
            seen.add(out.value)
            decisions.append(TagDecision(out.value, BRANCH_TAG, True, f"{why}: {_rule_text(out)}"))

    local_tag = _local_tag(ctx, settings, version, decisions)
    if local_only:
        push, push_reason = False, "no release.images configured: the image stays local"
    elif not publish_allowed:
        push, push_reason = False, f"release.publish.{ctx.event} is false: a {ctx.event} build pushes nothing"
    elif not any(d.move for d in decisions):
        push, push_reason = False, "the tag rules give no tag to publish for this context"
    else:
        push, push_reason = True, f"{ctx.event} build: publish {sum(d.move for d in decisions)} tag(s) per image"

    if version is None:
        release, release_reason = False, "not a version tag: no forge release"
    elif not push:
        release, release_reason = False, "nothing is published: no forge release"
    else:
        release, release_reason = True, f"create or update the release for {ctx.tag}"

    stable_known = [v for v in known if not is_prerelease(v)]
    make_latest = bool(
        version is not None and not is_prerelease(version) and all(version >= v for v in stable_known)
    )
    labels = _labels(ctx, settings, version, decisions, local_tag)
    build = BuildSpec(
        context=settings.build.context,
        dockerfile=settings.build.dockerfile,
        tags=tuple(f"{image}:{local_tag}" for image in images),
        build_args=settings.build.args,
        target=settings.build.target,
        labels=labels,
        platforms=settings.build.platforms,
        cache_from=settings.build.cache_from,
        cache_to=settings.build.cache_to,
        secrets=settings.build.secrets,
        buildkit=settings.build.buildkit,
        builder=settings.build.builder,
        network=settings.build.network,
        pull=settings.build.pull,
    )
    return ReleasePlan(
        context=ctx,
        version=version,
        images=tuple(images),
        decisions=tuple(decisions),
        labels=labels,
        build=build,
        push=push,
        push_reason=push_reason,
        release=release,
        release_reason=release_reason,
        make_latest=make_latest,
        local_tag=local_tag,
        warnings=tuple(notes),
        known_versions=tuple(known),
    )


def default_images(ctx: Context, configured: Iterable[str]) -> tuple[str, ...]:
    configured = tuple(configured)
    if configured:
        return configured
    if ctx.ci == "github":
        if ctx.repository:
            return (f"ghcr.io/{ctx.repository.lower()}",)
    if ctx.registry_image:
        return (ctx.registry_image,)
    return ()


def _rule_text(out: TagOutput) -> str:
    if out.rule is None:
        return "flavor latest"
    return out.rule.line


# Another version's commit and build time are unknown here. Its context gets a sentinel commit and
# a build time far from this one, so tags made from the commit or the date (``type=sha``,
# ``{{sha}}``, ``{{date ...}}``) are never taken as shared: they belong to this build alone.
_OTHER_SHA = "0" * 40
_OTHER_SHIFT = timedelta(days=400, hours=1, minutes=1, seconds=1, milliseconds=1)


def _other_context(ctx: Context, version: Version, sha: str = _OTHER_SHA) -> Context:
    other = ctx.with_tag(_tag_text(ctx.tag or "", version))
    shift = _OTHER_SHIFT if sha == _OTHER_SHA else -_OTHER_SHIFT
    return replace(
        other,
        sha=sha,
        timestamp=ctx.timestamp - shift,
        commit_date=(ctx.commit_date - shift) if ctx.commit_date else None,
    )


def _outputs_for(version: Version, rules, flavor, ctx: Context, cache: dict) -> frozenset[str]:
    """The tags the rules give another version (empty when they cannot give it any)."""
    key = str(version)
    if key not in cache:
        try:
            cache[key] = frozenset(o.value for o in evaluate(rules, flavor, _other_context(ctx, version)))
        except RuleError:
            # e.g. an old tag whose prerelease part makes a tag over 128 characters: the rules
            # could never have published it, so it shares nothing. It must not fail this release.
            cache[key] = frozenset()
    return cache[key]


def _tag_text(template_tag: str, v: Version) -> str:
    """Spell another version the way this release's tag is spelled (keep a leading v)."""
    prefix = "v" if template_tag[:1] in ("v", "V") else ""
    return f"{prefix}{v}"


def _decide_version_tag(out: TagOutput, version: Version, known, rules, flavor, ctx, major_zero: bool,
                        cache: dict | None = None) -> TagDecision:
    cache = {} if cache is None else cache
    rule = _rule_text(out)
    # Which other versions would publish the same tag? Real ones decide the line; hypothetical
    # neighbours only tell whether the tag is floating at all (a first release has no siblings yet).
    sharers = [v for v in known if v != version and out.value in _outputs_for(v, rules, flavor, ctx, cache)]
    neighbours = {
        "patch": Version(version.major, version.minor, version.patch + 1),
        "minor": Version(version.major, version.minor + 1, 0),
        "major": Version(version.major + 1, 0, 0),
    }
    shared_with = {k for k, v in neighbours.items() if out.value in _outputs_for(v, rules, flavor, ctx, cache)}
    floating = out.is_latest or bool(shared_with) or bool(sharers)
    if not floating:
        return TagDecision(out.value, VERSION, True, f"this version's own tag ({rule})")
    if is_prerelease(version):
        return TagDecision(out.value, FLOATING, False, "prereleases never move floating tags")
    if version.major == 0 and "minor" in shared_with and "major" not in shared_with and not out.is_latest:
        if not major_zero:
            return TagDecision(
                out.value, FLOATING, False,
                "0.y.z makes no compatibility promise: the major tag 0 is not published (release.major_zero: true turns it on)",
            )
    stable = [v for v in sharers if not is_prerelease(v)]
    higher = [v for v in stable if v > version]
    if higher:
        top = max(higher)
        return TagDecision(
            out.value, FLOATING, False,
            f"{top} is higher and also has this tag: floating tags never move backwards",
        )
    line = "all versions" if out.is_latest or "major" in shared_with else "its line"
    return TagDecision(out.value, FLOATING, True, f"highest stable version of {line} ({rule})")


def _local_tag(ctx: Context, settings, version: Version | None, decisions) -> str:
    if version is not None:
        for d in decisions:
            if d.kind == VERSION:
                return d.tag
        return docker_tag(version)
    try:
        text = settings.build.dev_tag.format(
            branch=ctx.branch or "detached",
            short_sha=ctx.short_sha or "nosha",
            sha=ctx.sha or "nosha",
            pr=ctx.pr_number or "",
        )
    except (KeyError, IndexError, ValueError, AttributeError) as e:
        raise ConfigError(
            f"release.build.dev_tag {settings.build.dev_tag!r} is not a valid template ({type(e).__name__}: {e})",
            hint="use the fields {branch}, {short_sha}, {sha} and {pr}, e.g. dev_tag: '{branch}-{short_sha}'",
        ) from None
    return _sanitize(text)


def _sanitize(text: str) -> str:
    """A Docker tag from free text: invalid characters become '-', at most 128 characters."""
    import re

    tag = re.sub(r"[^A-Za-z0-9_.-]", "-", text).lstrip(".-")[:128]
    return tag or "dev"


def _labels(ctx: Context, settings, version: Version | None, decisions, local_tag: str) -> tuple[tuple[str, str], ...]:
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


def explain(plan: ReleasePlan) -> str:
    """The plan as text, for `invoke version` and `--dry-run`."""
    ctx = plan.context
    lines = []
    what = f"version {plan.version}" if plan.version else f"{ctx.event} {ctx.ref_name or ctx.ref}"
    lines.append(f"release plan: {what} (context from {ctx.source}, sha {ctx.short_sha or '-'})")
    lines.append(f"  images: {', '.join(plan.images)}")
    lines.append(f"  local tag: {plan.local_tag}")
    lines.append("  tags:")
    for d in plan.decisions:
        mark = "move" if d.move else "keep"
        lines.append(f"    {mark:4} {d.tag:<24} [{d.kind}] {d.reason}")
    if not plan.decisions:
        lines.append("    (none: the tag rules give no tag for this context)")
    lines.append(f"  push: {'yes' if plan.push else 'no'} - {plan.push_reason}")
    lines.append(f"  release: {'yes' if plan.release else 'no'} - {plan.release_reason}")
    if plan.release:
        lines.append(f"    prerelease: {'yes' if plan.prerelease else 'no'}, make latest: {'yes' if plan.make_latest else 'no'}")
    lines.append("  labels:")
    for k, v in plan.labels:
        lines.append(f"    {k}={v}")
    for w in plan.warnings:
        lines.append(f"  warning: {w}")
    return "\n".join(lines)


def known_versions_from_tags(tags: Iterable[str]) -> list[Version]:
    """Versions among git tags or registry tags (anything that is not SemVer is ignored)."""
    from image_release.core.versions import parse_tag_lenient

    out = []
    for t in tags:
        v = parse_tag_lenient(t)
        if v is not None:
            out.append(v)
    return out


def versions_in_registry(tags: Iterable[str], settings) -> list[Version]:
    """:func:`registry_versions` with the prefix and suffix of the settings' flavor."""
    flavor = parse_flavor(settings.flavor)
    return registry_versions(tags, flavor.prefix, flavor.suffix)


def registry_versions(tags: Iterable[str], prefix: str = "", suffix: str = "") -> list[Version]:
    """Versions among a registry's tags, undoing a flavor prefix and suffix (``1.2.0-alpine`` with
    ``suffix=-alpine`` is 1.2.0, not the prerelease ``1.2.0-alpine``)."""
    from image_release.core.versions import parse_tag_lenient

    out = []
    for t in tags:
        if prefix and not t.startswith(prefix):
            continue
        if suffix and not t.endswith(suffix):
            continue
        body = t[len(prefix): len(t) - len(suffix) if suffix else None]
        v = parse_tag_lenient(body)
        if v is not None:
            out.append(v)
    return out


def owner_of_tag(tag: str, versions: Iterable[Version], settings, ctx: Context) -> Version | None:
    """The highest stable version that the tag rules give ``tag`` to: the version a floating tag
    should point at once every release has finished (used to repair a lost race)."""
    rules = parse_rules(settings.tags)
    flavor = parse_flavor(settings.flavor)
    cache: dict = {}
    owners = [
        v for v in set(versions)
        if not is_prerelease(v) and tag in _outputs_for(v, rules, flavor, ctx, cache)
    ]
    return max(owners) if owners else None


def version_tag_of(version: Version, settings, ctx: Context) -> str:
    """The version's own tag under the rules (``1.2.3`` with the default rules).

    Only a tag that does not depend on the commit or the build time counts (the version's commit
    is not known here): with ``type=sha`` ranked first, the ``{{version}}`` tag is still the one.
    """
    rules = parse_rules(settings.tags)
    flavor = parse_flavor(settings.flavor)
    vctx = _other_context(ctx, version)
    stable = {o.value for o in evaluate(rules, flavor, _other_context(ctx, version, sha="f" * 40))}
    cache: dict = {}
    for out in evaluate(rules, flavor, vctx):
        if out.value not in stable:
            continue
        d = _decide_version_tag(out, version, [], rules, flavor, vctx, True, cache)
        if d.kind == VERSION:
            return d.tag
    return docker_tag(version)
