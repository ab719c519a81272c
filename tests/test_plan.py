"""The release plan: which tags a run moves and why, on real git repositories where git is involved.

Nothing of the core is mocked: contexts come from ``detect_context`` (with ``read_facts`` on a
real repository in a temp dir), known versions from ``tag_names`` + ``known_versions_from_tags``,
settings from ``parse_settings``. The CLI tests run the real ``invoke`` program on a temp project.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from image_release.adapters.git_repo import read_facts, tag_names
from image_release.core.context import BRANCH, PR, SCHEDULE, TAG, Context, detect_context
from image_release.core.plan import (
    BRANCH_TAG,
    FLOATING,
    VERSION,
    ReleasePlan,
    default_images,
    explain,
    known_versions_from_tags,
    make_plan,
    owner_of_tag,
    registry_versions,
    release_version,
    version_tag_of,
)
from image_release.core.versions import EXPECTED, parse_version
from image_release.errors import ConfigError, RuleError, VersionError
from image_release.settings import parse_settings

NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"
IMAGE = "registry.example.com/team/app"


def S(**raw):
    raw.setdefault("images", [IMAGE])
    return parse_settings(raw)


def V(text):
    return parse_version(text)


def tag_ctx(tag, **kw):
    kw.setdefault("sha", SHA)
    kw.setdefault("default_branch", "main")
    kw.setdefault("timestamp", NOW)
    return Context(event=TAG, ref=f"refs/tags/{tag}", tag=tag, **kw)


def branch_ctx(branch, **kw):
    kw.setdefault("sha", SHA)
    kw.setdefault("default_branch", "main")
    kw.setdefault("timestamp", NOW)
    return Context(event=BRANCH, ref=f"refs/heads/{branch}", branch=branch, **kw)


def pr_ctx(number, **kw):
    kw.setdefault("sha", SHA)
    kw.setdefault("default_branch", "main")
    kw.setdefault("timestamp", NOW)
    return Context(event=PR, ref=f"refs/pull/{number}/merge", pr_number=number, branch="feature", base_ref="main", **kw)


def moved(plan: ReleasePlan) -> list[str]:
    return list(plan.tags)


def kept(plan: ReleasePlan) -> dict[str, str]:
    return {d.tag: d.reason for d in plan.decisions if not d.move}


# -- releases on real git histories ----------------------------------------------------------
def build_history(repo, steps):
    """Steps: "v1.2.3" commits and tags; ("branch", name, start) branches off; ("tag", name) tags
    HEAD without a commit; ("checkout", ref) checks a ref out."""
    for step in steps:
        if isinstance(step, str):
            repo.commit(f"feat: towards {step}")
            repo.tag(step, annotated=step.endswith("0"))
        elif step[0] == "branch":
            repo.checkout("-b", step[1], step[2])
        elif step[0] == "tag":
            repo.tag(step[1])
        elif step[0] == "checkout":
            repo.checkout(step[1])
        else:  # pragma: no cover - table typo
            raise AssertionError(step)


def plan_in_repo(repo, settings=None, *, env=None, cli_tag=None, extra_known=()):
    ctx = detect_context(env or {}, cli_tag=cli_tag, git=lambda: read_facts(repo.path), now=NOW)
    known = known_versions_from_tags(tag_names(repo.path)) + list(extra_known)
    return make_plan(ctx, settings or S(), known_versions=known)


RELEASES = [
    # (id, history, settings, moved tags, {kept tag: words its reason must contain})
    ("first release", ["v1.2.3"], {}, ["1.2.3", "1.2", "1", "latest"], {}),
    ("next patch", ["v1.2.3", "v1.2.4"], {}, ["1.2.4", "1.2", "1", "latest"], {}),
    ("next minor", ["v1.2.3", "v1.3.0"], {}, ["1.3.0", "1.3", "1", "latest"], {}),
    ("next major", ["v1.2.3", "v2.0.0"], {}, ["2.0.0", "2.0", "2", "latest"], {}),
    ("versions compare numerically", ["v1.9.0", "v1.10.0", ("checkout", "v1.10.0")], {},
     ["1.10.0", "1.10", "1", "latest"], {}),
    ("backport after a higher minor", ["v1.1.4", "v1.2.0", ("branch", "release-1.1", "v1.1.4"), "v1.1.5"], {},
     ["1.1.5", "1.1"], {"1": "1.2.0 is higher", "latest": "1.2.0 is higher"}),
    ("backport after a higher major", ["v1.5.0", "v2.0.0", ("branch", "r1", "v1.5.0"), "v1.5.1"], {},
     ["1.5.1", "1.5", "1"], {"latest": "2.0.0 is higher"}),
    ("backport: the highest higher version is named", ["v1.1.0", "v1.2.0", "v1.3.0", ("branch", "r", "v1.1.0"), "v1.1.1"],
     {}, ["1.1.1", "1.1"], {"1": "1.3.0 is higher", "latest": "1.3.0 is higher"}),
    ("re-release of the highest version", ["v1.2.2", "v1.2.3"], {}, ["1.2.3", "1.2", "1", "latest"], {}),
    ("re-release of an older version", ["v1.2.3", "v1.3.0", ("checkout", "v1.2.3")], {},
     ["1.2.3", "1.2"], {"1": "1.3.0 is higher", "latest": "1.3.0 is higher"}),
    ("prerelease publishes only itself", ["v1.2.0", "v2.0.0-rc.1"], {}, ["2.0.0-rc.1"], {}),
    ("first ever release is a prerelease", ["v1.0.0-alpha.1"], {}, ["1.0.0-alpha.1"], {}),
    ("final after rc", ["v1.2.0", "v2.0.0-rc.1", "v2.0.0-rc.2", "v2.0.0"], {}, ["2.0.0", "2.0", "2", "latest"], {}),
    ("stable below a newer prerelease still moves everything",
     ["v1.2.0", "v2.0.0-rc.1", ("branch", "r", "v1.2.0"), "v1.2.1"], {}, ["1.2.1", "1.2", "1", "latest"], {}),
    ("rc and final on the same commit: the final wins", ["v1.0.0", "v1.1.0-rc.1", ("tag", "v1.1.0")], {},
     ["1.1.0", "1.1", "1", "latest"], {}),
    ("0.x: no 0 tag by default", ["v0.3.0", "v0.3.1"], {}, ["0.3.1", "0.3", "latest"], {"0": "release.major_zero"}),
    ("0.x: 0 tag with major_zero", ["v0.3.0", "v0.3.1"], {"major_zero": True}, ["0.3.1", "0.3", "0", "latest"], {}),
    ("0.0.x: no 0 tag", ["v0.0.5"], {}, ["0.0.5", "0.0", "latest"], {"0": "0.y.z makes no compatibility promise"}),
    ("0.x backport", ["v0.2.0", "v0.3.0", ("branch", "r", "v0.2.0"), "v0.2.1"], {}, ["0.2.1", "0.2"],
     {"0": "major_zero", "latest": "0.3.0 is higher"}),
    ("0.x backport with major_zero", ["v0.2.0", "v0.3.0", ("branch", "r", "v0.2.0"), "v0.2.1"], {"major_zero": True},
     ["0.2.1", "0.2"], {"0": "0.3.0 is higher", "latest": "0.3.0 is higher"}),
    ("1.0.0 after 0.x", ["v0.9.0", "v1.0.0"], {}, ["1.0.0", "1.0", "1", "latest"], {}),
    ("tags without v", ["1.2.0", "1.3.0", ("branch", "r", "1.2.0"), "1.2.1"], {}, ["1.2.1", "1.2"],
     {"1": "1.3.0", "latest": "1.3.0"}),
    ("tags that are no versions are ignored",
     ["v1.2.0", ("tag", "nightly"), "V9.0.0", ("tag", "release-7"), "v1.2.1"], {}, ["1.2.1", "1.2", "1", "latest"], {}),
    ("a giant old prerelease tag does not break the plan",
     ["v1.0.0-" + "x" * 140, "v1.0.0"], {}, ["1.0.0", "1.0", "1", "latest"], {}),
    ("build metadata: same version as an existing tag", ["v1.2.3", "v1.2.3+build.7"], {},
     ["1.2.3", "1.2", "1", "latest"], {}),
]


@pytest.mark.parametrize("history, raw, want_moved, want_kept", [r[1:] for r in RELEASES], ids=[r[0] for r in RELEASES])
def test_release_on_a_real_git_history(git_repo, history, raw, want_moved, want_kept):
    build_history(git_repo, history)
    plan = plan_in_repo(git_repo, S(**raw))
    assert plan.context.event == TAG and plan.context.source == "git"
    assert moved(plan) == want_moved
    got_kept = kept(plan)
    assert set(got_kept) == set(want_kept), got_kept
    for tag, words in want_kept.items():
        assert words in got_kept[tag], (tag, got_kept[tag])
    assert plan.push and plan.release
    assert plan.refs() == tuple(f"{IMAGE}:{t}" for t in want_moved)
    assert plan.primary_tag == want_moved[0] == plan.local_tag
    assert plan.build.tags == (f"{IMAGE}:{plan.local_tag}",)
    # The release is marked latest on the forge exactly when it is the highest stable version.
    assert plan.make_latest == ("latest" in want_moved)
    assert plan.prerelease == (plan.version.prerelease is not None)


def test_backport_reasons_name_the_higher_version(git_repo):
    build_history(git_repo, ["v1.1.4", "v1.2.0", ("branch", "release-1.1", "v1.1.4"), "v1.1.5"])
    plan = plan_in_repo(git_repo)
    by_tag = {d.tag: d for d in plan.decisions}
    assert by_tag["1.1.5"].kind == VERSION and "own tag" in by_tag["1.1.5"].reason
    assert by_tag["1.1"].kind == FLOATING and "highest stable version of its line" in by_tag["1.1"].reason
    for tag in ("1", "latest"):
        assert by_tag[tag].kind == FLOATING and not by_tag[tag].move
        assert "1.2.0" in by_tag[tag].reason and "never move backwards" in by_tag[tag].reason
    assert not plan.make_latest
    text = explain(plan)
    assert "keep latest" in " ".join(text.split()) and "1.2.0 is higher" in text


def test_prerelease_reasons(git_repo):
    build_history(git_repo, ["v1.2.0", "v2.0.0-rc.1"])
    plan = plan_in_repo(git_repo, S(tags=["type=semver,pattern={{version}}", "type=raw,value=edge"]))
    assert moved(plan) == ["2.0.0-rc.1"]
    assert kept(plan) == {"edge": "prereleases never move floating tags"}
    assert plan.prerelease and not plan.make_latest and plan.release


def test_rerelease_of_the_same_tag_twice_gives_the_same_plan(git_repo):
    build_history(git_repo, ["v1.0.0", "v1.1.0"])
    first = plan_in_repo(git_repo)
    again = plan_in_repo(git_repo, extra_known=[V("1.1.0"), V("1.1.0+rebuild")])
    assert first.decisions == again.decisions


def test_cli_tag_in_a_repo_uses_its_tags_as_known_versions(git_repo):
    build_history(git_repo, ["v1.1.4", "v1.2.0"])
    plan = plan_in_repo(git_repo, cli_tag="v1.1.5")  # not tagged yet: a --tag release from main
    assert plan.context.source == "cli"
    assert moved(plan) == ["1.1.5", "1.1"]
    assert plan.context.sha == git_repo.head()


def test_bad_tag_on_head_is_refused_with_the_expected_form(git_repo):
    build_history(git_repo, ["v1.0.0", ("tag", "v1.2")])
    git_repo.git("tag", "-d", "v1.0.0")
    with pytest.raises(VersionError) as info:
        plan_in_repo(git_repo)
    assert "'v1.2'" in info.value.message and EXPECTED in info.value.hint


@pytest.mark.parametrize("tag", ["v1.2", "1.2.3.4", "v01.2.3", "release-1", "v1.2.3-", "V1.2.3"])
def test_bad_cli_tag_is_refused_before_any_plan(tag):
    ctx = detect_context({}, cli_tag=tag, git=None, now=NOW)
    with pytest.raises(VersionError) as info:
        release_version(ctx)
    assert EXPECTED in info.value.hint
    with pytest.raises(VersionError):
        make_plan(ctx, S())


# -- known versions from the registry only ------------------------------------------------------
REGISTRY_TAGS = ["latest", "1", "1.2", "1.2.0", "1.1", "1.1.4", "sha-860c190", "main", "2.0.0-rc.1", "buildcache"]


def test_known_versions_from_registry_tags():
    assert sorted(map(str, known_versions_from_tags(REGISTRY_TAGS))) == ["1.1.4", "1.2.0", "2.0.0-rc.1"]


def test_backport_with_known_versions_from_the_registry_only():
    # A --tag run without git history (a fresh CI runner): the registry's tags say 1.2.0 exists.
    ctx = detect_context({}, cli_tag="v1.1.5", git=None, now=NOW)
    plan = make_plan(ctx, S(), known_versions=known_versions_from_tags(REGISTRY_TAGS))
    assert moved(plan) == ["1.1.5", "1.1"]
    assert set(kept(plan)) == {"1", "latest"} and all("1.2.0" in r for r in kept(plan).values())


def test_registry_versions_undo_the_flavor_prefix_and_suffix():
    tags = ["app-1.2.0-alpine", "app-1.2-alpine", "app-latest", "1.9.0", "app-2.0.0-rc.1-alpine", "app-1.1.4-alpine"]
    assert sorted(map(str, registry_versions(tags, "app-", "-alpine"))) == ["1.1.4", "1.2.0", "2.0.0-rc.1"]
    assert list(map(str, registry_versions(tags))) == ["1.9.0"]


def test_backport_with_suffix_flavor_and_registry_known_versions():
    settings = S(flavor=["latest=auto", "suffix=-alpine"])
    tags = ["1.2.0-alpine", "1.2-alpine", "1-alpine", "latest", "1.1.4-alpine"]
    plan = make_plan(tag_ctx("v1.1.5"), settings, known_versions=registry_versions(tags, "", "-alpine"))
    assert moved(plan) == ["1.1.5-alpine", "1.1-alpine"]
    assert set(kept(plan)) == {"1-alpine", "latest"}


def test_registry_and_git_known_versions_together(git_repo):
    build_history(git_repo, ["v1.1.4"])
    git_repo.commit()
    # git knows 1.1.4 only; the registry knows 1.2.0 (released from another clone)
    plan = plan_in_repo(git_repo, cli_tag="v1.1.5", extra_known=known_versions_from_tags(["1.2.0"]))
    assert moved(plan) == ["1.1.5", "1.1"]


# -- branch, pull request and schedule builds ----------------------------------------------------
def test_default_branch_build_moves_latest(git_repo, tmp_path):
    git_repo.commit()
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(git_repo.path), str(clone)], check=True, capture_output=True)
    ctx = detect_context({}, git=lambda: read_facts(clone), now=NOW)
    plan = make_plan(ctx, S())
    assert plan.version is None and ctx.is_default_branch
    assert [(d.tag, d.kind, d.move) for d in plan.decisions] == [("latest", BRANCH_TAG, True)]
    assert "branch build" in plan.decisions[0].reason and "is_default_branch" in plan.decisions[0].reason
    # Outside CI a branch build publishes only when asked (issue 18: `invoke release` on main pushed latest
    # from a developer's machine).
    assert not plan.push and "release.publish.outside_ci" in plan.push_reason
    asked = make_plan(ctx, S(publish={"outside_ci": True}))
    assert asked.push and not asked.release and "not a version tag" in asked.release_reason
    assert plan.local_tag == f"main-{ctx.short_sha}"
    assert not plan.make_latest


def test_default_branch_build_ignores_the_floating_guard():
    # A branch build is not a version: `latest` moves even though versions exist.
    plan = make_plan(branch_ctx("main"), S(), known_versions=[V("9.9.9")])
    assert moved(plan) == ["latest"]


def test_other_branch_build_publishes_nothing_with_the_default_rules(git_repo):
    git_repo.commit()
    git_repo.checkout("-b", "feature/login")
    plan = plan_in_repo(git_repo)
    assert plan.context.branch == "feature/login"
    assert plan.decisions == () and plan.tags == () and plan.refs() == ()
    assert not plan.push and "give no tag" in plan.push_reason
    assert plan.local_tag == f"feature-login-{plan.context.short_sha}"
    assert "(none: the tag rules give no tag for this context)" in explain(plan)


def test_other_branch_with_a_branch_rule(git_repo):
    git_repo.commit()
    git_repo.checkout("-b", "feature/login")
    plan = plan_in_repo(git_repo, S(tags=["type=ref,event=branch"], publish={"outside_ci": True}))
    assert moved(plan) == ["feature-login"]
    assert plan.decisions[0].kind == BRANCH_TAG and plan.push


def test_detached_head_build(git_repo):
    first = git_repo.commit()
    git_repo.commit()
    git_repo.checkout("--detach", first)
    plan = plan_in_repo(git_repo, S(tags=["type=ref,event=branch", "type=sha"]))
    assert moved(plan) == [f"sha-{first[:7]}"]
    assert plan.local_tag == f"detached-{first[:7]}"


def test_pull_request_with_the_default_rules_and_with_a_pr_rule():
    plan = make_plan(pr_ctx(7), S())
    assert plan.decisions == () and not plan.push
    plan = make_plan(pr_ctx(7), S(tags=["type=ref,event=pr"]))
    assert moved(plan) == ["pr-7"]
    assert not plan.push and "release.publish.pr is false" in plan.push_reason
    assert not plan.release


def test_github_pull_request_from_a_real_payload(tmp_path):
    payload = {"number": 12, "pull_request": {"number": 12, "head": {"sha": "f" * 40}},
               "repository": {"default_branch": "main"}}
    (tmp_path / "event.json").write_text(json.dumps(payload))
    env = {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "pull_request", "GITHUB_REF": "refs/pull/12/merge",
           "GITHUB_SHA": SHA, "GITHUB_REPOSITORY": "octo/app", "GITHUB_EVENT_PATH": str(tmp_path / "event.json"),
           "GITHUB_HEAD_REF": "feature", "GITHUB_BASE_REF": "main"}
    ctx = detect_context(env, now=NOW, read_file=lambda p: Path(p).read_text())
    plan = make_plan(ctx, S(images=[], tags=["type=ref,event=pr", "type=sha"]))
    assert plan.images == ("ghcr.io/octo/app",)
    assert moved(plan) == ["pr-12", "sha-fffffff"]
    assert not plan.push


@pytest.mark.parametrize(
    "ctx, publish, push",
    [
        (tag_ctx("v1.0.0"), {"tag": False}, False),
        (tag_ctx("v1.0.0"), {}, True),
        (branch_ctx("main"), {"branch": False}, False),
        (branch_ctx("main"), {}, True),
        (pr_ctx(3), {"pr": True}, True),
        (pr_ctx(3), {}, False),
        (Context(event=SCHEDULE, ref="refs/heads/main", branch="main", timestamp=NOW), {"schedule": False}, False),
        (Context(event=SCHEDULE, ref="refs/heads/main", branch="main", timestamp=NOW), {}, True),
    ],
    ids=["tag off", "tag on", "branch off", "branch on", "pr on", "pr off", "schedule off", "schedule on"],
)
def test_publish_settings_per_context(ctx, publish, push):
    plan = make_plan(ctx, S(publish=publish, tags=["type=ref,event=pr", *S().tags]))
    assert plan.tags  # every case has tags to publish
    assert plan.push is push
    if not push:
        assert f"release.publish.{ctx.event} is false" in plan.push_reason
        assert not plan.release
    assert plan.release is (push and ctx.event == TAG)


def test_github_schedule_gets_latest_and_schedule_rules():
    env = {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": "schedule", "GITHUB_REF": "refs/heads/main",
           "GITHUB_SHA": SHA, "GITHUB_REPOSITORY": "octo/app"}
    ctx = detect_context(env, now=NOW)
    plan = make_plan(ctx, S(tags=["type=schedule,pattern=nightly-{{date 'YYYYMMDD'}}", *S().tags]))
    assert moved(plan) == ["nightly-20240506", "latest"]
    assert all(d.kind == BRANCH_TAG for d in plan.decisions)
    assert "scheduled build" in plan.decisions[0].reason


def test_gitlab_schedule_on_another_branch_does_not_move_latest():
    """A GitLab schedule may target any branch; CI_DEFAULT_BRANCH says which one is the default.

    Known bug in core/tag_rules.py (_Env.is_default_branch): every schedule counts as the default
    branch there, so a scheduled pipeline of `develop` moves `latest` with the default rules.
    """
    env = {"GITLAB_CI": "true", "CI_PIPELINE_SOURCE": "schedule", "CI_COMMIT_BRANCH": "develop",
           "CI_DEFAULT_BRANCH": "main", "CI_COMMIT_SHA": SHA, "CI_REGISTRY_IMAGE": "registry.example.com/g/p"}
    ctx = detect_context(env, now=NOW)
    assert ctx.event == SCHEDULE and not ctx.is_default_branch
    plan = make_plan(ctx, S())
    assert moved(plan) == []


def test_gitlab_default_branch_build_and_image_default():
    env = {"GITLAB_CI": "true", "CI_PIPELINE_SOURCE": "push", "CI_COMMIT_BRANCH": "main", "CI_DEFAULT_BRANCH": "main",
           "CI_COMMIT_SHA": SHA, "CI_REGISTRY_IMAGE": "registry.example.com/g/p", "CI_PROJECT_PATH": "g/p",
           "CI_SERVER_URL": "https://gitlab.example.com"}
    plan = make_plan(detect_context(env, now=NOW), S(images=[]))
    assert plan.refs() == ("registry.example.com/g/p:latest",)
    assert dict(plan.labels)["org.opencontainers.image.source"] == "https://gitlab.example.com/g/p"


# -- flavors and custom rules -------------------------------------------------------------------
@pytest.mark.parametrize(
    "flavor, tag, known, want_moved, want_kept",
    [
        (["prefix=app-"], "v1.2.3", [], ["app-1.2.3", "app-1.2", "app-1", "latest"], []),
        (["prefix=app-,onlatest=true"], "v1.2.3", [], ["app-1.2.3", "app-1.2", "app-1", "app-latest"], []),
        (["suffix=-alpine"], "v1.2.3", [], ["1.2.3-alpine", "1.2-alpine", "1-alpine", "latest"], []),
        (["suffix=-alpine,onlatest=true"], "v1.1.5", ["1.2.0"], ["1.1.5-alpine", "1.1-alpine"],
         ["1-alpine", "latest-alpine"]),
        (["prefix=app-", "suffix=-slim"], "v1.1.5", ["1.2.0"], ["app-1.1.5-slim", "app-1.1-slim"],
         ["app-1-slim", "latest"]),
        (["latest=false"], "v1.2.3", [], ["1.2.3", "1.2", "1"], []),
        (["latest=true"], "v2.0.0-rc.1", [], ["2.0.0-rc.1"], ["latest"]),
        (["latest=true"], "v1.1.5", ["1.2.0"], ["1.1.5", "1.1"], ["1", "latest"]),
        (["prefix=app-"], "v0.4.0", [], ["app-0.4.0", "app-0.4", "latest"], ["app-0"]),
    ],
)
def test_flavors(flavor, tag, known, want_moved, want_kept):
    plan = make_plan(tag_ctx(tag), S(flavor=flavor), known_versions=[V(k) for k in known])
    assert moved(plan) == want_moved
    assert list(kept(plan)) == want_kept


@pytest.mark.parametrize(
    "rules, tag, known, want_moved, want_kept",
    [
        (["type=semver,pattern={{major}}.{{minor}}"], "v1.2.3", [], ["1.2", "latest"], []),
        (["type=semver,pattern={{major}}.{{minor}}"], "v1.1.5", ["1.2.0"], ["1.1"], ["latest"]),
        (["type=semver,pattern={{version}}", "type=raw,value=stable"], "v1.3.0", ["1.2.0"],
         ["1.3.0", "stable", "latest"], []),
        (["type=semver,pattern={{version}}", "type=raw,value=stable"], "v1.1.5", ["1.2.0"], ["1.1.5"],
         ["stable", "latest"]),
        (["type=semver,pattern={{version}}", "type=raw,value=stable"], "v2.0.0-rc.1", [], ["2.0.0-rc.1"], ["stable"]),
        (["type=match,pattern=v(\\d+\\.\\d+)\\.\\d+,group=1"], "v1.1.5", ["1.2.0"], ["1.1"], ["latest"]),
        (["type=match,pattern=v(\\d+\\.\\d+\\.\\d+),group=1"], "v1.1.5", ["1.2.0"], ["1.1.5"], ["latest"]),
        (["type=match,pattern=\\d+,group=0", "type=semver,pattern={{version}}"], "v1.1.5", ["1.2.0"], ["1.1.5"],
         ["1", "latest"]),
        (["type=ref,event=tag"], "v1.1.5", ["1.2.0"], ["v1.1.5"], ["latest"]),
        (["type=semver,pattern={{version}}", "type=sha"], "v1.1.5", ["1.2.0"], ["1.1.5", "sha-860c190"], ["latest"]),
        (["type=semver,pattern={{version}}", "type=sha,format=long"], "v2.0.0-rc.1", [], ["2.0.0-rc.1", f"sha-{SHA}"],
         []),
        (["type=semver,pattern={{version}}", "type=raw,value=release-{{date 'YYYYMMDD'}}"], "v1.1.5", ["1.2.0"],
         ["1.1.5", "release-20240506"], ["latest"]),
        (["type=semver,pattern=v{{major}}"], "v0.4.0", [], ["latest"], ["v0"]),
        (["type=semver,pattern={{major}}.{{minor}}.{{patch}}", "type=semver,pattern={{raw}}"], "v1.2.3", [],
         ["1.2.3", "v1.2.3", "latest"], []),
        (["type=semver,pattern={{version}}", "type=raw,value=latest,enable={{is_default_branch}}"], "v1.1.5",
         ["1.2.0"], ["1.1.5"], ["latest"]),
        (["type=raw,value=latest"], "v1.2.3", [], ["latest"], []),
        (["type=raw,value=latest"], "v1.1.5", ["1.2.0"], [], ["latest"]),
    ],
)
def test_custom_rules(rules, tag, known, want_moved, want_kept):
    plan = make_plan(tag_ctx(tag), S(tags=rules), known_versions=[V(k) for k in known])
    assert moved(plan) == want_moved
    assert list(kept(plan)) == want_kept
    if plan.version and plan.prerelease:
        assert all(d.kind == VERSION for d in plan.decisions if d.move)


def test_sha_and_date_tags_are_this_builds_own():
    plan = make_plan(tag_ctx("v1.1.5"), S(tags=["type=sha", "type=raw,value={{date 'YYYYMMDD'}}"]),
                     known_versions=[V("1.2.0")])
    kinds = {d.tag: d.kind for d in plan.decisions}
    assert kinds == {"sha-860c190": VERSION, "20240506": VERSION}


def test_rules_without_a_version_tag_keep_a_local_tag():
    plan = make_plan(tag_ctx("v1.2.3"), S(tags=["type=semver,pattern={{major}}.{{minor}}"]))
    assert plan.local_tag == "1.2.3" and plan.primary_tag == "1.2"
    assert plan.build.tags == (f"{IMAGE}:1.2.3",)


def test_semver_rules_on_a_tag_that_gives_no_tag_publish_nothing():
    plan = make_plan(tag_ctx("v1.2.3"), S(tags=["type=ref,event=branch"]))
    assert plan.decisions == () and not plan.push and not plan.release


def test_bad_rules_are_rule_errors_naming_the_line():
    with pytest.raises(RuleError) as info:
        make_plan(tag_ctx("v1.2.3"), S(tags=["type=semver,pattern={{version}}", "type=nope,value=x"]))
    assert "line 2" in info.value.message


WORKFLOW_YAML = """\
release:
  images:
    - ghcr.io/octo-org/hello-world
    - docker.io/octoorg/hello-world
  # moved over from .github/workflows/docker.yml as it was
  tags: |
    type=schedule
    type=ref,event=branch
    type=ref,event=pr
    type=semver,pattern={{version}}
    type=semver,pattern={{major}}.{{minor}}
    type=semver,pattern={{major}}
    type=sha
  flavor: |
    latest=auto
