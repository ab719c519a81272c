"""The release plan (pure): from a context, the settings and the versions known to exist, decide
exactly what a run will build, which tags it will move, and why.

Floating tags never move backwards: a tag that several versions share (``1.2``, ``1``, ``latest``,
or any rule output that another version would also produce) moves only when this release is the
highest stable version among the versions that share it. Prereleases never move floating tags
(the guard itself is ``core/guard.py``; the labels ``core/labels.py``).

That is ``release.semantics: safe``, the default. ``metadata-action`` gives docker/metadata-action's
tags, labels and annotations for the same inputs instead (any git tag, no guard, the ``0`` major);
under ``safe`` every decision that differs from those names the guarantee that made it differ
(``TagDecision.differs_from_metadata_action``, a key of ``guard.GUARANTEES``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Iterable

from image_release.core.build_spec import BuildSpec, build_output
from image_release.core.context import BRANCH, PR, SCHEDULE, TAG, Context
from image_release.core.guard import (
    BRANCH_TAG,
    FLOATING,
    GUARANTEES,
    METADATA_ACTION_ONLY,
    PR_HEAD_SHA,
    SEMVER_TAG,
    UNVERSIONED,
    VERSION,
    KnownVersions,
    TagDecision,
    decide_version_tag,
    owner_of_tag,
    owners_of_tags,
    rule_text,
    version_tag_of,
)
from image_release.core.images import enabled_images, parse_images
from image_release.core.labels import metadata_action_labels, metadata_action_pairs, oci_labels
from image_release.core.plan_inputs import METADATA_ACTION, SAFE, PlanSettings, as_plan_settings
from image_release.core.tag_rules import Flavor, evaluate, parse_flavor, parse_rules
from image_release.core.versions import (
    Version, docker_tag, is_prerelease, parse_tag_lenient, parse_version, precedence, sorted_versions,
)
from image_release.core.versions import registry_versions as _registry_versions
from image_release.errors import ConfigError, RuleError, VersionError

__all__ = [
    "BRANCH_TAG", "FLOATING", "VERSION", "UNVERSIONED", "METADATA_ACTION_ONLY", "GUARANTEES", "SAFE", "METADATA_ACTION",
    "TagDecision", "ReleasePlan", "PlanSettings",
    "make_plan", "release_version", "default_images", "explain", "known_versions_from_tags",
    "registry_versions", "versions_in_registry", "version_affixes", "owner_of_tag", "owners_of_tags", "version_tag_of",
    "precedence", "sorted_versions",
]


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
    semantics: str = SAFE  # release.semantics: safe or metadata-action
    annotations: tuple[tuple[str, str], ...] = ()  # OCI annotations, as the labels are made for the semantics
    local_only: bool = False  # no image of release.images for this run: ``images`` is the local fallback
    withheld: tuple[str, ...] = ()  # a prerelease: the floating tags its final version would move, left alone

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
            "decisions": [{k: v for k, v in asdict(d).items() if k != "differs_from_metadata_action"}
                          for d in self.decisions],
            # tag -> the guarantee that makes it differ from metadata-action's output (safe semantics)
            "differs_from_metadata_action": {d.tag: d.differs_from_metadata_action for d in self.decisions
                                             if d.differs_from_metadata_action},
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "semantics": self.semantics,
            "local_only": self.local_only,
            "push": self.push,
            "push_reason": self.push_reason,
            "release": self.release,
            "release_reason": self.release_reason,
            "prerelease": self.prerelease,
            "make_latest": self.make_latest,
            "local_tag": self.local_tag,
            "warnings": list(self.warnings),
        }


def release_version(ctx: Context, settings=None) -> Version | None:
    """The version a tag context releases; a tag that is not SemVer is an error (VersionError) under
    safe semantics, and no version (None) under metadata-action semantics (``settings`` says which;
    without it, safe)."""
    if ctx.event != TAG or not ctx.tag:
        return None
    if settings is not None and as_plan_settings(settings).semantics == METADATA_ACTION:
        return parse_tag_lenient(ctx.tag)
    try:
        return parse_version(ctx.tag)
    except VersionError as e:
        raise VersionError(e.message, hint=f"{e.hint}; or set release.semantics: metadata-action to publish any git "
                                            f"tag as metadata-action does (the {SEMVER_TAG} guarantee)") from None


def make_plan(
    ctx: Context,
    settings,
    *,
    known_versions: Iterable[Version] = (),
    fallback_image: str | None = None,
    warnings: Iterable[str] = (),
) -> ReleasePlan:
    """Compute the plan. ``settings``: a :class:`~image_release.core.plan_inputs.PlanSettings`
    (``settings.plan_settings(parsed)``), or a parsed ``Settings``, which is converted.

    Under ``semantics: metadata-action`` the tags, labels and annotations are metadata-action's for
    the same inputs (any git tag, no floating-tag guard, its commit); under ``safe`` each decision
    that differs from metadata-action's names the guarantee (``differs_from_metadata_action``)."""
    s = as_plan_settings(settings)
    ma = s.semantics == METADATA_ACTION
    version = release_version(ctx, s)
    rules = parse_rules(s.tags, lenient=ma)
    flavor = parse_flavor(s.flavor)
    images, local_only = _images(ctx, s, fallback_image)
    known = sorted_versions(known_versions)  # one sort, by a key: thousands of versions are common
    decisions = _decisions(ctx.as_metadata_action() if ma else ctx, s, version, known, rules, flavor)
    if not ma and ctx.metadata_action_sha is not None:
        decisions = _with_metadata_action_commit(ctx, decisions, rules, flavor)
    local_tag = _local_tag(ctx, s, version, decisions)
    push, push_reason = _push(ctx, s, decisions, local_only)
    release, release_reason = _release(ctx, version, push)
    labels, annotations = _labels_and_annotations(ctx, s, version, decisions, local_tag)
    return ReleasePlan(
        withheld=_withheld(ctx, version, decisions, rules, flavor) if not ma else (),
        context=ctx,
        version=version,
        images=tuple(images),
        decisions=tuple(decisions),
        labels=labels,
        build=_build_spec(s, images, local_tag, labels, push),
        push=push,
        push_reason=push_reason,
        release=release,
        release_reason=release_reason,
        make_latest=_make_latest(version, known),
        local_tag=local_tag,
        warnings=tuple(warnings),
        known_versions=tuple(known),
        semantics=s.semantics,
        annotations=annotations,
        local_only=local_only,
    )


