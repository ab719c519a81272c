"""Release context detection: --tag, GitHub Actions, GitLab CI, local git (real repositories)."""

from __future__ import annotations

import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest

from image_release.adapters.git_repo import read_facts
from image_release.core.context import BRANCH, PR, SCHEDULE, TAG, Context, GitFacts, detect_context
from image_release.errors import ContextError

NOW = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
SHA = "0123456789abcdef0123456789abcdef01234567"
HEAD_SHA = "fedcba9876543210fedcba9876543210fedcba98"


def no_git():
    raise AssertionError("git must not be read when the context comes from CI")


def gh_env(tmp_path: Path, *, event: str, ref: str, payload: dict | None = None, **extra) -> dict:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": event,
        "GITHUB_REF": ref,
        "GITHUB_SHA": SHA,
        "GITHUB_REPOSITORY": "Octo-Org/Hello-World",
        "GITHUB_SERVER_URL": "https://github.com",
    }
    if payload is not None:
        path = tmp_path / "event.json"
        path.write_text(json.dumps(payload))
        env["GITHUB_EVENT_PATH"] = str(path)
    env.update(extra)
    return env


def detect_gh(env, **kw):
    return detect_context(env, git=no_git, now=NOW, read_file=lambda p: Path(p).read_text(), **kw)


PUSH_PAYLOAD = {"ref": "refs/heads/main", "repository": {"full_name": "Octo-Org/Hello-World", "default_branch": "main"}}


# -- GitHub Actions ----------------------------------------------------------------------------
def test_github_push_to_default_branch(tmp_path):
    ctx = detect_gh(gh_env(tmp_path, event="push", ref="refs/heads/main", payload=PUSH_PAYLOAD))
    assert (ctx.event, ctx.ref, ctx.branch, ctx.tag) == (BRANCH, "refs/heads/main", "main", None)
    assert (ctx.sha, ctx.short_sha) == (SHA, SHA[:7])
    assert ctx.default_branch == "main" and ctx.is_default_branch
    assert (ctx.source, ctx.ci, ctx.repository) == ("github", "github", "Octo-Org/Hello-World")
    assert ctx.server_url == "https://github.com"
    assert ctx.timestamp == NOW
    assert ctx.ref_name == "main"


def test_github_push_to_other_branch(tmp_path):
    ctx = detect_gh(gh_env(tmp_path, event="push", ref="refs/heads/feature/x", payload=PUSH_PAYLOAD))
    assert (ctx.event, ctx.branch, ctx.ref_name) == (BRANCH, "feature/x", "feature/x")
    assert not ctx.is_default_branch


def test_github_push_of_a_tag(tmp_path):
    ctx = detect_gh(gh_env(tmp_path, event="push", ref="refs/tags/v1.2.3", payload=PUSH_PAYLOAD))
    assert (ctx.event, ctx.ref, ctx.tag, ctx.branch) == (TAG, "refs/tags/v1.2.3", "v1.2.3", None)
    assert ctx.ref_name == "v1.2.3"
    assert ctx.default_branch == "main" and not ctx.is_default_branch


def test_github_pull_request_uses_payload_number_head_sha_and_refs(tmp_path):
    payload = {
        "number": 42,
        "pull_request": {"number": 42, "head": {"sha": HEAD_SHA, "ref": "feature"}, "base": {"ref": "main"}},
        "repository": {"default_branch": "main", "full_name": "Octo-Org/Hello-World"},
    }
    env = gh_env(tmp_path, event="pull_request", ref="refs/pull/42/merge", payload=payload,
                 GITHUB_HEAD_REF="feature", GITHUB_BASE_REF="main")
    ctx = detect_gh(env)
    assert (ctx.event, ctx.ref, ctx.pr_number) == (PR, "refs/pull/42/merge", 42)
    assert ctx.sha == HEAD_SHA  # not GitHub's synthetic merge commit
    assert (ctx.branch, ctx.base_ref, ctx.default_branch) == ("feature", "main", "main")
    assert not ctx.is_default_branch


def test_github_pull_request_without_payload_takes_the_number_from_the_ref(tmp_path):
    env = gh_env(tmp_path, event="pull_request", ref="refs/pull/9/merge", GITHUB_HEAD_REF="fix", GITHUB_BASE_REF="main")
    ctx = detect_gh(env)
    assert (ctx.event, ctx.pr_number, ctx.sha, ctx.branch) == (PR, 9, SHA, "fix")