"""


def test_rules_moved_over_from_a_metadata_action_workflow(tmp_path):
    path = tmp_path / "invoke.yaml"
    path.write_text(WORKFLOW_YAML)
    settings = parse_settings(yaml.safe_load(path.read_text())["release"])
    assert settings.tags[0] == "type=schedule" and len(settings.tags) == 7
    images = ("ghcr.io/octo-org/hello-world", "docker.io/octoorg/hello-world")

    plan = make_plan(tag_ctx("v1.2.3"), settings)
    assert moved(plan) == ["1.2.3", "1.2", "1", "sha-860c190", "latest"]
    assert plan.images == images
    assert len(plan.refs()) == 10

    plan = make_plan(tag_ctx("v1.1.5"), settings, known_versions=[V("1.2.0")])
    assert moved(plan) == ["1.1.5", "1.1", "sha-860c190"]
    assert list(kept(plan)) == ["1", "latest"]

    plan = make_plan(branch_ctx("main"), settings)
    assert moved(plan) == ["main", "sha-860c190"]  # metadata-action: latest=auto and a ref rule first: no latest
    plan = make_plan(pr_ctx(4), settings)
    assert moved(plan) == ["pr-4", "sha-860c190"] and not plan.push
    sched = Context(event=SCHEDULE, ref="refs/heads/main", branch="main", sha=SHA, timestamp=NOW)
    assert moved(make_plan(sched, settings)) == ["nightly", "main", "sha-860c190"]


# -- images, labels, JSON, explain --------------------------------------------------------------
def test_every_tag_for_each_image():
    images = ["registry.example.com/team/app", "ghcr.io/team/app", "localhost:5000/app"]
    plan = make_plan(tag_ctx("v1.2.3"), S(images=images))
    assert plan.refs() == tuple(f"{i}:{t}" for i in images for t in ("1.2.3", "1.2", "1", "latest"))
    assert plan.build.tags == tuple(f"{i}:1.2.3" for i in images)


def test_default_images():
    gh = Context(event=TAG, ref="refs/tags/v1.0.0", tag="v1.0.0", repository="Octo-Org/Hello-World", ci="github")
    gl = Context(event=TAG, ref="refs/tags/v1.0.0", tag="v1.0.0", registry_image="registry.gitlab.com/g/p", ci="gitlab")
    assert default_images(gh, ()) == ("ghcr.io/octo-org/hello-world",)
    assert default_images(gl, ()) == ("registry.gitlab.com/g/p",)
    assert default_images(gh, ["x/y"]) == ("x/y",)
    assert default_images(tag_ctx("v1.0.0"), ()) == ()


def test_no_image_outside_ci_falls_back_to_a_local_image():
    plan = make_plan(tag_ctx("v1.0.0"), S(images=[]), fallback_image="local/app")
    assert plan.images == ("local/app",)
    assert not plan.push and "stays local" in plan.push_reason and not plan.release
    with pytest.raises(ConfigError) as info:
        make_plan(tag_ctx("v1.0.0"), S(images=[]))
    assert "release.images" in info.value.hint


def test_no_image_in_ci_that_gives_no_default_is_a_config_error():
    ctx = tag_ctx("v1.0.0", ci="gitlab")
    with pytest.raises(ConfigError):
        make_plan(ctx, S(images=[]), fallback_image="local/app")


def test_labels_on_a_release():
    ctx = tag_ctx("v1.2.3", repository="Octo-Org/Hello-World", server_url="https://github.com", ci="github")
    settings = S(project={"description": "Says hello", "licenses": "MIT"},
                 build={"labels": {"org.opencontainers.image.title": "Hello", "com.example.team": "core"}})
    labels = dict(make_plan(ctx, settings).labels)
    assert labels == {
        "org.opencontainers.image.title": "Hello",  # the user's label wins
        "org.opencontainers.image.description": "Says hello",
        "org.opencontainers.image.url": "https://github.com/Octo-Org/Hello-World",
        "org.opencontainers.image.source": "https://github.com/Octo-Org/Hello-World",
        "org.opencontainers.image.version": "1.2.3",
        "org.opencontainers.image.created": "2024-05-06T07:08:09Z",
        "org.opencontainers.image.revision": SHA,
        "org.opencontainers.image.licenses": "MIT",
        "com.example.team": "core",
    }
    plan = make_plan(ctx, settings)
    assert plan.build.labels == plan.labels


def test_labels_on_a_branch_build_and_from_settings():
    ctx = branch_ctx("main", repository="g/p", server_url="https://gitlab.example.com")
    settings = S(project={"title": "P", "source": "https://example.com/src", "url": "https://example.com"})
    labels = dict(make_plan(ctx, settings).labels)
    assert labels["org.opencontainers.image.version"] == "main-860c190"
    assert labels["org.opencontainers.image.source"] == "https://example.com/src"
    assert labels["org.opencontainers.image.url"] == "https://example.com"
    assert labels["org.opencontainers.image.title"] == "P"
    assert "org.opencontainers.image.description" not in labels  # unset values are left out


def test_labels_from_a_real_repository(git_repo):
    build_history(git_repo, ["v0.1.0"])
    plan = plan_in_repo(git_repo)
    labels = dict(plan.labels)
    assert labels["org.opencontainers.image.revision"] == git_repo.head()
    assert labels["org.opencontainers.image.version"] == "0.1.0"
    assert labels["org.opencontainers.image.created"] == "2024-05-06T07:08:09Z"


def test_to_dict_is_the_json_shape_for_scripts():
    plan = make_plan(tag_ctx("v1.1.5"), S(images=[IMAGE, "ghcr.io/t/app"]), known_versions=[V("1.2.0")],
                     warnings=["could not read the tags of x"])
    data = json.loads(json.dumps(plan.to_dict()))
    assert data["version"] == "1.1.5"
    assert data["tags"] == [f"{IMAGE}:1.1.5", f"{IMAGE}:1.1", "ghcr.io/t/app:1.1.5", "ghcr.io/t/app:1.1"]
    assert data["images"] == [IMAGE, "ghcr.io/t/app"]
    assert data["labels"]["org.opencontainers.image.version"] == "1.1.5"
    assert data["decisions"][2] == {"tag": "1", "kind": "floating", "move": False,
                                    "reason": "1.2.0 is higher and also has this tag: floating tags never move backwards"}
    assert (data["event"], data["ref"], data["sha"]) == ("tag", "refs/tags/v1.1.5", SHA)
    assert (data["push"], data["release"], data["prerelease"], data["make_latest"]) == (True, True, False, False)
    assert data["local_tag"] == "1.1.5"
    assert data["warnings"] == ["could not read the tags of x"]
    assert set(data) >= {"push_reason", "release_reason"}


def test_to_dict_on_a_branch_build():
    data = json.loads(json.dumps(make_plan(branch_ctx("feature"), S()).to_dict()))
    assert data["version"] is None and data["tags"] == [] and data["decisions"] == [] and data["push"] is False


def test_explain_says_for_each_tag_why():
    plan = make_plan(tag_ctx("v0.2.1"), S(), known_versions=[V("0.2.0"), V("0.3.0")], warnings=["registry down"])
    text = explain(plan)
    lines = text.splitlines()
    assert lines[0].startswith("release plan: version 0.2.1")
    for d in plan.decisions:
        line = next(line for line in lines if f" {d.tag} " in line and "[" in line)
        assert ("move" if d.move else "keep") in line and d.reason in line and f"[{d.kind}]" in line
    assert "0.3.0 is higher" in text and "major_zero" in text
    assert f"images: {IMAGE}" in text and "push: yes" in text and "release: yes" in text
    assert "make latest: no" in text
    assert "org.opencontainers.image.version=0.2.1" in text
    assert "warning: registry down" in text


# -- owner_of_tag / version_tag_of --------------------------------------------------------------
VERSIONS = [V(t) for t in ("1.1.4", "1.1.5", "1.2.0", "1.2.1", "2.0.0-rc.1", "0.9.0")]


@pytest.mark.parametrize(
    "tag, owner",
    [("1", "1.2.1"), ("1.1", "1.1.5"), ("1.2", "1.2.1"), ("latest", "1.2.1"), ("1.1.4", "1.1.4"),
     ("0", "0.9.0"), ("2.0.0-rc.1", None), ("2", None), ("2.0", None), ("nope", None), ("sha-860c190", None)],
)
def test_owner_of_tag(tag, owner):
    got = owner_of_tag(tag, VERSIONS, S(tags=[*S().tags, "type=sha"]), tag_ctx("v1.1.5"))
    assert (str(got) if got else None) == owner


def test_owner_of_tag_with_flavors_and_custom_rules():
    settings = S(flavor=["prefix=app-", "suffix=-alpine,onlatest=true"], tags=[*S().tags, "type=raw,value=stable"])
    ctx = tag_ctx("v1.1.5")
    assert str(owner_of_tag("app-1-alpine", VERSIONS, settings, ctx)) == "1.2.1"
    assert str(owner_of_tag("latest-alpine", VERSIONS, settings, ctx)) == "1.2.1"  # onlatest: only the suffix
    assert str(owner_of_tag("app-stable-alpine", VERSIONS, settings, ctx)) == "1.2.1"
    assert owner_of_tag("1", VERSIONS, settings, ctx) is None


def test_owner_of_tag_repairs_a_lost_race_between_two_releases():
    # v1.2.1 and v1.1.6 released concurrently: whichever finished last, `1` belongs to 1.2.1.
    versions = VERSIONS + [V("1.1.6")]
    for ctx in (tag_ctx("v1.1.6"), tag_ctx("v1.2.1")):
        assert str(owner_of_tag("1", versions, S(), ctx)) == "1.2.1"
        assert str(owner_of_tag("1.1", versions, S(), ctx)) == "1.1.6"


@pytest.mark.parametrize(
    "raw, version, want",
    [
        ({}, "1.2.1", "1.2.1"),
        ({}, "2.0.0-rc.1", "2.0.0-rc.1"),
        ({}, "1.2.3+build.5", "1.2.3"),
        ({"flavor": ["suffix=-alpine"]}, "1.2.1", "1.2.1-alpine"),
        ({"flavor": ["prefix=app-"]}, "0.9.0", "app-0.9.0"),
        ({"tags": ["type=sha,priority=1000", "type=semver,pattern={{version}}"]}, "1.2.1", "1.2.1"),
        ({"tags": ["type=ref,event=tag", "type=semver,pattern={{major}}"]}, "1.2.1", "v1.2.1"),
        ({"tags": ["type=semver,pattern={{major}}.{{minor}}"]}, "1.2.1", "1.2.1"),
    ],
)
def test_version_tag_of(raw, version, want):
    assert version_tag_of(V(version), S(**raw), tag_ctx("v9.0.0")) == want


def test_version_tag_of_matches_the_plan_of_that_version():
    for tag in ("v1.2.1", "v0.3.0", "v2.0.0-rc.1"):
        plan = make_plan(tag_ctx(tag), S(flavor=["prefix=x-"]))
        assert version_tag_of(plan.version, S(flavor=["prefix=x-"]), tag_ctx("v5.0.0")) == plan.primary_tag


# -- the real `invoke` command line ----------------------------------------------------------------
def _project(tmp_path: Path, extra_yaml: str = "") -> Path:
    proj = tmp_path / "project"
    proj.mkdir()
    (proj / "tasks.py").write_text("from image_release.tasks import ns\n")
    (proj / "invoke.yaml").write_text(textwrap.dedent("""\
        release:
          images: [registry.example.com/team/app]
          known_versions: {registry: false}
        """) + extra_yaml)
    return proj


def _invoke(proj: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "GITLAB_", "CI_", "INVOKE_", "RUNNER_")) and k != "CI"}
    env.update(extra_env)
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=proj, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.parametrize("tag", ["v1.2", "1.2.3.4", "v01.2.3", "release-1"])
def test_cli_version_with_a_bad_tag_exits_with_the_expected_form(tmp_path, tag):
    proj = _project(tmp_path)
    res = _invoke(proj, "version", "--tag", tag)
    assert res.returncode == 2, res
    assert res.stdout == ""
    assert res.stderr.startswith(f"error: {tag!r} is not a SemVer version tag")
    assert "vMAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]" in res.stderr
    assert "Traceback" not in res.stderr


def test_cli_bad_tag_stops_the_whole_chain_before_anything_runs(tmp_path):
    proj = _project(tmp_path)
    # No Dockerfile, no engine, no registry here: any step after the plan would fail differently.
    res = _invoke(proj, "release", "--tag", "v1.2")
    assert res.returncode == 2, res
    assert res.stderr.count("error:") == 1 and "'v1.2' is not a SemVer version tag" in res.stderr
    assert "build" not in res.stdout.lower() and not (proj / "dist").exists()


def test_cli_bad_tag_from_the_environment_is_refused_too(tmp_path):
    res = _invoke(_project(tmp_path), "version", INVOKE_RELEASE_TAG="v1.2")
    assert res.returncode == 2 and "'v1.2' is not a SemVer version tag" in res.stderr
    assert "vMAJOR.MINOR.PATCH" in res.stderr and res.stdout == ""


def test_cli_version_outside_git_without_tag_says_what_to_do(tmp_path):
    res = _invoke(_project(tmp_path), "version")
    assert res.returncode == 2, res
    assert "no release context" in res.stderr and "--tag v1.2.3" in res.stderr


def test_cli_version_json(tmp_path):
    proj = _project(tmp_path)
    res = _invoke(proj, "version", "--tag", "v1.2.3", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["version"] == "1.2.3"
    assert data["tags"] == [f"{IMAGE}:{t}" for t in ("1.2.3", "1.2", "1", "latest")]
    assert data["labels"]["org.opencontainers.image.version"] == "1.2.3"
    assert "org.opencontainers.image.created" in data["labels"]
    assert [d["tag"] for d in data["decisions"]] == ["1.2.3", "1.2", "1", "latest"]


def test_cli_version_json_backport_in_a_git_project(tmp_path, git_repo):
    build_history(git_repo, ["v1.1.4", "v1.2.0", ("branch", "release-1.1", "v1.1.4"), "v1.1.5"])
    (git_repo.path / "tasks.py").write_text("from image_release.tasks import ns\n")
    (git_repo.path / "invoke.yaml").write_text("release:\n  images: [registry.example.com/team/app]\n"
                                               "  known_versions: {registry: false}\n")
    res = _invoke(git_repo.path, "version", "--json")  # the tag on HEAD
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["version"] == "1.1.5"
    assert data["tags"] == [f"{IMAGE}:1.1.5", f"{IMAGE}:1.1"]
    assert data["labels"]["org.opencontainers.image.revision"] == git_repo.head()
    reasons = {d["tag"]: d["reason"] for d in data["decisions"]}
    assert "1.2.0" in reasons["1"] and "1.2.0" in reasons["latest"]


def test_cli_version_text_explains_each_tag(tmp_path):
    proj = _project(tmp_path)
    res = _invoke(proj, "version", "--tag", "v2.0.0-rc.1")
    assert res.returncode == 0, res.stderr
    assert "release plan: version 2.0.0-rc.1" in res.stdout
    assert "2.0.0-rc.1" in res.stdout and "this version's own tag" in res.stdout
    assert "prerelease: yes" in res.stdout


def test_cli_unreachable_registry_is_a_warning(tmp_path):
    proj = _project(tmp_path)
    (proj / "invoke.yaml").write_text(textwrap.dedent("""\
        release:
          images: [127.0.0.1:9/team/app]
          retry: {attempts: 1, base_delay: 0, max_delay: 0}
          registry: {timeout: 2}
        """))
    res = _invoke(proj, "version", "--tag", "v1.2.3", "--json")
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["version"] == "1.2.3"
    assert "warning: could not read the tags of 127.0.0.1:9/team/app" in res.stderr


class _TagListServer:
    """A loopback registry that only answers the tag list of one repository."""

    def __init__(self, repo: str, tags: list[str]):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        body = json.dumps({"name": repo, "tags": tags}).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                if self.path.split("?")[0] == f"/v2/{repo}/tags/list":
                    code, data = 200, body
                elif self.path == "/v2/":
                    code, data = 200, b"{}"
                else:
                    code, data = 404, b'{"errors": [{"code": "NAME_UNKNOWN", "message": "unknown"}]}'
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.host = f"127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _registry_project(tmp_path: Path, host: str, flavor: str) -> Path:
    proj = tmp_path / "project"
    proj.mkdir()
    (proj / "tasks.py").write_text("from image_release.tasks import ns\n")
    (proj / "invoke.yaml").write_text(textwrap.dedent(f"""\
        release:
          images: [{host}/team/app]
          flavor: [{flavor}]
          retry: {{attempts: 1, base_delay: 0, max_delay: 0}}
        """))
    return proj


def test_cli_backport_with_known_versions_from_the_registry(tmp_path):
    with _TagListServer("team/app", ["1.2.0", "1.2", "1", "latest", "1.1.4", "1.1"]) as reg:
        res = _invoke(_registry_project(tmp_path, reg.host, "latest=auto"), "version", "--tag", "v1.1.5", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["tags"] == [f"{reg.host}/team/app:1.1.5", f"{reg.host}/team/app:1.1"]
    assert "warning" not in res.stderr


def test_cli_backport_with_a_suffix_flavor_and_known_versions_from_the_registry(tmp_path):
    """Known bug in pipeline/session.py (Session._known_versions): the registry's tags are read with
    known_versions_from_tags, which does not undo the flavor's prefix/suffix. With suffix=-alpine,
    `1.2.0-alpine` is taken for the prerelease 1.2.0-alpine, so the backport v1.1.5 moves `1-alpine`
    and `latest` backwards. core.plan.registry_versions(tags, prefix, suffix) undoes them."""
    tags = ["1.2.0-alpine", "1.2-alpine", "1-alpine", "latest", "1.1.4-alpine", "1.1-alpine"]
    with _TagListServer("team/app", tags) as reg:
        res = _invoke(_registry_project(tmp_path, reg.host, "suffix=-alpine"), "version", "--tag", "v1.1.5", "--json")
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["tags"] == [f"{reg.host}/team/app:1.1.5-alpine", f"{reg.host}/team/app:1.1-alpine"]


# -- property: the default rules against a brute-force oracle -----------------------------------
_small = st.integers(0, 3)
_versions = st.builds(
    lambda ma, mi, pa, pre: V(f"{ma}.{mi}.{pa}" + (f"-rc.{pre}" if pre is not None else "")),
    _small, _small, _small, st.one_of(st.none(), st.integers(1, 2)),
)


_PROPERTY_SETTINGS = {False: S(), True: S(major_zero=True)}


@hsettings(max_examples=150, deadline=None)
@given(_versions, st.lists(_versions, max_size=8), st.booleans())
def test_property_floating_tags_never_move_backwards(version, known, major_zero):
    settings = _PROPERTY_SETTINGS[major_zero]
    plan = make_plan(tag_ctx(f"v{version}"), settings, known_versions=known)
    stable = [k for k in known if k.prerelease is None and k != version]
    own = str(version)
    want = [own]
    if version.prerelease is None:
        if not any(k.major == version.major and k.minor == version.minor and k > version for k in stable):
            want.append(f"{version.major}.{version.minor}")
        if not any(k.major == version.major and k > version for k in stable) and (version.major or major_zero):
            want.append(str(version.major))
        if not any(k > version for k in stable):
            want.append("latest")
    assert moved(plan) == want
    assert plan.make_latest == ("latest" in want)
    for d in plan.decisions:
        if not d.move:
            assert d.reason  # every kept tag says why
        if d.tag == own:
            assert d.kind == VERSION and d.move



@pytest.mark.parametrize(
    "dev_tag, ctx, want",
    [
        ("{branch}-{short_sha}", branch_ctx("feature/a b"), "feature-a-b-860c190"),
        ("pr-{pr}-{sha}", pr_ctx(5), f"pr-5-{SHA}"),
        ("dev", branch_ctx("main"), "dev"),
        ("{branch}", Context(event=BRANCH, ref="HEAD"), "detached"),
        ("..{branch}", branch_ctx("x"), "x"),
        ("{branch}-" + "y" * 200, branch_ctx("x"), ("x-" + "y" * 200)[:128]),
    ],
)
def test_local_tag_of_builds_that_are_not_releases(dev_tag, ctx, want):
    assert make_plan(ctx, S(build={"dev_tag": dev_tag})).local_tag == want


@pytest.mark.parametrize("dev_tag", ["{nope}", "{branch", "{0}", "{branch.x}"])
def test_bad_dev_tag_template_is_a_config_error(dev_tag):
    with pytest.raises(ConfigError) as info:
        make_plan(branch_ctx("main"), S(build={"dev_tag": dev_tag}))
    assert "release.build.dev_tag" in info.value.message and "{short_sha}" in info.value.hint


# -- typed settings: the planner reads PlanSettings, built once from Settings ---------------------
def test_make_plan_takes_plan_settings_and_settings_alike():
    from image_release.core.plan_inputs import PlanSettings
    from image_release.settings import plan_settings

    settings = S(flavor=["latest=auto", "suffix=-alpine"], project={"title": "T"}, build={"args": {"A": "1"}})
    ps = plan_settings(settings)
    assert isinstance(ps, PlanSettings)
    ctx = tag_ctx("v1.1.5")
    known = [V("1.2.0")]
    assert make_plan(ctx, ps, known_versions=known) == make_plan(ctx, settings, known_versions=known)
    assert owner_of_tag("1-alpine", [V("1.2.0"), V("1.1.5")], ps, ctx) == V("1.2.0")
    assert version_tag_of(V("1.2.0"), ps, ctx) == "1.2.0-alpine"
    with pytest.raises(TypeError):
        make_plan(ctx, {"tags": []})


def test_version_affixes_and_registry_versions_from_the_settings():
    from image_release.core.plan import version_affixes, versions_in_registry
    from image_release.settings import plan_settings

    settings = S(flavor=["prefix=app-", "suffix=-alpine"])
    assert version_affixes(settings) == version_affixes(plan_settings(settings)) == ("app-", "-alpine")
    tags = ["app-1.2.0-alpine", "app-1.2-alpine", "1.9.0", "app-v1.3.0-alpine"]
    assert list(map(str, versions_in_registry(tags, settings))) == ["1.2.0"]


# -- release.semantics (issue 13) -------------------------------------------------------------------
def test_metadata_action_semantics_have_no_floating_tag_guard():
    settings = S(semantics="metadata-action")
    plan = make_plan(tag_ctx("v1.1.5"), settings, known_versions=[V("1.2.0")])
    assert moved(plan) == ["1.1.5", "1.1", "1", "latest"]  # a backport moves latest, as metadata-action does
    assert plan.semantics == "metadata-action" and plan.to_dict()["semantics"] == "metadata-action"
    assert owner_of_tag("latest", [V("1.2.0"), V("1.1.5")], settings, tag_ctx("v1.1.5")) is None  # no race repair
    assert "semantics: metadata-action" in explain(plan)
    safe = make_plan(tag_ctx("v1.1.5"), S(), known_versions=[V("1.2.0")])
    assert safe.to_dict()["differs_from_metadata_action"] == {"1": "no-backwards", "latest": "no-backwards"}
    assert "differs from metadata-action: no-backwards" in explain(safe)


def test_metadata_action_semantics_accept_any_git_tag():
    settings = S(semantics="metadata-action", tags=["type=ref,event=tag", "type=semver,pattern={{version}}"])
    plan = make_plan(tag_ctx("release1"), settings)
    assert plan.version is None and moved(plan) == ["release1", "latest"]
    assert plan.decisions[0].kind == "unversioned" and plan.local_tag == "release1"
    assert plan.push and not plan.release and "not a SemVer version" in plan.release_reason
    with pytest.raises(VersionError) as info:
        make_plan(tag_ctx("release1"), S(tags=["type=ref,event=tag"]))
    assert "release.semantics: metadata-action" in info.value.hint


def test_metadata_action_semantics_publish_the_zero_major():
    plan = make_plan(tag_ctx("v0.2.1"), S(semantics="metadata-action"))
    assert moved(plan) == ["0.2.1", "0.2", "0", "latest"]
    assert moved(make_plan(tag_ctx("v0.2.1"), S())) == ["0.2.1", "0.2", "latest"]


def test_pull_request_sha_tags_name_the_guarantee():
    ctx = pr_ctx(7, sha=SHA, metadata_action_sha="a" * 40)
    plan = make_plan(ctx, S(tags=["type=ref,event=pr", "type=sha"]))
    assert moved(plan) == ["pr-7", "sha-860c190"]
    assert plan.to_dict()["differs_from_metadata_action"] == {"sha-860c190": "pr-head-sha", "sha-aaaaaaa": "pr-head-sha"}
    assert [d.kind for d in plan.decisions][-1] == "metadata-action-only"
    ma = make_plan(ctx, S(tags=["type=ref,event=pr", "type=sha"], semantics="metadata-action"))
    assert moved(ma) == ["pr-7", "sha-aaaaaaa"]


def test_semantics_setting_is_checked():
    with pytest.raises(ConfigError, match="release.semantics must be one of safe, metadata-action"):
        S(semantics="loose")