def _images(ctx: Context, s: PlanSettings, fallback_image: str | None) -> tuple[tuple[str, ...], bool]:
    """The images to publish, or the local fallback image (and True: nothing is published)."""
    images = default_images(ctx, s.images, s.semantics)
    if images:
        return images, False
    if parse_images(s.images):  # every configured image is disabled for this context
        if not fallback_image:
            raise ConfigError("no image: every entry of release.images is disabled (enable=false) for this run",
                              hint="enable an image, or give the run a local image name")
        return (fallback_image,), True
    if s.publish.get(ctx.event, False) and ctx.event in (TAG, BRANCH, SCHEDULE) and ctx.ci:
        raise ConfigError(
            "no image name: release.images is empty and this CI gives no default",
            hint="set release.images in invoke.yaml, e.g. images: [registry.example.com/team/app]",
        )
    if not fallback_image:
        raise ConfigError(
            "no image name: release.images is empty",
            hint="set release.images in invoke.yaml, e.g. images: [localhost:5000/app]",
        )
    return (fallback_image,), True


def _decisions(ctx: Context, s: PlanSettings, version: Version | None, known, rules, flavor: Flavor) -> list[TagDecision]:
    """One decision per distinct tag the rules give, in rule order."""
    decisions: list[TagDecision] = []
    seen: set[str] = set()
    cache: dict = {}
    # every tag's decision asks the same known versions: each one's tags are worked out once, if asked
    others = KnownVersions(known, version, rules, flavor, ctx, cache) if version is not None else None
    ma = s.semantics == METADATA_ACTION
    why = {BRANCH: "branch build", PR: "pull request build", SCHEDULE: "scheduled build"}.get(ctx.event, ctx.event)
    for out in evaluate(rules, flavor, ctx):
        if out.value in seen:
            continue
        seen.add(out.value)
        if version is not None:
            d = decide_version_tag(out, version, others, rules, flavor, ctx, s.major_zero, cache)
            if ma and d.kind != VERSION:
                d = TagDecision(d.tag, d.kind, True, f"moved as metadata-action moves it, no floating-tag guard "
                                                     f"({rule_text(out)})")
            decisions.append(d)
        elif ctx.event == TAG:  # metadata-action semantics only: safe ones refused the tag already
            decisions.append(TagDecision(out.value, UNVERSIONED, True,
                                         f"tag {ctx.tag} (not SemVer), metadata-action semantics: {rule_text(out)}"))
        else:
            decisions.append(TagDecision(out.value, BRANCH_TAG, True, f"{why}: {rule_text(out)}"))
    return decisions