def test_github_pull_request_target_keeps_github_sha(tmp_path):
    payload = {"pull_request": {"number": 5, "head": {"sha": HEAD_SHA}}, "repository": {"default_branch": "main"}}
    ctx = detect_gh(gh_env(tmp_path, event="pull_request_target", ref="refs/heads/main", payload=payload))
    assert (ctx.event, ctx.pr_number, ctx.sha) == (PR, 5, SHA)


def test_github_schedule_counts_as_the_default_branch(tmp_path):
    # GitHub's schedule payload names no repository: the default branch is unknown, and
    # metadata-action counts a schedule as the default branch (it runs on its last commit).
    ctx = detect_gh(gh_env(tmp_path, event="schedule", ref="refs/heads/main", payload={"schedule": "0 3 * * *"}))
    assert (ctx.event, ctx.branch, ctx.default_branch) == (SCHEDULE, "main", None)
    assert ctx.is_default_branch
    with_default = detect_gh(gh_env(tmp_path, event="schedule", ref="refs/heads/main", payload=PUSH_PAYLOAD))
    assert with_default.event == SCHEDULE and with_default.is_default_branch


def test_github_workflow_dispatch_on_a_branch_is_a_branch_build(tmp_path):
    ctx = detect_gh(gh_env(tmp_path, event="workflow_dispatch", ref="refs/heads/main", payload=PUSH_PAYLOAD))
    assert (ctx.event, ctx.branch) == (BRANCH, "main") and ctx.is_default_branch


@pytest.mark.parametrize("content", ["", "null", "[]", '"text"', "{not json", '{"repository": "x"}',
                                     '{"repository": {"default_branch": 3}}',
                                     '{"pull_request": [], "number": "abc"}'])
def test_github_odd_payloads_are_ignored_not_fatal(tmp_path, content):
    path = tmp_path / "event.json"
    path.write_text(content)
    for event, ref in (("push", "refs/heads/main"), ("pull_request", "refs/pull/3/merge")):
        env = gh_env(tmp_path, event=event, ref=ref, GITHUB_EVENT_PATH=str(path))
        ctx = detect_gh(env)
        assert ctx.default_branch is None
        assert ctx.repository == "Octo-Org/Hello-World"
        if event == "pull_request":
            assert ctx.pr_number == 3


def test_github_missing_payload_file_is_not_fatal(tmp_path):
    env = gh_env(tmp_path, event="push", ref="refs/heads/main", GITHUB_EVENT_PATH=str(tmp_path / "missing.json"))
    ctx = detect_gh(env)
    assert ctx.default_branch is None and not ctx.is_default_branch


def test_github_without_read_file_skips_the_payload(tmp_path):
    env = gh_env(tmp_path, event="push", ref="refs/heads/main", payload=PUSH_PAYLOAD)
    ctx = detect_context(env, git=no_git, now=NOW)
    assert ctx.event == BRANCH and ctx.default_branch is None


def test_github_repository_from_payload_when_the_variable_is_missing(tmp_path):
    env = gh_env(tmp_path, event="push", ref="refs/heads/main", payload=PUSH_PAYLOAD)
    del env["GITHUB_REPOSITORY"]
    assert detect_gh(env).repository == "Octo-Org/Hello-World"


def test_github_enterprise_server_url(tmp_path):
    env = gh_env(tmp_path, event="push", ref="refs/heads/main", GITHUB_SERVER_URL="https://ghe.example.com")
    assert detect_gh(env).server_url == "https://ghe.example.com"


@pytest.mark.parametrize("ref", ["", "refs/remotes/origin/main", "refs/notes/x"])
def test_github_ref_that_is_no_branch_tag_or_pr_is_a_context_error(tmp_path, ref):
    with pytest.raises(ContextError) as info:
        detect_gh(gh_env(tmp_path, event="push", ref=ref))
    assert "--tag" in info.value.hint


def test_github_actions_must_be_exactly_true(tmp_path, git_repo):
    git_repo.commit()
    env = gh_env(tmp_path, event="push", ref="refs/tags/v9.9.9", GITHUB_ACTIONS="false")
    ctx = detect_context(env, git=lambda: read_facts(git_repo.path), now=NOW)
    assert ctx.source == "git" and ctx.branch == "main"


# -- GitLab CI ---------------------------------------------------------------------------------
def gl_env(**extra) -> dict:
    env = {
        "GITLAB_CI": "true",
        "CI_COMMIT_SHA": SHA,
        "CI_DEFAULT_BRANCH": "main",
        "CI_PROJECT_PATH": "group/sub/project",
        "CI_SERVER_URL": "https://gitlab.example.com",
        "CI_REGISTRY": "registry.example.com",
        "CI_REGISTRY_IMAGE": "registry.example.com/group/sub/project",
        "CI_PIPELINE_SOURCE": "push",
    }
    env.update(extra)
    return env


