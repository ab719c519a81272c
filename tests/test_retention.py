"""Pure tests of the cleanup decisions: which tags and manifests go, and why."""

from __future__ import annotations

import pytest

from image_release.core.retention import (
    DELETE,
    KEEP,
    plan_replacement,
    plan_retention,
)
from image_release.errors import ConfigError


def d(ch: str) -> str:
    return "sha256:" + ch * 64


# ------------------------------------------------------------------------------------------ replacement


def test_replacement_deletes_the_old_digest_once_nothing_points_at_it():
    after = {d("n"): ["1.2.3", "1.2", "1", "latest"], d("x"): ["1.1.0", "1.1"]}
    plan = plan_replacement("1.2.3", d("o"), d("n"), after)
    assert plan.delete_digest == d("o")
    assert plan.action == DELETE
    assert "no tag points at the old" in plan.reason


def test_replacement_keeps_the_old_digest_while_another_tag_points_at_it():
    # a manual tag "stable" still points at the old build of 1.2.3: deleting the manifest would drop it
    after = {d("n"): ["1.2.3", "1.2"], d("o"): ["stable", "1"]}
    plan = plan_replacement("1.2.3", d("o"), d("n"), after)
    assert plan.delete_digest is None
    assert plan.still_tagged == ("1", "stable")
    assert "still tagged 1, stable" in plan.reason


def test_replacement_of_a_new_version_has_nothing_to_do():
    plan = plan_replacement("2.0.0", None, d("n"), {d("n"): ["2.0.0"]})
    assert plan.delete_digest is None
    assert "did not exist" in plan.reason


def test_replacement_with_unchanged_content_has_nothing_to_do():
    plan = plan_replacement("1.0.0", d("n"), d("n"), {d("n"): ["1.0.0"]})
    assert plan.delete_digest is None
    assert "did not change" in plan.reason


@pytest.mark.parametrize("after", [
    {d("o"): ["1.2.3"]},  # the version tag was not moved (publishing failed half-way)
    {d("n"): ["1.2"]},  # the version tag is missing
    {d("z"): ["1.2.3"], d("n"): ["1.2"]},  # someone else moved it meanwhile
])
def test_replacement_never_deletes_before_the_version_is_on_the_new_digest(after):
    plan = plan_replacement("1.2.3", d("o"), d("n"), after)
    assert plan.delete_digest is None
    assert "kept until the new one is published" in plan.reason


# -------------------------------------------------------------------------------------------- retention

CASES = [
    # (name, tags_by_digest, keep, keep_prereleases, patterns, floating, deleted tags, deleted digests)
    (
        "keep the N newest by SemVer, not by name",
        {d("1"): ["1.9.0"], d("2"): ["1.10.0"], d("3"): ["1.2.0"], d("4"): ["2.0.0"]},
        2, None, (), (),
        {"1.9.0", "1.2.0"}, {d("1"), d("3")},
    ),
    (
        "nothing to delete when there are fewer versions than keep",
        {d("1"): ["1.0.0"], d("2"): ["1.1.0"]},
        5, None, (), (),
        set(), set(),
    ),
    (
        "prereleases are counted apart",
        {d("1"): ["1.0.0"], d("2"): ["1.1.0"], d("3"): ["2.0.0-rc.1"], d("4"): ["2.0.0-rc.2"],
         d("5"): ["2.0.0-beta.1"]},
        1, 2, (), (),
        {"1.0.0", "2.0.0-beta.1"}, {d("1"), d("5")},
    ),
    (
        "keep_prereleases None means the same as keep",
        {d("1"): ["1.0.0"], d("2"): ["1.1.0"], d("3"): ["2.0.0-rc.1"], d("4"): ["2.0.0-rc.2"],
         d("5"): ["2.0.0-rc.3"]},
        2, None, (), (),
        {"2.0.0-rc.1"}, {d("3")},
    ),
    (
        "keep_prereleases 0 deletes every prerelease",
        {d("1"): ["1.0.0"], d("3"): ["2.0.0-rc.1"], d("4"): ["2.0.0-rc.2"]},
        5, 0, (), (),
        {"2.0.0-rc.1", "2.0.0-rc.2"}, {d("3"), d("4")},
    ),
    (
        "tags matching a keep pattern stay, with their images",
        {d("1"): ["1.0.0"], d("2"): ["1.1.0"], d("3"): ["1.2.0"], d("4"): ["1.3.0"]},
        1, None, (r"1\.1\..*",), (),
        {"1.0.0", "1.2.0"}, {d("1"), d("3")},
    ),
    (
        "patterns match the whole tag",
        {d("1"): ["1.0.0"], d("2"): ["1.1.0"]},
        1, None, (r"1\.0",), (),
        {"1.0.0"}, {d("1")},
    ),
    (
        "floating, branch and non-SemVer tags are never deleted, nor their images",
        {d("1"): ["1.0.0", "1.0", "1"], d("2"): ["1.1.0", "latest"], d("3"): ["main", "main-abc1234"],
         d("4"): ["v0.9.0"], d("5"): ["0.8.0", "edge"], d("6"): ["1.2.0"]},
        1, None, (), (),
        {"1.0.0", "1.1.0", "0.8.0"}, set(),
    ),
    (
        "a tag named as floating is never deleted even if it looks like a version",
        {d("1"): ["1.0.0"], d("2"): ["2.0.0"], d("3"): ["3.0.0"]},
        1, None, (), ("1.0.0",),
        {"2.0.0"}, {d("2")},
    ),
    (
        "shared digests: deleted only when every tag on it goes",
        {d("1"): ["1.0.0", "1.0.0-build.1"], d("2"): ["1.1.0", "1.1.0-rc.1"], d("3"): ["1.2.0"]},
        1, 1, (), (),
        {"1.0.0", "1.0.0-build.1", "1.1.0"}, {d("1")},
    ),
    (
        "a digest shared by a deleted version tag and a kept one stays",
        {d("1"): ["1.0.0", "1.1.0"], d("2"): ["0.9.0"]},
        1, None, (), (),
        {"1.0.0", "0.9.0"}, {d("2")},
    ),
    (
        "a digest with no tags is never touched",
        {d("1"): [], d("2"): ["1.0.0"], d("3"): ["2.0.0"]},
        1, None, (), (),
        {"1.0.0"}, {d("2")},
    ),
]