def _with_metadata_action_commit(ctx: Context, decisions: list[TagDecision], rules, flavor) -> list[TagDecision]:
    """Safe semantics on a pull request: the tags made from the commit name the PR's head, and
    metadata-action's name GitHub's merge commit. Both sides are marked with the guarantee."""
    theirs = []
    for out in evaluate(rules, flavor, ctx.as_metadata_action()):
        if out.value not in theirs:
            theirs.append(out.value)
    ours = {d.tag for d in decisions}
    out = [d if d.tag in theirs else replace(d, differs_from_metadata_action=PR_HEAD_SHA) for d in decisions]
    for tag in theirs:
        if tag not in ours:
            out.append(TagDecision(tag, METADATA_ACTION_ONLY, False,
                                   f"metadata-action would publish this (its commit {ctx.metadata_action_sha[:7]} is "
                                   "GitHub's merge commit, not the PR's head)", PR_HEAD_SHA))
    return out


def _labels_and_annotations(ctx: Context, s: PlanSettings, version, decisions, local_tag: str):
    moved = [d.tag for d in decisions if d.move]
    if s.semantics == METADATA_ACTION:
        mctx = ctx.as_metadata_action()
        main = moved[0] if moved else ""
        labels = metadata_action_labels(mctx, s, main)
        base = metadata_action_labels(mctx, replace(s, build=replace(s.build, labels=())), main)
        return labels, metadata_action_pairs(mctx, base, s.annotations)
    labels = oci_labels(ctx, s, version, local_tag)
    own = oci_labels(ctx, s, version, local_tag, user=False)
    extra = dict(metadata_action_pairs(ctx, (), s.annotations))
    return labels, tuple((k, extra.pop(k, v)) for k, v in own) + tuple(extra.items())


def latest_branch(ctx: Context, settings) -> str | None:
    """The default branch, when the rules also move ``latest`` on a push to it (and such pushes publish):
    then ``latest`` is not only the newest stable release. None when only releases move it."""
    s = as_plan_settings(settings)
    branch = ctx.default_branch or "main"
    if not s.publish.get(BRANCH, False):
        return None
    pushed = Context(event=BRANCH, ref=f"refs/heads/{branch}", branch=branch, default_branch=branch,
                     sha=ctx.sha, repository=ctx.repository, timestamp=ctx.timestamp, source="given")
    try:
        outputs = evaluate(parse_rules(s.tags), parse_flavor(s.flavor), pushed)
    except RuleError:
        return None
    return branch if any(o.value == "latest" for o in outputs) else None