def test_gitlab_tag_pipeline():
    ctx = detect_context(gl_env(CI_COMMIT_TAG="v1.2.3", CI_COMMIT_REF_NAME="v1.2.3"), git=no_git, now=NOW)
    assert (ctx.event, ctx.ref, ctx.tag, ctx.branch) == (TAG, "refs/tags/v1.2.3", "v1.2.3", None)
    assert (ctx.source, ctx.ci, ctx.repository) == ("gitlab", "gitlab", "group/sub/project")
    assert ctx.registry_image == "registry.example.com/group/sub/project"
    assert ctx.registry == "registry.example.com"
    assert ctx.server_url == "https://gitlab.example.com"
    assert not ctx.is_default_branch


@pytest.mark.parametrize("branch, default", [("main", True), ("develop", False)])
def test_gitlab_branch_pipeline(branch, default):
    ctx = detect_context(gl_env(CI_COMMIT_BRANCH=branch, CI_COMMIT_REF_NAME=branch), git=no_git, now=NOW)
    assert (ctx.event, ctx.ref, ctx.branch) == (BRANCH, f"refs/heads/{branch}", branch)
    assert ctx.is_default_branch is default


def test_gitlab_merge_request_pipeline():
    env = gl_env(
        CI_PIPELINE_SOURCE="merge_request_event",
        CI_MERGE_REQUEST_IID="17",
        CI_MERGE_REQUEST_SOURCE_BRANCH_NAME="feature",
        CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main",
        CI_COMMIT_REF_NAME="feature",
    )
    ctx = detect_context(env, git=no_git, now=NOW)
    assert (ctx.event, ctx.pr_number, ctx.branch, ctx.base_ref) == (PR, 17, "feature", "main")
    assert ctx.ref == "refs/merge-requests/17/head"
    assert not ctx.is_default_branch


@pytest.mark.parametrize("branch, default", [("main", True), ("develop", False)])
def test_gitlab_schedule_pipeline(branch, default):
    # A GitLab schedule may target any branch: the known default branch decides.
    env = gl_env(CI_PIPELINE_SOURCE="schedule", CI_COMMIT_BRANCH=branch, CI_COMMIT_REF_NAME=branch)
    ctx = detect_context(env, git=no_git, now=NOW)
    assert (ctx.event, ctx.branch) == (SCHEDULE, branch)
    assert ctx.is_default_branch is default


def test_gitlab_ci_1_and_ref_name_fallback():
    env = gl_env(GITLAB_CI="1", CI_COMMIT_REF_NAME="release")
    ctx = detect_context(env, git=no_git, now=NOW)
    assert (ctx.event, ctx.branch) == (BRANCH, "release")


def test_gitlab_without_tag_branch_or_mr_is_a_context_error():
    with pytest.raises(ContextError) as info:
        detect_context(gl_env(), git=no_git, now=NOW)
    assert "CI_COMMIT_TAG" in info.value.message and "--tag" in info.value.hint


def test_github_wins_over_gitlab_variables(tmp_path):
    env = {**gl_env(CI_COMMIT_TAG="v0.0.1"), **gh_env(tmp_path, event="push", ref="refs/heads/main")}
    assert detect_gh(env).source == "github"


# -- --tag -------------------------------------------------------------------------------------
def test_cli_tag_overrides_github_branch_push(tmp_path):
    env = gh_env(tmp_path, event="push", ref="refs/heads/main", payload=PUSH_PAYLOAD)
    ctx = detect_gh(env, cli_tag="v2.0.0")
    assert (ctx.event, ctx.ref, ctx.tag, ctx.branch) == (TAG, "refs/tags/v2.0.0", "v2.0.0", None)
    assert (ctx.source, ctx.ci) == ("cli", "github")
    assert (ctx.sha, ctx.repository, ctx.default_branch) == (SHA, "Octo-Org/Hello-World", "main")
    assert not ctx.is_default_branch