@pytest.mark.parametrize(
    "tags_by_digest, keep, keep_pre, patterns, floating, deleted, deleted_digests",
    [c[1:] for c in CASES], ids=[c[0] for c in CASES],
)
def test_retention_table(tags_by_digest, keep, keep_pre, patterns, floating, deleted, deleted_digests):
    plan = plan_retention(tags_by_digest, keep, keep_pre, patterns, floating)
    assert set(plan.deleted_tags) == deleted
    assert set(plan.deleted_digests) == deleted_digests
    every = {t for tags in tags_by_digest.values() for t in tags}
    assert {d.tag for d in plan.tags if d.action == KEEP} == every - deleted
    assert len(plan.tags) == len(every)
    for dec in plan.tags:
        assert dec.reason  # every decision says why
        assert dec.action in (KEEP, DELETE)
    # every deleted tag goes either with its manifest or alone
    lone = {t for t, _ in plan.lone_tags}
    with_manifest = {t for dd in plan.digests if dd.action == DELETE for t in dd.tags}
    assert lone | with_manifest == deleted
    assert not lone & with_manifest
    # a manifest that goes carries no kept tag
    for dd in plan.digests:
        if dd.action == DELETE:
            assert all(plan.decision(t).action == DELETE for t in dd.tags)


def test_floating_targets_are_never_deleted_whatever_keep_says():
    # every version beyond keep=1, but each image also carries a floating tag
    by_digest = {d("1"): ["1.0.0", "1.0"], d("2"): ["1.1.0", "1.1"], d("3"): ["1.2.0", "1.2", "1", "latest"]}
    plan = plan_retention(by_digest, 1)
    assert plan.deleted_digests == ()
    assert [t for t, _ in plan.lone_tags] == ["1.0.0", "1.1.0"]
    assert "only the tag goes" in plan.decision("1.1.0").reason
    assert "also tagged 1.1" in plan.decision("1.1.0").reason


def test_order_is_deterministic_and_newest_first():
    by_digest = {d("a"): ["main"], d("1"): ["1.0.0"], d("2"): ["1.10.0"], d("3"): ["1.2.0"],
                 d("4"): ["2.0.0-rc.1"], d("5"): ["latest"]}
    reordered = dict(reversed(list(by_digest.items())))
    p1, p2 = plan_retention(by_digest, 2, 0), plan_retention(reordered, 2, 0)
    assert p1 == p2
    assert [t.tag for t in p1.tags] == ["1.10.0", "1.2.0", "1.0.0", "2.0.0-rc.1", "latest", "main"]
    assert p1.deleted_digests == (d("4"), d("1"))  # oldest (listed last) first


def test_reasons_name_rank_and_limit():
    plan = plan_retention({d("1"): ["1.0.0"], d("2"): ["1.1.0"], d("3"): ["1.2.0"]}, 2)
    assert plan.decision("1.2.0").reason == "1st newest release (keeping 2)"
    assert plan.decision("1.0.0").reason == "3rd newest release, beyond the 2 kept"
    text = "\n".join(plan.lines())
    assert "1 of 3 tag(s) to delete" in text
    assert "delete manifest sha256:111111111111 (tags 1.0.0)" in text


def test_keep_pattern_reason_names_the_pattern():
    plan = plan_retention({d("1"): ["1.0.0"], d("2"): ["2.0.0"]}, 1, keep_patterns=[r"1\..*"])
    assert plan.decision("1.0.0").reason == "matches the keep pattern '1\\\\..*'"