def _withheld(ctx: Context, version: Version | None, decisions, rules, flavor: Flavor) -> tuple[str, ...]:
    """For a prerelease (2.0.0-rc.1): the floating tags 2.0.0 would move (2.0, 2, latest), which this
    release leaves where they are, so that the plan can say so."""
    if version is None or not is_prerelease(version):
        return ()
    final = Version(version.major, version.minor, version.patch)
    tag = ("v" if (ctx.tag or "")[:1] in "vV" else "") + str(final)
    try:
        outputs = [o.value for o in evaluate(rules, flavor, ctx.with_tag(tag))]
    except RuleError:
        return ()
    shown = {d.tag for d in decisions} | {docker_tag(final)}
    return tuple(dict.fromkeys(v for v in outputs if v not in shown))


def _push(ctx: Context, s: PlanSettings, decisions, local_only: bool) -> tuple[bool, str]:
    if local_only:
        if parse_images(s.images):
            return False, "every image of release.images is disabled for this run: the image stays local"
        return False, "no release.images configured: the image stays local"
    if not s.publish.get(ctx.event, False):
        return False, f"release.publish.{ctx.event} is false: a {ctx.event} build pushes nothing"
    if not any(d.move for d in decisions):
        return False, "the tag rules give no tag to publish for this context"
    if ctx.event in (BRANCH, SCHEDULE) and ctx.source == "git" and not s.publish.get("outside_ci", False):
        return False, ("a branch build on a machine outside CI pushes nothing unless asked "
                       "(release.publish.outside_ci: true, or INVOKE_RELEASE_PUBLISH_OUTSIDE_CI=1)")
    return True, f"{ctx.event} build: publish {sum(d.move for d in decisions)} tag(s) per image"


def _release(ctx: Context, version: Version | None, push: bool) -> tuple[bool, str]:
    if version is None and ctx.event == TAG:
        return False, f"{ctx.tag} is not a SemVer version: no forge release (metadata-action semantics publish its tags only)"
    if version is None:
        return False, "not a version tag: no forge release"
    if not push:
        return False, "nothing is published: no forge release"
    return True, f"create or update the release for {ctx.tag}"


def _make_latest(version: Version | None, known) -> bool:
    """The forge's "latest release": a stable version at least as high as every stable one known."""
    if version is None or is_prerelease(version):
        return False
    own = precedence(version)
    return all(own >= precedence(v) for v in known if not is_prerelease(v))


def _build_spec(s: PlanSettings, images, local_tag: str, labels, push: bool) -> BuildSpec:
    """What to build; a multi-platform build pushes by itself only when the plan publishes (a pull
    request's builds nothing but its cache)."""
    b = s.build
    return BuildSpec(
        output=build_output(b.platforms, push),
        context=b.context,
        dockerfile=b.dockerfile,
        tags=tuple(f"{image}:{local_tag}" for image in images),
        build_args=b.args,
        target=b.target,
        labels=labels,
        platforms=b.platforms,
        cache_from=b.cache_from,
        cache_to=b.cache_to,
        secrets=b.secrets,
        buildkit=b.buildkit,
        builder=b.builder,
        network=b.network,
        pull=b.pull,
    )


def default_images(ctx: Context, configured: Iterable[str], semantics: str = SAFE) -> tuple[str, ...]:
    """The images of ``release.images`` enabled for ``ctx`` (entries in metadata-action's syntax;
    lower-cased under metadata-action semantics); when none is configured, the CI's default
    (``ghcr.io/<owner>/<repo>`` on GitHub, ``$CI_REGISTRY_IMAGE`` on GitLab)."""
    entries = parse_images(tuple(configured))
    if entries:
        return enabled_images(entries, ctx, lower=semantics == METADATA_ACTION)
    if ctx.ci == "github":
        if ctx.repository:
            return (f"ghcr.io/{ctx.repository.lower()}",)
    if ctx.registry_image:
        return (ctx.registry_image,)
    return ()


def _local_tag(ctx: Context, settings: PlanSettings, version: Version | None, decisions) -> str:
    if version is not None:
        for d in decisions:
            if d.kind == VERSION:
                return d.tag
        return docker_tag(version)
    if ctx.event == TAG and any(d.move for d in decisions):  # a tag that is not SemVer (metadata-action semantics)
        return next(d.tag for d in decisions if d.move)
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