def test_cli_tag_overrides_github_tag_and_pull_request(tmp_path):
    ctx = detect_gh(gh_env(tmp_path, event="push", ref="refs/tags/v1.0.0"), cli_tag="v1.0.1")
    assert (ctx.tag, ctx.source) == ("v1.0.1", "cli")
    env = gh_env(tmp_path, event="pull_request", ref="refs/pull/3/merge", GITHUB_HEAD_REF="f", GITHUB_BASE_REF="main")
    ctx = detect_gh(env, cli_tag="v1.0.1")
    assert (ctx.event, ctx.pr_number, ctx.base_ref, ctx.branch) == (TAG, None, None, None)


def test_cli_tag_overrides_gitlab():
    env = gl_env(CI_PIPELINE_SOURCE="merge_request_event", CI_MERGE_REQUEST_IID="4")
    ctx = detect_context(env, cli_tag="v3.1.4", git=no_git, now=NOW)
    assert (ctx.event, ctx.tag, ctx.source, ctx.ci, ctx.pr_number) == (TAG, "v3.1.4", "cli", "gitlab", None)
    assert ctx.registry_image == "registry.example.com/group/sub/project"


def test_cli_tag_overrides_the_tag_on_head(git_repo):
    sha = git_repo.commit()
    git_repo.tag("v1.0.0")
    ctx = detect_context({}, cli_tag=" v1.1.0 ", git=lambda: read_facts(git_repo.path), now=NOW)
    assert (ctx.event, ctx.tag, ctx.source, ctx.sha, ctx.ci) == (TAG, "v1.1.0", "cli", sha, None)


def test_cli_tag_is_not_checked_here():
    # The context only carries the tag; the plan rejects a tag that is not SemVer.
    ctx = detect_context({}, cli_tag="v1.2", git=GitFacts(), now=NOW)
    assert (ctx.event, ctx.tag) == (TAG, "v1.2")


def test_cli_tag_without_git_or_ci():
    ctx = detect_context({}, cli_tag="v1.0.0", git=None, now=NOW)
    assert (ctx.event, ctx.tag, ctx.sha, ctx.source) == (TAG, "v1.0.0", "", "cli")


@pytest.mark.parametrize("tag", ["", "  ", "\n"])
def test_empty_cli_tag_is_a_context_error(tag):
    with pytest.raises(ContextError) as info:
        detect_context({}, cli_tag=tag, git=GitFacts(), now=NOW)
    assert "--tag v1.2.3" in info.value.hint


# -- local git (real repositories) -------------------------------------------------------------
def local(repo_path) -> Context:
    return detect_context({}, git=lambda: read_facts(repo_path), now=NOW)


def test_local_exact_tag_on_head(git_repo):
    git_repo.commit()
    sha = git_repo.commit()
    git_repo.tag("v1.2.3", annotated=True)
    ctx = local(git_repo.path)
    assert (ctx.event, ctx.tag, ctx.ref, ctx.sha, ctx.source, ctx.ci) == (TAG, "v1.2.3", "refs/tags/v1.2.3", sha, "git", None)
    assert ctx.commit_date is not None and ctx.timestamp == NOW


def test_local_several_tags_on_head_picks_the_highest_semver(git_repo):
    git_repo.commit()
    for t in ("v1.9.0", "v1.10.0", "v1.10.0-rc.1", "deployed", "v2.0.0-beta.1", "zz-not-a-version"):
        git_repo.tag(t)
    assert local(git_repo.path).tag == "v2.0.0-beta.1"  # SemVer precedence, not names
    git_repo.git("tag", "-d", "v2.0.0-beta.1")
    assert local(git_repo.path).tag == "v1.10.0"


def test_local_tag_on_an_older_commit_is_not_used(git_repo):
    git_repo.commit()
    git_repo.tag("v1.0.0")
    sha = git_repo.commit()
    ctx = local(git_repo.path)
    assert (ctx.event, ctx.branch, ctx.tag, ctx.sha) == (BRANCH, "main", None, sha)


def test_local_malformed_version_tag_on_head_is_still_the_release_tag(git_repo):
    # First match wins, as in CI: the plan then refuses it with the expected form. (A tag that does
    # not look like a version at all, such as release-1 or deployed-prod, is not a release: issue 14.)
    git_repo.commit()
    git_repo.tag("v1.2")
    ctx = local(git_repo.path)
    assert (ctx.event, ctx.tag) == (TAG, "v1.2")


@pytest.mark.parametrize("other", ["deployed-prod", "release-1", "nightly"])
def test_local_tag_that_is_not_a_version_leaves_a_branch_build(git_repo, other):
    git_repo.commit()
    git_repo.tag(other)
    ctx = local(git_repo.path)
    assert (ctx.event, ctx.tag, ctx.branch) == (BRANCH, None, "main")
    git_repo.tag("v2.0.0")  # with a version tag beside it, the version is the release
    assert local(git_repo.path).tag == "v2.0.0"