@pytest.mark.parametrize("keep, pre", [(0, None), (-1, None), (True, None), ("3", None), (1, -1)])
def test_bad_limits_are_config_errors(keep, pre):
    with pytest.raises(ConfigError) as exc:
        plan_retention({}, keep, pre)
    assert exc.value.hint


def test_bad_pattern_is_a_config_error():
    with pytest.raises(ConfigError, match="not a valid regular expression"):
        plan_retention({}, 1, keep_patterns=["("])


def test_empty_registry_plans_nothing():
    plan = plan_retention({}, 3)
    assert plan.empty and plan.tags == () and plan.digests == ()


# --------------------------------------------------------------------------------------------- properties

import re  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_VERSION_TAGS = [f"{a}.{b}.{c}" for a in range(3) for b in range(3) for c in range(2)] + [
    "1.0.0-rc.1", "2.0.0-rc.1", "2.0.0-beta.2", "0.1.0-alpha"]
_OTHER_TAGS = ["latest", "1", "1.0", "2", "main", "edge", "v1.0.0", "stable-1"]


@st.composite
def registries(draw):
    tags = draw(st.lists(st.sampled_from(_VERSION_TAGS + _OTHER_TAGS), unique=True, max_size=20))
    n = draw(st.integers(1, 6))
    out: dict[str, list[str]] = {}
    for tag in tags:
        out.setdefault(d("0123456789abcdef"[draw(st.integers(0, n - 1))]), []).append(tag)
    return out


@settings(max_examples=300, deadline=None)
@given(registries(), st.integers(1, 5), st.one_of(st.none(), st.integers(0, 4)),
       st.lists(st.sampled_from([r"stable-.*", r"0\..*", r"2\.0\.0-.*"]), max_size=2))
def test_retention_invariants(by_digest, keep, keep_pre, patterns):
    plan = plan_retention(by_digest, keep, keep_pre, patterns)
    decided = {t.tag: t for t in plan.tags}
    assert set(decided) == {t for tags in by_digest.values() for t in tags}
    for tag, dec in decided.items():
        if tag in _OTHER_TAGS:
            assert dec.action == KEEP  # non-version tags are never deleted
    for dd in plan.digests:  # a manifest goes only when every tag on it goes
        gone = [decided[t].action == DELETE for t in by_digest[dd.digest]]
        assert (dd.action == DELETE) == (bool(gone) and all(gone))
    stable_kept = [t for t, x in decided.items() if x.action == KEEP and t in _VERSION_TAGS and "-" not in t
                   and not any(re.fullmatch(p, t) for p in patterns)]
    stable_all = [t for t in decided if t in _VERSION_TAGS and "-" not in t
                  and not any(re.fullmatch(p, t) for p in patterns)]
    assert len(stable_kept) == min(keep, len(stable_all))
    assert plan == plan_retention(dict(reversed(list(by_digest.items()))), keep, keep_pre, patterns)


# ------------------------------------------------------------------------------------ flavor prefix/suffix


def test_retention_with_a_suffix_flavor_counts_suffixed_tags_as_releases():
    """With ``suffix=-alpine`` the release writes ``1.2.0-alpine``: that is the release 1.2.0, not the
    prerelease ``1.2.0-alpine``. Read as prereleases, ``keep_prereleases=0`` would delete every one of
    them, the newest included."""
    by_digest = {d("1"): ["1.0.0-alpine"], d("2"): ["1.1.0-alpine"], d("3"): ["1.2.0-alpine", "1.2-alpine", "latest"]}
    plan = plan_retention(by_digest, 2, 0, suffix="-alpine")
    assert set(plan.deleted_tags) == {"1.0.0-alpine"}
    assert plan.deleted_digests == (d("1"),)
    assert plan.decision("1.2.0-alpine").reason == "1st newest release (keeping 2)"
    assert plan.decision("1.1.0-alpine").reason == "2nd newest release (keeping 2)"
    assert plan.decision("1.2-alpine").action == KEEP


def test_retention_with_a_prefix_and_suffix_flavor():
    by_digest = {d("1"): ["app-1.0.0-alpine"], d("2"): ["app-2.0.0-rc.1-alpine"], d("3"): ["app-1.1.0-alpine"],
                 d("4"): ["1.0.0"], d("5"): ["app-1.0.0"]}
    plan = plan_retention(by_digest, 1, 0, prefix="app-", suffix="-alpine")
    assert set(plan.deleted_tags) == {"app-1.0.0-alpine", "app-2.0.0-rc.1-alpine"}
    # tags of another flavor (or none) are not this flavor's versions: never deleted
    assert "not a version tag" in plan.decision("1.0.0").reason
    assert "not a version tag" in plan.decision("app-1.0.0").reason
    assert plan.decision("app-2.0.0-rc.1-alpine").reason == "1st newest prerelease, beyond the 0 kept"
