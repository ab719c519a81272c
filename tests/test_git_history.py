"""git_history against real git repositories in temp dirs (tests/fixtures/gitrepo.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from image_release.adapters import git_history as gh
from image_release.adapters.git_cmd import redact
from image_release.adapters.git_repo import GitRepo as Repo
from image_release.core.changelog import RepoLinks, build_changelog
from image_release.core.history import pick_previous
from image_release.core.versions import parse_version
from image_release.errors import GitError, VersionError
from tests.fixtures.gitrepo import GIT_ENV, GitRepo


def clone(src: GitRepo, dest: Path, *extra: str) -> GitRepo:
    import os

    subprocess.run(
        ["git", "clone", "-q", *extra, f"file://{src.path}", str(dest)],
        check=True, capture_output=True, env={**os.environ, **GIT_ENV},
    )
    return GitRepo(dest)


def subjects(commits) -> list[str]:
    return [c.subject for c in commits]


def same_as_combined(repo: GitRepo, tag: str, ref: str | None = None) -> str | None:
    """previous_release + commits_between, checked against release_history; returns previous."""
    prev = gh.previous_release(repo.path, tag, ref=ref)
    commits = gh.commits_between(repo.path, prev, ref or tag)
    combined = gh.release_history(repo.path, tag, ref=ref)
    assert (combined.previous, list(combined.commits)) == (prev, commits)
    return prev


# --- tags ----------------------------------------------------------------------------------------


def test_version_tags_annotated_lightweight_and_non_version(git_repo: GitRepo):
    a = git_repo.commit("feat: one")
    git_repo.tag("v1.0.0")
    git_repo.tag("nightly")  # not a version
    b = git_repo.commit("fix: two")
    git_repo.tag("v1.0.1", annotated=True)
    git_repo.tag("2.0.0-rc.1", annotated=True)  # no v: still a version
    git_repo.git("tag", "v9.9.9", "HEAD^{tree}")  # a tag of a tree is no release
    tags = gh.version_tags(git_repo.path)
    assert [(n, s) for n, _v, s in tags] == [("v1.0.0", a), ("v1.0.1", b), ("2.0.0-rc.1", b)]
    assert tags[1][1] == parse_version("1.0.1")


def test_version_tags_empty_repo_history(git_repo: GitRepo):
    git_repo.commit("initial")
    assert gh.version_tags(git_repo.path) == []


# --- previous release ----------------------------------------------------------------------------


def test_first_release_has_no_previous_and_lists_everything(git_repo: GitRepo):
    git_repo.commit("feat: start")
    git_repo.commit("initial docs")
    git_repo.tag("v0.1.0")
    assert gh.previous_release(git_repo.path, "v0.1.0") is None
    assert same_as_combined(git_repo, "v0.1.0") is None
    assert subjects(gh.commits_between(git_repo.path, None, "v0.1.0")) == ["initial docs", "feat: start"]


def test_linear_history(git_repo: GitRepo):
    git_repo.commit("feat: a")
    git_repo.tag("v1.0.0")
    git_repo.commit("fix: b")
    git_repo.commit("feat: c")
    git_repo.tag("v1.1.0", annotated=True)
    git_repo.commit("chore: after")
    assert gh.previous_release(git_repo.path, "v1.1.0") == "v1.0.0"
    assert subjects(gh.commits_between(git_repo.path, "v1.0.0", "v1.1.0")) == ["feat: c", "fix: b"]


def test_backport_gets_the_previous_patch_not_the_newer_minor(git_repo: GitRepo):
    git_repo.commit("feat: base")
    git_repo.tag("v1.1.4")
    git_repo.commit("feat: new minor on main")
    git_repo.tag("v1.2.0")
    git_repo.checkout("-b", "release-1.1", "v1.1.4")
    git_repo.commit("fix: backported fix")
    git_repo.tag("v1.1.5", annotated=True)
    assert gh.previous_release(git_repo.path, "v1.1.5") == "v1.1.4"
    prev = gh.previous_release(git_repo.path, "v1.1.5")
    assert subjects(gh.commits_between(git_repo.path, prev, "v1.1.5")) == ["fix: backported fix"]
    # and on main, v1.2.0 still follows v1.1.4
    assert gh.previous_release(git_repo.path, "v1.2.0") == "v1.1.4"
    assert same_as_combined(git_repo, "v1.1.5") == "v1.1.4"
    assert same_as_combined(git_repo, "v1.2.0") == "v1.1.4"


def test_prerelease_to_final(git_repo: GitRepo):
    git_repo.commit("feat: old")
    git_repo.tag("v0.9.0")
    git_repo.commit("feat: big thing")
    git_repo.tag("v1.0.0-rc.1")
    git_repo.commit("fix: rc feedback")
    git_repo.tag("v1.0.0-rc.2", annotated=True)
    git_repo.commit("docs: final touches")
    git_repo.tag("v1.0.0")
    # a prerelease follows the previous version of any kind
    assert gh.previous_release(git_repo.path, "v1.0.0-rc.2") == "v1.0.0-rc.1"
    assert gh.previous_release(git_repo.path, "v1.0.0-rc.1") == "v0.9.0"
    # a final follows the previous final: its notes cover the whole step since v0.9.0
    assert gh.previous_release(git_repo.path, "v1.0.0") == "v0.9.0"
    for t in ("v1.0.0-rc.1", "v1.0.0-rc.2", "v1.0.0"):
        same_as_combined(git_repo, t)
    assert subjects(gh.commits_between(git_repo.path, "v0.9.0", "v1.0.0")) == [
        "docs: final touches", "fix: rc feedback", "feat: big thing",
    ]


def test_first_final_after_only_prereleases_is_a_first_release(git_repo: GitRepo):
    git_repo.commit("feat: a")
    git_repo.tag("v1.0.0-beta.1")
    git_repo.commit("feat: b")
    git_repo.tag("v1.0.0")
    assert gh.previous_release(git_repo.path, "v1.0.0") is None


def test_same_version_under_another_name_is_not_previous(git_repo: GitRepo):
    git_repo.commit("feat: a")
    git_repo.tag("v1.0.0")
    git_repo.commit("feat: b")
    git_repo.tag("v1.1.0")
    git_repo.tag("1.1.0")
    git_repo.tag("v1.1.0+build.7")
    assert gh.previous_release(git_repo.path, "v1.1.0") == "v1.0.0"


def test_tags_not_merged_are_ignored_even_when_lower(git_repo: GitRepo):
    git_repo.commit("feat: root")
    git_repo.tag("v1.0.0")
    git_repo.checkout("-b", "side")
    git_repo.commit("feat: side work")
    git_repo.tag("v1.0.5")  # on a branch main never merged
    git_repo.checkout("main")
    git_repo.commit("feat: main work")
    git_repo.tag("v1.1.0")
    assert gh.previous_release(git_repo.path, "v1.1.0") == "v1.0.0"
    # the highest candidate (v1.0.5) is not an ancestor: release_history falls back correctly
    assert same_as_combined(git_repo, "v1.1.0") == "v1.0.0"


def test_tags_on_the_release_commit(git_repo: GitRepo):
    git_repo.commit("feat: a")
    git_repo.tag("v1.0.0")
    git_repo.tag("v1.0.1")  # a re-tag of the same commit: an empty changelog, not the whole history
    assert same_as_combined(git_repo, "v1.0.1") == "v1.0.0"
    assert gh.release_history(git_repo.path, "v1.0.1").commits == ()


def test_previous_release_from_a_ref_before_tagging(git_repo: GitRepo):
    git_repo.commit("feat: a")
    git_repo.tag("v2.3.0")
    git_repo.commit("fix: b")
    assert gh.previous_release(git_repo.path, "v2.3.1", ref="HEAD") == "v2.3.0"
    assert same_as_combined(git_repo, "v2.3.1", ref="HEAD") == "v2.3.0"
    with pytest.raises(GitError):
        gh.previous_release(git_repo.path, "v2.3.1")  # no such tag, and no ref to look from


# --- commits -------------------------------------------------------------------------------------


def test_commit_fields_and_multiline_bodies(git_repo: GitRepo):
    first = git_repo.commit("feat: one")
    git_repo.tag("v1.0.0")
    sha = git_repo.commit("fix(ünï): çødé\n\nline one\nline two: with colon\n\nBREAKING CHANGE: x\n  more")
    (c,) = gh.commits_between(git_repo.path, "v1.0.0", "HEAD")
    assert c.sha == sha and c.parents == (first,)
    assert c.subject == "fix(ünï): çødé"
    assert c.body == "line one\nline two: with colon\n\nBREAKING CHANGE: x\n  more"
    assert c.author == "Test Author"
    assert c.date is not None and c.date.tzinfo is not None
    assert not c.is_merge


def test_merge_commits(git_repo: GitRepo):
    git_repo.commit("feat: base")
    git_repo.tag("v1.0.0")
    git_repo.checkout("-b", "feature")
    git_repo.commit("feat(login): form")
    git_repo.commit("fix typo in form")
    git_repo.checkout("main")
    git_repo.commit("docs: on main meanwhile")
    git_repo.git("merge", "--no-ff", "-q", "feature", "-m", "Merge pull request #5 from o/feature\n\nfeat: login page")
    git_repo.checkout("-b", "topic")
    git_repo.commit("perf: faster")
    git_repo.checkout("main")
    git_repo.commit("chore: bump")
    git_repo.git("merge", "--no-ff", "-q", "topic", "-m", "Merge branch 'topic'")
    git_repo.tag("v1.1.0")

    commits = gh.commits_between(git_repo.path, "v1.0.0", "v1.1.0")
    merges = [c for c in commits if c.is_merge]
    assert len(merges) == 2 and all(len(c.parents) == 2 for c in merges)
    assert len(commits) == 7

    cl = build_changelog(commits, tag="v1.1.0", previous_tag="v1.0.0", links=RepoLinks("https://github.com/o/r"))
    by = {s.title: [e.description for e in s.entries] for s in cl.sections}
    assert by["Features"] == ["login page", "form"] or by["Features"] == ["form", "login page"]
    feat = {e.description: e for e in cl.sections[0].entries}
    assert feat["login page"].pr == 5 and feat["login page"].pr_url == "https://github.com/o/r/pull/5"
    assert by["Performance"] == ["faster"]
    assert by["Other changes"] == ["fix typo in form"]  # the plain merge itself is not listed
    assert all("Merge" not in d for ds in by.values() for d in ds)


# --- errors --------------------------------------------------------------------------------------


def test_not_a_git_repository(tmp_path: Path):
    with pytest.raises(GitError) as e:
        gh.version_tags(tmp_path)
    assert "not a git repository" in e.value.message and e.value.hint


def test_missing_directory(tmp_path: Path):
    with pytest.raises(GitError) as e:
        gh.commits_between(tmp_path / "nope", None, "HEAD")
    assert "does not exist" in e.value.message


def test_unknown_tag(git_repo: GitRepo):
    git_repo.commit("feat: a")
    git_repo.tag("v1.0.0")
    with pytest.raises(GitError) as e:
        gh.previous_release(git_repo.path, "v7.0.0")
    assert "v7.0.0" in e.value.message and "git fetch --tags" in e.value.hint
    with pytest.raises(GitError) as e:
        gh.release_history(git_repo.path, "v7.0.0")
    assert "v7.0.0" in e.value.message
    with pytest.raises(GitError) as e:
        gh.previous_release(git_repo.path, "v7.0.0", ref="no-such-branch")
    assert "no-such-branch" in e.value.message
    with pytest.raises(GitError) as e:
        gh.commits_between(git_repo.path, "v0.0.9", "v1.0.0")
    assert "v0.0.9" in e.value.message
    with pytest.raises(GitError):
        gh.commits_between(git_repo.path, None, "--all")  # never taken as an option


def test_non_version_tag_is_a_version_error(git_repo: GitRepo):
    git_repo.commit("feat: a")
    with pytest.raises(VersionError):
        gh.previous_release(git_repo.path, "nightly")


# --- shallow clones ------------------------------------------------------------------------------


@pytest.fixture
def origin(git_repo: GitRepo) -> GitRepo:
    for i in range(1, 4):
        git_repo.commit(f"feat: step {i}")
        git_repo.tag(f"v1.{i}.0", annotated=(i == 2))
    git_repo.commit("fix: last")
    git_repo.tag("v1.3.1")
    return git_repo


def test_full_clone_is_complete(origin: GitRepo, tmp_path: Path):
    full = clone(origin, tmp_path / "full")
    assert not gh.is_shallow(full.path)
    st = gh.ensure_history(full.path, "v1.2.0", deepen=False)
    assert st.complete and not st.shallow and st.note is None


def test_shallow_clone_detected_and_reported_when_not_deepened(origin: GitRepo, tmp_path: Path):
    shallow = clone(origin, tmp_path / "shallow", "--depth", "1")
    assert gh.is_shallow(shallow.path)
    st = gh.ensure_history(shallow.path, None, deepen=False)
    assert st.shallow and not st.complete and not st.deepened
    assert st.note.startswith("changelog may be incomplete: shallow clone")
    assert "fetch-depth: 0" in st.hint
    # a previous tag whose commit is not in the clone is not "complete" either
    st = gh.ensure_history(shallow.path, "v1.2.0", deepen=False)
    assert not st.complete and st.note


def test_shallow_clone_deepened_from_origin(origin: GitRepo, tmp_path: Path):
    shallow = clone(origin, tmp_path / "shallow", "--depth", "1")
    assert len(gh.commits_between(shallow.path, None, "HEAD")) == 1  # what a shallow clone would claim
    st = gh.ensure_history(shallow.path, None, deepen=True)
    assert st.complete and st.deepened and not st.shallow and st.note is None
    assert not gh.is_shallow(shallow.path)
    assert gh.previous_release(shallow.path, "v1.3.1") == "v1.3.0"
    assert len(gh.commits_between(shallow.path, None, "v1.3.1")) == 4
    assert [t for t, _v, _s in gh.version_tags(shallow.path)] == ["v1.1.0", "v1.2.0", "v1.3.0", "v1.3.1"]


def test_shallow_clone_deep_enough_needs_no_fetch(origin: GitRepo, tmp_path: Path):
    shallow = clone(origin, tmp_path / "shallow", "--depth", "2")
    assert gh.is_shallow(shallow.path)
    assert "v1.3.0" in [t for t, _v, _s in gh.version_tags(shallow.path)]  # tags in the depth are followed
    # v1.3.0..HEAD = [fix: last], inside the 2 fetched commits
    st = gh.ensure_history(shallow.path, "v1.3.0", deepen=False)
    assert st.complete and st.shallow and not st.deepened and st.note is None
    # v1.2.0's commit is beyond the boundary (and its tag was not fetched): incomplete
    assert not gh.ensure_history(shallow.path, "v1.2.0", deepen=False).complete
    # a tag that is present but below the boundary is incomplete too
    shallow.git("fetch", "-q", "origin", "tag", "v1.1.0", "--depth", "1")
    assert gh.is_shallow(shallow.path)
    assert not gh.ensure_history(shallow.path, "v1.1.0", deepen=False).complete


def test_shallow_clone_that_cannot_be_deepened_is_reported(origin: GitRepo, tmp_path: Path):
    shallow = clone(origin, tmp_path / "shallow", "--depth", "1")
    shallow.git("remote", "remove", "origin")
    st = gh.ensure_history(shallow.path, None, deepen=True)
    assert st.shallow and not st.complete and not st.deepened
    assert "shallow clone" in st.note and "origin" in st.note and st.reason


def test_remote_tags(origin: GitRepo, tmp_path: Path):
    shallow = clone(origin, tmp_path / "shallow", "--depth", "1", "--no-tags")
    assert gh.version_tags(shallow.path) == []
    assert Repo(shallow.path).remote_tags() == ["v1.1.0", "v1.2.0", "v1.3.0", "v1.3.1"]
    with pytest.raises(GitError) as e:
        Repo(shallow.path).remote_tags(remote="upstream")
    assert "upstream" in (e.value.hint or "")


# --- random histories against a brute force ------------------------------------------------------


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_histories_match_brute_force(git_repo: GitRepo, seed: int):
    """Random branches, merges and tags (finals and prereleases); previous_release and
    release_history must agree with a brute force over `git rev-list` (every ancestor of each tag)."""
    import random

    rnd = random.Random(seed)
    branches = ["main"]
    git_repo.commit("feat: root")
    used: set[str] = set()
    for i in range(40):
        action = rnd.random()
        if action < 0.15:
            name = f"b{i}"
            git_repo.checkout("-b", name, rnd.choice(branches))
            branches.append(name)
        elif action < 0.25 and len(branches) > 1:
            other = rnd.choice([b for b in branches if b != git_repo.git("branch", "--show-current")] or ["main"])
            git_repo.git("merge", "--no-ff", "-q", other, "-m", f"Merge branch '{other}'")
        else:
            git_repo.commit(rnd.choice(["feat: x", "fix: y", "misc"]) + f" {i}")
        if rnd.random() < 0.35:
            v = f"v{rnd.randint(0, 2)}.{rnd.randint(0, 3)}.{rnd.randint(0, 3)}"
            if rnd.random() < 0.3:
                v += f"-rc.{rnd.randint(1, 3)}"
            if v not in used:
                used.add(v)
                git_repo.tag(v, annotated=rnd.random() < 0.5)
        if rnd.random() < 0.2:
            git_repo.checkout(rnd.choice(branches))
    tags = gh.version_tags(git_repo.path)
    assert len(tags) >= 5

    for name, version, sha in tags:
        reachable = set(git_repo.git("rev-list", sha).split())  # every ancestor, by a plain walk
        ancestors = [t for t in tags if t[2] in reachable]
        expected = pick_previous(version, ancestors)
        assert gh.previous_release(git_repo.path, name) == expected, name
        same_as_combined(git_repo, name)


def test_credentials_in_remote_urls_never_reach_errors(origin: GitRepo, tmp_path: Path):
    shallow = clone(origin, tmp_path / "shallow", "--depth", "1")
    shallow.git("remote", "set-url", "origin", "http://x-access-token:ghs_SECRET123@127.0.0.1:9/o/r.git")
    st = gh.ensure_history(shallow.path, None, deepen=True)
    assert not st.complete and "SECRET" not in (st.reason or "") and "SECRET" not in st.note
    with pytest.raises(GitError) as e:
        Repo(shallow.path).remote_tags()
    assert "SECRET" not in str(e.value)
    assert redact("fatal: unable to access 'https://u:p@h/x/': no") == "fatal: unable to access 'https://***@h/x/': no"


# --- monorepos: tag prefixes and paths (issue 13) ------------------------------------------------


@pytest.fixture
def monorepo(git_repo: GitRepo) -> GitRepo:
    """api/ and web/ released separately (api/vX, web-vX), with PR merges touching one or both."""
    r = git_repo
    r.commit("chore: root", {"api/a.py": "0\n", "web/w.js": "0\n", "README": "0\n"})
    r.tag("api/v1.0.0")
    r.tag("web-v0.1.0")
    r.tag("v9.0.0")  # a tag of the whole repository: no target's release
    r.checkout("-b", "feat")
    r.commit("feat(api): endpoint", {"api/a.py": "1\n"})
    r.commit("feat(web): page", {"web/w.js": "1\n"})
    r.checkout("main")
    r.commit("docs: readme", {"README": "1\n"})
    r.git("merge", "--no-ff", "-q", "feat", "-m", "Merge pull request #5 from o/feat\n\nfeat: api and web")
    r.tag("web-v0.2.0")
    r.checkout("-b", "webonly")
    r.commit("fix(web): style", {"web/w.js": "2\n"})
    r.checkout("main")
    r.git("merge", "--no-ff", "-q", "webonly", "-m", "Merge pull request #6 from o/webonly\n\nfix: web style")
    r.commit("fix(api): crash", {"api/a.py": "2\n"})
    r.tag("api/v1.1.0", annotated=True)
    r.commit("feat(api): next", {"api/a.py": "3\n", "shared/lib.py": "1\n"})
    r.tag("api/v1.2.0-rc.1")
    return r


def test_previous_release_among_tags_with_the_prefix(monorepo: GitRepo):
    p = monorepo.path
    assert [t.name for t in gh.version_tags(p, prefix="api/")] == ["api/v1.0.0", "api/v1.1.0", "api/v1.2.0-rc.1"]
    assert [t.version for t in gh.version_tags(p, prefix="web-")] == [parse_version("0.1.0"), parse_version("0.2.0")]
    assert [t.name for t in gh.version_tags(p)] == ["v9.0.0"]  # no prefix: api/v1.0.0 is no version
    assert gh.previous_release(p, "api/v1.1.0", prefix="api/") == "api/v1.0.0"  # not v9.0.0, not web-v0.2.0
    assert gh.previous_release(p, "api/v1.2.0-rc.1", prefix="api/") == "api/v1.1.0"
    assert gh.previous_release(p, "web-v0.2.0", prefix="web-") == "web-v0.1.0"
    assert gh.previous_release(p, "api/v1.3.0", prefix="api/", ref="HEAD") == "api/v1.1.0"
    assert gh.release_history(p, "api/v1.1.0", prefix="api/").previous == "api/v1.0.0"
    with pytest.raises(VersionError) as e:
        gh.previous_release(p, "web-v0.2.0", prefix="api/")
    assert "api/" in e.value.message and "api/v1.2.3" in e.value.hint
    with pytest.raises(VersionError):
        gh.previous_release(p, "api/v1.1.0")  # without its prefix, api/v1.1.0 is no version


def test_changelog_by_path(monorepo: GitRepo):
    p = monorepo.path
    api = gh.release_history(p, "api/v1.1.0", prefix="api/", paths=["api"])
    assert api.previous == "api/v1.0.0"
    # the api commits, on any branch, and the PR merge that brought one in; not #6 (web only)
    assert subjects(api.commits) == ["fix(api): crash", "Merge pull request #5 from o/feat", "feat(api): endpoint"]
    assert subjects(gh.commits_between(p, "api/v1.0.0", "api/v1.1.0", paths=("api",))) == subjects(api.commits)
    web = gh.release_history(p, "web-v0.2.0", prefix="web-", paths=["web/"])
    assert subjects(web.commits) == ["Merge pull request #5 from o/feat", "feat(web): page"]
    # several paths, and the whole range with no paths for comparison
    both = gh.release_history(p, "api/v1.2.0-rc.1", prefix="api/", paths=["api", "shared"])
    assert subjects(both.commits) == ["feat(api): next"]
    assert len(gh.release_history(p, "api/v1.1.0", prefix="api/").commits) == 7
    cl = build_changelog(api.commits, tag="api/v1.1.0", previous_tag=api.previous, links=RepoLinks("https://github.com/o/r"))
    by = {s.title: [e.description for e in s.entries] for s in cl.sections}
    assert by == {"Features": ["api and web", "endpoint"], "Bug fixes": ["crash"]}
    assert cl.compare_url == "https://github.com/o/r/compare/api/v1.0.0...api/v1.1.0"


def test_changelog_by_path_from_head_and_first_release(monorepo: GitRepo):
    p = monorepo.path
    first = gh.release_history(p, "web-v0.1.0", prefix="web-", paths=["web"])
    assert first.previous is None and subjects(first.commits) == ["chore: root"]
    ahead = gh.release_history(p, "api/v1.3.0", prefix="api/", ref="HEAD", paths=["shared"])
    assert ahead.previous == "api/v1.1.0" and subjects(ahead.commits) == ["feat(api): next"]
    assert gh.release_history(p, "api/v1.3.0", prefix="api/", ref="HEAD", paths=["nowhere"]).commits == ()
    with pytest.raises(GitError):
        gh.commits_between(p, None, "HEAD", paths=["bad\npath"])


@pytest.mark.parametrize("seed", [4, 5])
def test_random_monorepo_histories_match_brute_force(git_repo: GitRepo, seed: int):
    """Random branches, merges and tags of two targets; the previous release per prefix, and the
    commits by path, agree with a brute force over `git rev-list` and `git log --full-history`."""
    import random

    rnd = random.Random(seed)
    branches = ["main"]
    git_repo.commit("feat: root", {"a/f": "0\n", "b/f": "0\n"})
    used: set[str] = set()
    for i in range(40):
        action = rnd.random()
        if action < 0.15:
            git_repo.checkout("-b", f"b{i}", rnd.choice(branches))
            branches.append(f"b{i}")
        elif action < 0.25 and len(branches) > 1:
            here = git_repo.git("branch", "--show-current")
            other = rnd.choice([b for b in branches if b != here] or ["main"])
            try:
                git_repo.git("merge", "--no-ff", "-q", other, "-m", f"Merge branch '{other}'")
            except RuntimeError:
                git_repo.git("merge", "--abort")
        else:
            d = rnd.choice("ab")
            git_repo.commit(f"fix: {d} {i}", {f"{d}/f{i % 3}": f"{i}\n"})
        if rnd.random() < 0.35:
            tag = f"{rnd.choice(['a/', 'b-'])}v{rnd.randint(0, 2)}.{rnd.randint(0, 3)}.0"
            if tag not in used:
                used.add(tag)
                git_repo.tag(tag, annotated=rnd.random() < 0.5)
        if rnd.random() < 0.2:
            git_repo.checkout(rnd.choice(branches))
    for prefix, path in (("a/", "a"), ("b-", "b")):
        tags = gh.version_tags(git_repo.path, prefix=prefix)
        for name, version, sha in tags:
            reachable = set(git_repo.git("rev-list", sha).split())
            expected = pick_previous(version, [t for t in tags if t[2] in reachable])
            rng = gh.release_history(git_repo.path, name, prefix=prefix, paths=[path])
            assert rng.previous == expected, name
            since = [f"^{expected}"] if expected else []
            want = git_repo.git("log", "--format=%H", "--full-history", name, *since, "--", path).split()
            assert [c.sha for c in rng.commits] == want, name