def test_local_branch(git_repo):
    git_repo.commit()
    sha = git_repo.head()
    ctx = local(git_repo.path)
    assert (ctx.event, ctx.ref, ctx.branch, ctx.sha) == (BRANCH, "refs/heads/main", "main", sha)
    assert ctx.commit_date is not None


def test_local_default_branch_from_a_clone(git_repo, tmp_path):
    git_repo.commit()
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(git_repo.path), str(clone)], check=True, capture_output=True)
    ctx = local(clone)
    assert (ctx.branch, ctx.default_branch) == ("main", "main") and ctx.is_default_branch
    subprocess.run(["git", "checkout", "-q", "-b", "feature"], cwd=clone, check=True)
    ctx = local(clone)
    assert (ctx.branch, ctx.default_branch) == ("feature", "main") and not ctx.is_default_branch


def test_local_default_branch_follows_origin_head_not_the_name(git_repo, tmp_path):
    git_repo.commit()
    git_repo.git("branch", "-m", "main", "trunk")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(git_repo.path), str(clone)], check=True, capture_output=True)
    ctx = local(clone)
    assert (ctx.branch, ctx.default_branch, ctx.is_default_branch) == ("trunk", "trunk", True)


def test_local_detached_head(git_repo):
    first = git_repo.commit()
    git_repo.commit()
    git_repo.checkout("--detach", first)
    ctx = local(git_repo.path)
    assert (ctx.event, ctx.ref, ctx.branch, ctx.tag, ctx.sha) == (BRANCH, "HEAD", None, None, first)
    assert not ctx.is_default_branch


def test_local_detached_head_on_a_tag(git_repo):
    git_repo.commit()
    git_repo.tag("v0.1.0")
    git_repo.commit()
    git_repo.checkout("v0.1.0")
    ctx = local(git_repo.path)
    assert (ctx.event, ctx.tag) == (TAG, "v0.1.0")


def test_no_git_repository_is_a_context_error(tmp_path):
    plain = tmp_path / "plain"
    plain.mkdir()
    assert read_facts(plain) == GitFacts()
    with pytest.raises(ContextError) as info:
        local(plain)
    assert "--tag v1.2.3" in info.value.hint


def test_git_repository_without_commits_is_a_context_error(git_repo):
    with pytest.raises(ContextError):
        local(git_repo.path)


def test_git_is_read_lazily_and_only_when_needed(tmp_path):
    calls = []

    def facts():
        calls.append(1)
        return GitFacts(sha=SHA, branch="main", default_branch="main")

    detect_context(gh_env(tmp_path, event="push", ref="refs/heads/main"), git=facts, now=NOW)
    detect_context(gl_env(CI_COMMIT_TAG="v1.0.0"), cli_tag="v1.0.1", git=facts, now=NOW)
    assert calls == []
    ctx = detect_context({}, git=facts, now=NOW)
    assert calls == [1] and ctx.is_default_branch
    ctx = detect_context({}, git=GitFacts(sha=SHA, exact_tags=("v1.0.0",)), now=NOW)
    assert ctx.tag == "v1.0.0"


# -- is_default_branch -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "ctx, want",
    [
        (Context(event=BRANCH, ref="refs/heads/main", branch="main", default_branch="main"), True),
        (Context(event=BRANCH, ref="refs/heads/main", branch="main", default_branch="master"), False),
        (Context(event=BRANCH, ref="refs/heads/main", branch="main", default_branch=None), False),
        (Context(event=BRANCH, ref="refs/heads/mainline", branch="mainline", default_branch="main"), False),
        (Context(event=BRANCH, ref="HEAD", default_branch="main"), False),
        (Context(event=TAG, ref="refs/tags/main", tag="main", default_branch="main"), False),
        (Context(event=PR, ref="refs/pull/1/merge", branch="main", default_branch="main", pr_number=1), False),
        (Context(event=SCHEDULE, ref="refs/heads/main", branch="main", default_branch="main"), True),
        (Context(event=SCHEDULE, ref="refs/heads/dev", branch="dev", default_branch="main"), False),
        (Context(event=SCHEDULE, ref="refs/heads/main", branch="main", default_branch=None), True),
    ],
)
def test_is_default_branch(ctx, want):
    assert ctx.is_default_branch is want