def explain(plan: ReleasePlan, *, publishes: bool = True, releases: bool = True) -> str:
    """The plan as text, for `invoke version` and `--dry-run`. ``publishes``/``releases``: whether this run
    reaches the push and the release (`invoke build` does neither: its plan says so)."""
    ctx = plan.context
    lines = []
    what = f"version {plan.version}" if plan.version else f"{ctx.event} {ctx.ref_name or ctx.ref}"
    lines.append(f"release plan: {what} (context from {ctx.source}, sha {ctx.short_sha or '-'})")
    lines.append(f"  images: {', '.join(plan.images)}")
    lines.append(f"  local tag: {plan.local_tag}")
    lines.append("  tags:")
    if plan.semantics != SAFE:
        lines.append(f"  semantics: {plan.semantics} (no SemVer requirement, no floating-tag guard)")
    lines += _decision_lines(plan)
    lines.append(_step_line("push", plan.push, plan.push_reason, publishes, "`invoke push` or `invoke release`"))
    lines.append(_step_line("release", plan.release, plan.release_reason, releases, "`invoke release`"))
    if plan.release and releases:
        lines.append(f"    prerelease: {'yes' if plan.prerelease else 'no'}, make latest: {'yes' if plan.make_latest else 'no'}")
    lines.append("  labels:")
    for k, v in plan.labels:
        lines.append(f"    {k}={v}")
    for w in plan.warnings:
        lines.append(f"  warning: {w}")
    return "\n".join(lines)


def _decision_lines(plan: ReleasePlan) -> list[str]:
    lines = []
    for d in plan.decisions:
        mark = "move" if d.move else "keep"
        lines.append(f"    {mark:4} {d.tag:<24} [{d.kind}] {d.reason}")
        if d.differs_from_metadata_action:
            lines.append(f"         differs from metadata-action: {d.differs_from_metadata_action} "
                         f"({GUARANTEES[d.differs_from_metadata_action]})")
    for tag in plan.withheld:
        lines.append(f"    {'keep':4} {tag:<24} [{FLOATING}] a prerelease never moves floating tags "
                     f"({plan.version.major}.{plan.version.minor}.{plan.version.patch} will)")
    if not plan.decisions:
        lines.append("    (none: the tag rules give no tag for this context)")
    return lines


def _step_line(name: str, planned: bool, reason: str, reached: bool, who: str) -> str:
    if planned and not reached:
        return f"  {name}: not in this run ({who} does it: {reason})"
    return f"  {name}: {'yes' if planned else 'no'} - {reason}"


def known_versions_from_tags(tags: Iterable[str]) -> list[Version]:
    """Versions among git tags (``v`` prefix allowed; anything that is not SemVer is ignored)."""
    out = []
    for t in tags:
        v = parse_tag_lenient(t)
        if v is not None:
            out.append(v)
    return out


def version_affixes(settings) -> tuple[str, str]:
    """The flavor's prefix and suffix: what surrounds a version in a registry tag (``app-``,
    ``-alpine``). ``settings``: a PlanSettings (or a ``Settings``)."""
    flavor = parse_flavor(as_plan_settings(settings).flavor)
    return flavor.prefix, flavor.suffix


def versions_in_registry(tags: Iterable[str], settings) -> list[Version]:
    """:func:`registry_versions` with the prefix and suffix of the settings' flavor."""
    return registry_versions(tags, *version_affixes(settings))


def registry_versions(tags: Iterable[str], prefix: str = "", suffix: str = "") -> list[Version]:
    """Versions among a registry's tags, undoing a flavor prefix and suffix (``1.2.0-alpine`` with
    ``suffix=-alpine`` is 1.2.0, not the prerelease ``1.2.0-alpine``); one definition for the plan
    and retention: :func:`image_release.core.versions.registry_tag_version`."""
    return _registry_versions(tags, prefix, suffix)
