"""The floating-tag guard (pure): for each tag a release's rules give, whether it is the version's own
tag or a floating one, and whether this release may move it.

Whether a tag is floating is decided from the rules themselves: the same rules are evaluated for the
known versions and for the neighbouring versions (next patch, minor, major), and whoever else would
produce the same value shares it. A floating tag moves only when this release is the highest stable
version among the versions that share it; prereleases never move floating tags, and a ``0.y.z``
release leaves the major tag ``0`` alone unless ``major_zero`` is on.

With thousands of known versions (a registry's tag list) the decisions stay the same, and cost less:
the versions are sorted once by a key (:func:`precedence`), each one's tags under the rules are worked
out at most once and only when a decision asks (:class:`KnownVersions`: the higher stable versions
first, highest first, for who keeps a tag; the others only for a tag nobody above shares), and the
owners of floating tags are found highest first (:func:`owners_of_tags`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Iterable

from image_release.core.context import TAG, Context
from image_release.core.plan_inputs import METADATA_ACTION, as_plan_settings
from image_release.core.tag_rules import TagOutput, evaluate, parse_flavor, parse_rules
from image_release.core.versions import Version, docker_tag, is_prerelease, precedence, sorted_versions
from image_release.errors import RuleError

VERSION = "version"  # this version's own tag: moves (it is this release)
FLOATING = "floating"  # shared by several versions: guarded
BRANCH_TAG = "branch"  # a branch, PR or schedule build's tag: not a version, not guarded
UNVERSIONED = "unversioned"  # metadata-action semantics: a tag event whose git tag is not SemVer; not guarded
METADATA_ACTION_ONLY = "metadata-action-only"  # safe semantics: a tag metadata-action would give, and this run not

# Why a safe-semantics run differs from what metadata-action gives for the same inputs: the guarantee.
SEMVER_TAG = "semver-tag"
NO_BACKWARDS = "no-backwards"
PRERELEASE_FLOATING = "prerelease-floating"
MAJOR_ZERO = "major-zero"
PR_HEAD_SHA = "pr-head-sha"
OCI_LABELS = "oci-labels"
STRICT_RULES = "strict-rules"
GUARANTEES = {
    SEMVER_TAG: "a release tag must be SemVer (vMAJOR.MINOR.PATCH); metadata-action accepts any git tag",
    NO_BACKWARDS: "floating tags never move backwards: a higher stable version also has this tag",
    PRERELEASE_FLOATING: "prereleases never move floating tags (metadata-action's latest=auto or a match rule would)",
    MAJOR_ZERO: "0.y.z does not publish the major tag 0 (release.major_zero: true turns it on)",
    PR_HEAD_SHA: "on a pull request the commit is the PR's head, not GitHub's synthetic merge commit "
                 "(DOCKER_METADATA_PR_HEAD_SHA=true gives metadata-action the same)",
    STRICT_RULES: "a tag rule that metadata-action runs with a warning (a match group the pattern lacks, an unquoted "
                  "date format) is an error that names the line",
    OCI_LABELS: "labels and annotations carry only the OCI keys that have a value, created to the second, version "
                "the SemVer version (or the local tag); metadata-action writes all eight keys, empty ones too",
}


@dataclass(frozen=True)
class TagDecision:
    tag: str
    kind: str
    move: bool
    reason: str
    # safe semantics: the guarantee (a key of GUARANTEES) that makes this differ from metadata-action's
    # output for the same inputs; None when metadata-action gives the same
    differs_from_metadata_action: str | None = None


def rule_text(out: TagOutput) -> str:
    if out.rule is None:
        return "flavor latest"
    return out.rule.line


# Another version's commit and build time are unknown here. Its context gets a sentinel commit and
# a build time far from this one, so tags made from the commit or the date (``type=sha``,
# ``{{sha}}``, ``{{date ...}}``) are never taken as shared: they belong to this build alone.
_OTHER_SHA = "0" * 40
_OTHER_SHIFT = timedelta(days=400, hours=1, minutes=1, seconds=1, milliseconds=1)


def _other_context(ctx: Context, version: Version, sha: str = _OTHER_SHA) -> Context:
    shift = _OTHER_SHIFT if sha == _OTHER_SHA else -_OTHER_SHIFT
    tag = _tag_text(ctx.tag or "", version)
    # One replace (Context.with_tag's fields and these): it runs once per known version.
    return replace(
        ctx, event=TAG, ref=f"refs/tags/{tag}", tag=tag, branch=None, pr_number=None, base_ref=None,
        metadata_action_sha=None, sha=sha, timestamp=ctx.timestamp - shift,
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


class KnownVersions:
    """The other versions known to exist, as one release's decisions need them: sorted once, and the
    rules evaluated for a version only when a decision asks about it (each version at most once).

    A floating tag moves only if no higher stable version shares it, so the higher stable versions are
    asked first, highest first, and the first one that shares a tag is the one that keeps it
    (:meth:`top`). The others (lower versions, prereleases) can only make a tag floating, so they are
    asked only about a tag that neither a neighbouring version nor a higher one shares (:meth:`shared`),
    and only until one shares it.
    """

    def __init__(self, known: Iterable[Version], version: Version, rules, flavor, ctx: Context,
                 cache: dict | None = None):
        own = precedence(version)
        keyed = sorted(((precedence(v), v) for v in set(known)), key=lambda kv: kv[0], reverse=True)
        self.higher = [v for k, v in keyed if k > own and v.prerelease is None]  # highest first
        self.rest = [v for k, v in keyed if k != own and not (k > own and v.prerelease is None)]
        self._args = (rules, flavor, ctx)
        self.cache = {} if cache is None else cache
        self._tops: dict[str, Version | None] = {}

    def _outputs(self, v: Version) -> frozenset[str]:
        return _outputs_for(v, *self._args, self.cache)

    def top(self, value: str) -> Version | None:
        """The highest stable version above this one that also gets ``value``, or None."""
        if value not in self._tops:
            self._tops[value] = next((v for v in self.higher if value in self._outputs(v)), None)
        return self._tops[value]

    def shared(self, value: str) -> bool:
        """Whether any other known version gets ``value``."""
        return self.top(value) is not None or any(value in self._outputs(v) for v in self.rest)


def decide_version_tag(out: TagOutput, version: Version, known, rules, flavor, ctx, major_zero: bool,
                       cache: dict | None = None) -> TagDecision:
    """The decision for one tag a release's rules give: its kind, whether it moves, and why. ``known``:
    the other versions known to exist, as a :class:`KnownVersions` (shared by a release's tags) or any
    iterable of versions."""
    cache = {} if cache is None else cache
    if not isinstance(known, KnownVersions):
        known = KnownVersions(known, version, rules, flavor, ctx, cache)
    rule = rule_text(out)
    # Which other versions would publish the same tag? Real ones decide the line; hypothetical
    # neighbours only tell whether the tag is floating at all (a first release has no siblings yet).
    neighbours = {
        "patch": Version(version.major, version.minor, version.patch + 1),
        "minor": Version(version.major, version.minor + 1, 0),
        "major": Version(version.major + 1, 0, 0),
    }
    shared_with = {k for k, v in neighbours.items() if out.value in _outputs_for(v, rules, flavor, ctx, cache)}
    stable = not is_prerelease(version)
    top = known.top(out.value) if stable else None  # a prerelease moves no floating tag: no owner needed
    floating = out.is_latest or bool(shared_with) or top is not None or known.shared(out.value)
    if not floating:
        return TagDecision(out.value, VERSION, True, f"this version's own tag ({rule})")
    if not stable:
        return TagDecision(out.value, FLOATING, False, "prereleases never move floating tags", PRERELEASE_FLOATING)
    if version.major == 0 and "minor" in shared_with and "major" not in shared_with and not out.is_latest:
        if not major_zero:
            return TagDecision(
                out.value, FLOATING, False,
                "0.y.z makes no compatibility promise: the major tag 0 is not published (release.major_zero: true turns it on)",
                MAJOR_ZERO,
            )
    if top is not None:
        return TagDecision(
            out.value, FLOATING, False,
            f"{top} is higher and also has this tag: floating tags never move backwards",
            NO_BACKWARDS,
        )
    line = "all versions" if out.is_latest or "major" in shared_with else "its line"
    return TagDecision(out.value, FLOATING, True, f"highest stable version of {line} ({rule})")


def owner_of_tag(tag: str, versions: Iterable[Version], settings, ctx: Context) -> Version | None:
    """The highest stable version that the tag rules give ``tag`` to: the version a floating tag
    should point at once every release has finished (used to repair a lost race). ``settings``: a
    :class:`~image_release.core.plan_inputs.PlanSettings` (or a ``Settings``). None under
    metadata-action semantics, which have no guard (so a race repair leaves the tags alone)."""
    return owners_of_tags((tag,), versions, settings, ctx)[tag]


def owners_of_tags(tags: Iterable[str], versions: Iterable[Version], settings, ctx: Context) -> dict[str, Version | None]:
    """:func:`owner_of_tag` of each of ``tags``, in one pass: the stable versions are asked highest first, and
    the pass ends once every tag has its owner, so only the versions that can own one of them (the owner
    and those above it) have the rules evaluated."""
    wanted = dict.fromkeys(tags)
    s = as_plan_settings(settings)
    if s.semantics == METADATA_ACTION or not wanted:
        return dict.fromkeys(wanted)  # no floating-tag guard: a floating tag has no owner to be put back on
    rules = parse_rules(s.tags)
    flavor = parse_flavor(s.flavor)
    cache: dict = {}
    open_tags = set(wanted)
    for v in reversed(sorted_versions(v for v in versions if not is_prerelease(v))):
        found = open_tags & _outputs_for(v, rules, flavor, ctx, cache)
        for tag in found:
            wanted[tag] = v
        open_tags -= found
        if not open_tags:
            break
    return wanted


def version_tag_of(version: Version, settings, ctx: Context) -> str:
    """The version's own tag under the rules (``1.2.3`` with the default rules).

    Only a tag that does not depend on the commit or the build time counts (the version's commit
    is not known here): with ``type=sha`` ranked first, the ``{{version}}`` tag is still the one.
    ``settings``: a :class:`~image_release.core.plan_inputs.PlanSettings` (or a ``Settings``).
    """
    s = as_plan_settings(settings)
    rules = parse_rules(s.tags, lenient=s.semantics == METADATA_ACTION)
    flavor = parse_flavor(s.flavor)
    vctx = _other_context(ctx, version)
    stable = {o.value for o in evaluate(rules, flavor, _other_context(ctx, version, sha="f" * 40))}
    cache: dict = {}
    for out in evaluate(rules, flavor, vctx):
        if out.value not in stable:
            continue
        d = decide_version_tag(out, version, [], rules, flavor, vctx, True, cache)
        if d.kind == VERSION:
            return d.tag
    return docker_tag(version)
