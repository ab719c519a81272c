"""The floating-tag guard with thousands of known versions (issue 17): the same decisions as evaluating the
rules for every known version, with each version's rules evaluated at most once and only when a decision
needs it; owners found highest first; versions sorted by a key that orders exactly as SemVer does."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

import image_release.core.guard as guard
from image_release.core.context import TAG, Context
from image_release.core.guard import (
    FLOATING,
    MAJOR_ZERO,
    NO_BACKWARDS,
    PRERELEASE_FLOATING,
    VERSION,
    TagDecision,
    owner_of_tag,
    owners_of_tags,
    rule_text,
)
from image_release.core.plan import make_plan
from image_release.core.versions import precedence, sorted_versions
from image_release.core.tag_rules import evaluate, parse_flavor, parse_rules
from image_release.core.versions import Version, is_prerelease
from image_release.settings import parse_settings, plan_settings

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


def ctx_for(tag: str) -> Context:
    return Context(event=TAG, ref=f"refs/tags/{tag}", tag=tag, sha="a" * 40, default_branch="main", source="cli",
                   timestamp=NOW)


def settings(**raw):
    return plan_settings(parse_settings({"images": ["127.0.0.1:5000/t/guard"], **raw}))


# -- the reference: every known version's rules evaluated for every tag (the guard before issue 17) ----------
def _reference(out, version, known, rules, flavor, ctx, major_zero) -> TagDecision:
    cache: dict = {}

    def outputs(v):
        return guard._outputs_for(v, rules, flavor, ctx, cache)

    rule = rule_text(out)
    sharers = [v for v in known if v != version and out.value in outputs(v)]
    neighbours = {"patch": Version(version.major, version.minor, version.patch + 1),
                  "minor": Version(version.major, version.minor + 1, 0),
                  "major": Version(version.major + 1, 0, 0)}
    shared_with = {k for k, v in neighbours.items() if out.value in outputs(v)}
    if not (out.is_latest or shared_with or sharers):
        return TagDecision(out.value, VERSION, True, f"this version's own tag ({rule})")
    if is_prerelease(version):
        return TagDecision(out.value, FLOATING, False, "prereleases never move floating tags", PRERELEASE_FLOATING)
    if version.major == 0 and "minor" in shared_with and "major" not in shared_with and not out.is_latest \
            and not major_zero:
        return TagDecision(out.value, FLOATING, False,
                           "0.y.z makes no compatibility promise: the major tag 0 is not published "
                           "(release.major_zero: true turns it on)", MAJOR_ZERO)
    higher = [v for v in sharers if not is_prerelease(v) and v > version]
    if higher:
        return TagDecision(out.value, FLOATING, False,
                           f"{max(higher)} is higher and also has this tag: floating tags never move backwards",
                           NO_BACKWARDS)
    line = "all versions" if out.is_latest or "major" in shared_with else "its line"
    return TagDecision(out.value, FLOATING, True, f"highest stable version of {line} ({rule})")


RULE_SETS = [
    None,  # the defaults
    ["type=semver,pattern={{major}}.{{minor}}"],
    ["type=semver,pattern={{version}}", "type=raw,value=stable"],
    ["type=match,pattern=\\d+,group=0", "type=semver,pattern={{version}}"],
    # the patch number alone: shared with lower versions of other lines, and with no neighbour
    ["type=semver,pattern={{version}}", "type=match,pattern=v\\d+\\.\\d+\\.(\\d+),group=1"],
    # the prerelease's word: shared between prereleases only
    ["type=semver,pattern={{version}}", "type=match,pattern=-([a-z]+),group=1"],
    ["type=semver,pattern={{major}}", "type=semver,pattern={{minor}}"],
]

_part = st.integers(0, 3)
_versions = st.builds(
    lambda ma, mi, pa, pre: Version.parse(f"{ma}.{mi}.{pa}" + (f"-{pre}" if pre else "")),
    _part, _part, _part, st.sampled_from([None, None, "rc.1", "rc.2", "beta.1", "alpha"]),
)


@hsettings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(RULE_SETS), _versions, st.lists(_versions, max_size=12), st.booleans())
def test_the_guard_decides_as_if_every_known_version_were_evaluated(rules, version, known, major_zero):
    raw = {"major_zero": major_zero}
    if rules is not None:
        raw["tags"] = rules
    s = settings(**raw)
    ctx = ctx_for(f"v{version}")
    plan = make_plan(ctx, s, known_versions=known)
    parsed, flavor = parse_rules(s.tags), parse_flavor(s.flavor)
    ref_known = sorted({v for v in known})
    seen, want = set(), []
    for out in evaluate(parsed, flavor, ctx):
        if out.value not in seen:
            seen.add(out.value)
            want.append(_reference(out, version, ref_known, parsed, flavor, ctx, major_zero))
    assert list(plan.decisions) == want
    stable = [v for v in ref_known if not is_prerelease(v)]
    assert plan.make_latest == (not is_prerelease(version) and all(version >= v for v in stable))


@hsettings(max_examples=300, deadline=None)
@given(st.lists(_versions, max_size=20))
def test_precedence_orders_exactly_as_semver(versions):
    assert sorted_versions(versions) == sorted(set(versions))
    for a in versions:
        for b in versions:
            assert (precedence(a) < precedence(b)) == (a < b)
            assert (precedence(a) == precedence(b)) == (a == b)


def test_precedence_of_prerelease_identifiers():
    order = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
             "1.0.0-rc.1", "1.0.0", "1.0.1-0", "1.0.1"]  # semver.org's example, and a numeric identifier
    parsed = [Version.parse(v) for v in reversed(order)]
    assert [str(v) for v in sorted_versions(parsed)] == order
    assert precedence(Version.parse("1.0.0+build.1")) == precedence(Version.parse("1.0.0"))


def _many() -> list[Version]:
    return [Version(a, b, c) for a in range(5) for b in range(10) for c in range(99)][:4944]


@pytest.fixture
def count_evaluations(monkeypatch):
    calls = []
    real = guard.evaluate

    def counting(rules, flavor, ctx):
        calls.append(ctx.tag)
        return real(rules, flavor, ctx)

    monkeypatch.setattr(guard, "evaluate", counting)
    return calls


def test_a_plan_evaluates_each_known_version_at_most_once(count_evaluations):
    known = _many()
    plan = make_plan(ctx_for("v2.5.99"), settings(), known_versions=known)
    assert [(d.tag, d.move) for d in plan.decisions] == [("2.5.99", True), ("2.5", True), ("2", False),
                                                         ("latest", False)]
    assert "2.9.98 is higher" in plan.decisions[2].reason and "4.9.92 is higher" in plan.decisions[3].reason
    others = [t for t in count_evaluations if t != "v2.5.99"]
    assert len(others) == len(set(others)) <= len(known) + 3  # each known version once, and the 3 neighbours


def test_owners_are_found_highest_first(count_evaluations):
    known = _many()
    s, ctx = settings(), ctx_for("v5.0.0")
    owners = owners_of_tags(["latest", "4", "4.9"], known + [Version(5, 0, 0)], s, ctx)
    assert owners == {"latest": Version(5, 0, 0), "4": Version(4, 9, 92), "4.9": Version(4, 9, 92)}
    assert count_evaluations == ["v5.0.0", "v4.9.92"]  # only the owners and what is above them
    count_evaluations.clear()
    assert owner_of_tag("2.5", known, s, ctx) == Version(2, 5, 98)
    assert len(count_evaluations) == sum(1 for v in known if v >= Version(2, 5, 98))
    assert owner_of_tag("nothing-gives-this", [], s, ctx) is None