def test_with_tag_turns_any_context_into_a_tag_context():
    base = Context(event=PR, ref="refs/pull/1/merge", branch="f", base_ref="main", pr_number=1, sha=SHA, ci="github")
    ctx = base.with_tag("v1.0.0")
    assert (ctx.event, ctx.ref, ctx.tag, ctx.branch, ctx.pr_number, ctx.base_ref) == (
        TAG, "refs/tags/v1.0.0", "v1.0.0", None, None, None)
    assert (ctx.sha, ctx.ci) == (SHA, "github")


# -- metadata-action parity (issue 13) -------------------------------------------------------------
PR_PAYLOAD = {"number": 7, "pull_request": {"number": 7, "head": {"sha": HEAD_SHA}, "base": {"ref": "main"}},
              "repository": {"default_branch": "main"}}


def test_github_pull_request_target_uses_the_merge_ref_as_metadata_action_does(tmp_path):
    """GITHUB_REF is the base branch on pull_request_target: read as it is, type=ref,event=branch
    and {{is_default_branch}} fired on a pull request."""
    from image_release.core.tag_rules import evaluate, parse_flavor, parse_rules

    ctx = detect_gh(gh_env(tmp_path, event="pull_request_target", ref="refs/heads/main", payload=PR_PAYLOAD))
    assert (ctx.event, ctx.ref, ctx.base_ref) == (PR, "refs/pull/7/merge", "main")
    rules = parse_rules(["type=ref,event=branch", "type=raw,value=dflt,enable={{is_default_branch}}", "type=ref,event=pr",
                         "type=raw,value=to-{{base_ref}}"])
    assert [o.value for o in evaluate(rules, parse_flavor([]), ctx)] == ["pr-7", "to-main"]


def test_github_base_ref_comes_from_the_payload(tmp_path):
    pr = detect_gh(gh_env(tmp_path, event="pull_request", ref="refs/pull/7/merge", payload=PR_PAYLOAD))
    assert pr.base_ref == "main"  # without GITHUB_BASE_REF
    tag = detect_gh(gh_env(tmp_path, event="push", ref="refs/tags/v1.0.0",
                           payload={"base_ref": "refs/heads/main", "repository": {"default_branch": "main"}}))
    assert tag.base_ref == "refs/heads/main"
    from image_release.core.tag_rules import render_template

    assert render_template("{{base_ref}}", tag) == "main"
    assert render_template("{{base_ref}}", tag.with_tag("v1.0.0")) == ""  # --tag: no payload of that push


@pytest.mark.parametrize("event, flag, sha, ma_sha", [
    ("pull_request", "", HEAD_SHA, SHA),  # safe: the PR head; metadata-action: the merge commit
    ("pull_request", "true", HEAD_SHA, None),  # both the PR head
    ("pull_request_target", "", SHA, None),  # both GITHUB_SHA
    ("pull_request_target", "TRUE", HEAD_SHA, None),  # both the PR head
])
def test_docker_metadata_pr_head_sha(tmp_path, event, flag, sha, ma_sha):
    env = gh_env(tmp_path, event=event, ref="refs/pull/7/merge", payload=PR_PAYLOAD)
    if flag:
        env["DOCKER_METADATA_PR_HEAD_SHA"] = flag
    ctx = detect_gh(env)
    assert (ctx.sha, ctx.metadata_action_sha) == (sha, ma_sha)
    assert ctx.as_metadata_action().sha == (ma_sha or sha)


@pytest.mark.parametrize("event, want", [("create", "true"), ("discussion", "true"), ("issues", "true"),
                                         ("workflow_dispatch", "false"), ("push", "false")])
def test_is_default_branch_on_events_github_runs_on_the_default_branch(tmp_path, event, want):
    from image_release.core.tag_rules import render_template

    ctx = detect_gh(gh_env(tmp_path, event=event, ref="refs/heads/dev", payload=PUSH_PAYLOAD))
    assert ctx.event_name == event
    assert render_template("{{is_default_branch}}", ctx) == want


def test_github_commit_date_from_the_push_payload(tmp_path):
    payload = dict(PUSH_PAYLOAD, head_commit={"id": SHA, "timestamp": "2022-04-19T11:27:24+02:00"})
    ctx = detect_gh(gh_env(tmp_path, event="push", ref="refs/heads/main", payload=payload))
    assert ctx.commit_date == datetime(2022, 4, 19, 9, 27, 24, tzinfo=timezone.utc)
    other = detect_gh(gh_env(tmp_path, event="push", ref="refs/heads/main", payload=dict(payload, head_commit={"id": "x"})))
    assert other.commit_date is None
