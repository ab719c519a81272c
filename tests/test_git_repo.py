"""adapters/git_repo (GitRepo and its reads) and adapters/git_cmd (the one git runner), on real
repositories in temp dirs; git processes counted with a wrapper on PATH (tests/fixtures/gitrepo.py)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from image_release.adapters import git_cmd, git_history
from image_release.adapters import git_repo as reads
from image_release.adapters.git_repo import GitRepo, TagRef
from image_release.core.context import GitFacts
from image_release.core.versions import parse_version
from image_release.errors import GitError
from tests.fixtures.gitrepo import GIT_ENV, GitCounter
from tests.fixtures.gitrepo import GitRepo as Fixture


def clone(src: Fixture, dest: Path, *extra: str) -> Fixture:
    subprocess.run(["git", "clone", "-q", *extra, f"file://{src.path}", str(dest)],
                   check=True, capture_output=True, env={**os.environ, **GIT_ENV})
    return Fixture(dest)


def commands(counter: GitCounter) -> list[str]:
    """The git subcommands run, in order."""
    return [c.split(" ", 1)[0] for c in counter.calls]


# --- the runner ----------------------------------------------------------------------------------


def test_runner_environment_and_config(git_repo: Fixture, monkeypatch):
    monkeypatch.setenv("LC_ALL", "de_DE.UTF-8")
    monkeypatch.setenv("GIT_TERMINAL_PROMPT", "1")
    git_repo.git("config", "color.ui", "always")
    git_repo.git("config", "core.quotePath", "true")
    git_repo.commit("feat: ünï", {"dïr/fïle.txt": "x\n"})
    out = git_cmd.run(git_repo.path, "log", "-1", "--name-only", "--format=%s")
    assert "\x1b[" not in out and "dïr/fïle.txt" in out  # no colour, no quoting
    env = git_cmd.git_env()
    assert (env["LC_ALL"], env["GIT_TERMINAL_PROMPT"], env["GIT_OPTIONAL_LOCKS"]) == ("C", "0", "0")


def test_runner_errors_are_typed_with_hints(tmp_path: Path, git_repo: Fixture):
    with pytest.raises(GitError) as e:
        git_cmd.run(tmp_path / "missing", "status")
    assert "does not exist" in e.value.message and e.value.hint
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(GitError) as e:
        git_cmd.run(plain, "status")
    assert "not a git repository" in e.value.message and e.value.hint
    with pytest.raises(GitError) as e:
        git_cmd.run(git_repo.path, "rev-parse", "--verify", "no-such-ref", what="resolving no-such-ref")
    assert e.value.message.startswith("resolving no-such-ref failed in ")


def test_runner_without_git(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(GitError) as e:
        git_cmd.run(tmp_path, "status")
    assert "git is not installed" in e.value.message and "apt-get install git" in e.value.hint


def test_runner_timeout_kills_git_and_its_children(tmp_path: Path, monkeypatch):
    fake = tmp_path / "bin"
    fake.mkdir()
    marker = tmp_path / "child-alive"
    # a "git" whose child outlives it unless the whole process group is killed
    (fake / "git").write_text(f"#!/bin/sh\n(sleep 3; touch '{marker}') &\nsleep 30\n")
    (fake / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(GitError) as e:
        git_cmd.run(tmp_path, "ls-remote", "origin", timeout=0.5)
    assert "did not finish within" in e.value.message and e.value.hint
    import time

    time.sleep(3.5)
    assert not marker.exists()


def test_runner_has_no_terminal_for_prompts(git_repo: Fixture, tmp_path: Path):
    """Run from a terminal, git (and ssh, credential helpers) still cannot open /dev/tty to prompt."""
    import pty

    git_repo.commit()
    probe = "exec 3</dev/tty"
    pid, fd = pty.fork()
    if pid == 0:  # the child: a session whose controlling terminal is the pty
        try:
            plain = subprocess.run(["sh", "-c", probe], check=False).returncode  # the control: a tty is there
            code, _o, _e = git_cmd.spawn(git_repo.path, "-c", f"alias.tty=!sh -c '{probe}'", "tty")
            os._exit(10 * (plain == 0) + (code != 0))
        except BaseException:  # noqa: BLE001 - the forked child must never return into pytest
            os._exit(99)
    try:
        while True:
            try:
                if not os.read(fd, 1024):
                    break
            except OSError:
                break
    finally:
        os.close(fd)
    _pid, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 11  # the control opened the tty; git's child could not


# --- GitRepo: facts and tags, and how many processes ------------------------------------------


def test_facts_on_a_branch_in_two_processes(git_repo: Fixture, git_counter: GitCounter):
    git_repo.commit()
    sha = git_repo.commit()
    git_repo.tag("v1.2.3", annotated=True)
    git_repo.tag("deployed")
    git_repo.git("tag", "tree-tag", "HEAD^{tree}")
    git_repo.git("remote", "add", "origin", "https://example.invalid/o/r.git")
    git_counter.reset()
    repo = GitRepo(git_repo.path)
    facts = repo.facts()
    assert facts.sha == sha and facts.branch == "main" and facts.default_branch == "main"
    assert facts.exact_tags == ("deployed", "v1.2.3") and facts.remote_url == "https://example.invalid/o/r.git"
    assert facts.commit_date is not None and facts.commit_date.tzinfo is not None
    assert repo.tag_names() == ["deployed", "tree-tag", "v1.2.3"]
    assert repo.tag_commit("v1.2.3") == sha and repo.tag_commit("tree-tag") is None and repo.tag_commit("nope") is None
    assert repo.is_repository
    assert [t for t in git_history.version_tags(repo)] == [("v1.2.3", parse_version("v1.2.3"), sha)]
    assert repo.facts() is facts
    assert commands(git_counter) == ["for-each-ref", "config"]


def test_facts_on_a_detached_head_in_three(git_repo: Fixture, git_counter: GitCounter):
    first = git_repo.commit()
    git_repo.tag("v0.1.0")
    git_repo.commit()
    git_repo.checkout("--detach", first)
    git_counter.reset()
    facts = GitRepo(git_repo.path).facts()
    assert (facts.sha, facts.branch, facts.exact_tags) == (first, None, ("v0.1.0",))
    assert facts.commit_date is not None
    assert commands(git_counter) == ["for-each-ref", "log", "config"]


def test_same_facts_as_each_git_command_gives(git_repo: Fixture, tmp_path: Path):
    """The facts match what the single-purpose git commands say, on a clone with origin/HEAD."""
    git_repo.commit()
    git_repo.git("branch", "-m", "main", "trunk")
    git_repo.tag("v2.0.0")
    c = clone(git_repo, tmp_path / "clone")
    c.git("checkout", "-q", "-b", "feature/x")
    facts = GitRepo(c.path).facts()
    assert facts == GitFacts(
        sha=c.git("rev-parse", "HEAD"),
        exact_tags=tuple(c.git("tag", "--points-at", "HEAD").split()),
        branch=c.git("symbolic-ref", "--short", "HEAD"),
        default_branch=c.git("symbolic-ref", "--short", "refs/remotes/origin/HEAD").split("/", 1)[1],
        commit_date=facts.commit_date,
        remote_url=c.git("config", "--get", "remote.origin.url"),
    )
    assert facts.commit_date.isoformat() == c.git("log", "-1", "--format=%cI")


def test_default_branch_from_init_default_branch(git_repo: Fixture):
    git_repo.git("checkout", "-q", "-b", "dev")
    git_repo.commit()
    git_repo.git("config", "init.defaultBranch", "trunk")
    assert GitRepo(git_repo.path).facts().default_branch == "trunk"
    git_repo.git("config", "--unset", "init.defaultBranch")
    assert GitRepo(git_repo.path).facts().default_branch is None


def test_outside_a_repository(tmp_path: Path, git_counter: GitCounter):
    plain = tmp_path / "plain"
    plain.mkdir()
    repo = GitRepo(plain)
    assert not repo.is_repository
    assert repo.facts() == GitFacts() and repo.tag_names() == [] and repo.tag_commit("v1") is None
    assert not repo.worktree().dirty
    with pytest.raises(GitError) as e:
        repo.tags()
    assert "not a git repository" in e.value.message
    assert commands(git_counter) == ["for-each-ref"]
    assert reads.read_facts(tmp_path / "missing") == GitFacts() and not reads.is_repository(tmp_path / "missing")


def test_repository_without_commits(git_repo: Fixture):
    repo = GitRepo(git_repo.path)
    assert repo.is_repository and repo.facts() == GitFacts() and repo.tag_names() == []


def test_dubious_ownership_is_an_error_with_its_fix(git_repo: Fixture, monkeypatch):
    git_repo.commit()
    real = git_cmd.spawn

    def spawn(root, *args, **kw):
        return 128, "", f"fatal: detected dubious ownership in repository at '{root}'"

    monkeypatch.setattr(git_cmd, "spawn", spawn)
    with pytest.raises(GitError) as e:
        GitRepo(git_repo.path).facts()
    assert "safe.directory" in e.value.hint
    monkeypatch.setattr(git_cmd, "spawn", real)


# --- the working tree ----------------------------------------------------------------------------


def test_worktree_tracked_changes_only(git_repo: Fixture, git_counter: GitCounter):
    git_repo.commit("feat: a", {"a.txt": "a\n", "b.txt": "b\n", "c.txt": "c\n"})
    repo = GitRepo(git_repo.path)
    (git_repo.path / "untracked.txt").write_text("u\n")
    assert not repo.worktree().dirty
    (git_repo.path / "a.txt").write_text("changed\n")
    git_repo.git("mv", "b.txt", "b2.txt")
    git_repo.git("rm", "-q", "c.txt")
    git_counter.reset()
    repo = GitRepo(git_repo.path)
    assert sorted(repo.worktree().changed) == ["a.txt", "b2.txt", "c.txt"] and repo.worktree().dirty
    assert commands(git_counter) == ["status"]


# --- the remote ------------------------------------------------------------------------------------


def test_remote_tags_without_origin_costs_no_network(git_repo: Fixture, git_counter: GitCounter):
    git_repo.commit()
    git_counter.reset()
    assert GitRepo(git_repo.path).remote_tags() == []
    assert "ls-remote" not in commands(git_counter)


def test_an_unreadable_remote_is_a_git_error(git_repo: Fixture):
    git_repo.commit()
    git_repo.git("remote", "add", "origin", "http://127.0.0.1:9/o/r.git")
    with pytest.raises(GitError) as e:
        GitRepo(git_repo.path).remote_tags()
    assert "ls-remote" in e.value.message and "origin" in e.value.hint
    with pytest.raises(GitError):
        GitRepo(git_repo.path).remote_tags("--upload-pack=touch x")  # never taken as an option


def test_tags_read_again_after_deepening(git_repo: Fixture, tmp_path: Path):
    for i in range(3):
        git_repo.commit(f"feat: {i}")
        git_repo.tag(f"v1.{i}.0")
    shallow = clone(git_repo, tmp_path / "shallow", "--depth", "1", "--no-tags")
    repo = GitRepo(shallow.path)
    assert repo.tag_names() == []
    assert git_history.ensure_history(repo, None, deepen=True).deepened
    assert repo.tag_names() == ["v1.0.0", "v1.1.0", "v1.2.0"]
    assert git_history.release_history(repo, "v1.2.0").previous == "v1.1.0"


def test_tag_ref_is_a_plain_pair():
    assert TagRef("v1", "abc") == ("v1", "abc")


def test_history_reads_reuse_the_tag_list(git_repo: Fixture, git_counter: GitCounter):
    """A run's GitRepo lists its tags once: the plan's tag list serves the changelog too."""
    git_repo.commit("feat: a")
    git_repo.tag("v1.0.0")
    git_repo.commit("fix: b")
    git_repo.tag("v1.0.1", annotated=True)
    git_counter.reset()
    repo = GitRepo(git_repo.path)
    repo.facts()
    repo.tag_names()
    rng = git_history.release_history(repo, "v1.0.1")
    assert rng.previous == "v1.0.0" and [c.subject for c in rng.commits] == ["fix: b"]
    assert git_history.previous_release(repo, "v1.0.1") == "v1.0.0"
    assert commands(git_counter) == ["for-each-ref", "config", "log", "for-each-ref"]  # last: the --merged walk
    git_counter.reset()
    assert git_history.release_history(git_repo.path, "v1.0.1").previous == "v1.0.0"  # a path: 2 processes
    assert commands(git_counter) == ["for-each-ref", "log"]


# --- credentials in remote URLs (issue 14) ------------------------------------------------------

SLASH_TOKEN = "ghs_SECRET/part2SECRET"


@pytest.mark.parametrize("message", [
    "fatal: unable to access 'https://x-access-token:{t}@github.com/o/r.git/': The requested URL returned error: 403",
    "fatal: repository 'https://oauth2:{t}@gitlab.example.com:8443/g/p.git/' not found",
    "remote: https://{t}@github.com/o/r and https://u:{t}@h/x",
])
def test_redact_tokens_holding_slashes(message):
    for token in (SLASH_TOKEN, "SECRETa/b:c/dSECRET", "SECRET%2Fen", "SECRET/" * 20):
        out = git_cmd.redact(message.format(t=token))
        assert "SECRET" not in out and "***@" in out


def test_slash_token_never_reaches_git_errors(git_repo: Fixture, tmp_path: Path):
    git_repo.commit()
    git_repo.tag("v1.0.0")
    shallow = clone(git_repo, tmp_path / "shallow", "--depth", "1")
    shallow.git("remote", "set-url", "origin", f"http://x-access-token:{SLASH_TOKEN}@127.0.0.1:9/o/r.git")
    st = git_history.ensure_history(shallow.path, None, deepen=True)
    assert not st.complete and "SECRET" not in f"{st.reason} {st.note}"
    with pytest.raises(GitError) as e:
        GitRepo(shallow.path).remote_tags()
    assert "SECRET" not in str(e.value)


def test_cli_with_a_slash_token_in_origin(git_repo: Fixture):
    """`invoke version` in a checkout whose origin URL holds a token with "/": no crash, no token."""
    import sys

    git_repo.commit("feat: a", {"tasks.py": "from image_release.tasks import ns  # noqa: F401\n",
                                "Dockerfile": "FROM scratch\n",
                                "invoke.yaml": "release:\n  images: [127.0.0.1:9/o/app]\n  forge: {type: none}\n"
                                               "  known_versions: {registry: false}\n"})
    git_repo.git("remote", "add", "origin", f"https://x-access-token:{SLASH_TOKEN}@github.com/o/r.git")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_", "CI", "INVOKE_"))}
    for args in (["version", "--tag", "v1.0.0"], ["version", "--tag", "v1.0.0", "--json"]):
        out = subprocess.run([sys.executable, "-m", "invoke", *args], cwd=git_repo.path, env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        assert "SECRET" not in out.stdout + out.stderr
        assert "https://github.com/o/r" in out.stdout  # the labels still name the repository


# --- untracked files in the build context (issue 14) --------------------------------------------


def test_untracked_files_in_the_context_honour_gitignore(git_repo: Fixture, git_counter: GitCounter):
    git_repo.commit("feat: app", {"app/main.py": "x\n", "app/.gitignore": "*.log\nbuild/\n", "other/o.txt": "o\n"})
    for name in ("app/new.py", "app/deep/er/x.txt", "app/debug.log", "app/build/out.bin", "other/stray.txt",
                 "top.txt", "app/ünï cödé.txt"):
        p = git_repo.path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("u\n")
    git_counter.reset()
    repo = GitRepo(git_repo.path)
    tree = repo.worktree(untracked_in="app")
    assert tree.untracked == ("app/deep/er/x.txt", "app/new.py", "app/ünï cödé.txt") and not tree.dirty
    assert repo.worktree(untracked_in=".").untracked == (
        "app/deep/er/x.txt", "app/new.py", "app/ünï cödé.txt", "other/stray.txt", "top.txt")
    assert repo.worktree(untracked_in=git_repo.path / "other").untracked == ("other/stray.txt",)
    assert repo.worktree().untracked == () and not repo.worktree().dirty  # the tracked part, read already
    assert commands(git_counter) == ["status", "rev-parse"]


def test_untracked_files_from_a_project_below_the_top(git_repo: Fixture):
    """The project (GitRepo root) is a directory of a monorepo; the context is relative to it."""
    git_repo.commit("feat: api", {"services/api/Dockerfile": "FROM scratch\n", "services/web/w": "w\n"})
    (git_repo.path / "services/api/src").mkdir()
    (git_repo.path / "services/api/src/leak.env").write_text("x\n")
    (git_repo.path / "services/web/stray").write_text("x\n")
    (git_repo.path / "services/api/Dockerfile").write_text("FROM scratch\nCOPY . /\n")
    repo = GitRepo(git_repo.path / "services/api")
    tree = repo.worktree(untracked_in=".")
    assert tree.untracked == ("src/leak.env",)
    assert tree.changed == ("services/api/Dockerfile",) and tree.dirty
    assert repo.worktree(untracked_in="../web").untracked == ("../web/stray",)
    assert repo.worktree(untracked_in="../../..").untracked == ()  # outside the repository
    assert repo.layout().prefix == "services/api/" and not repo.layout().shallow


def test_untracked_outside_a_repository(tmp_path: Path):
    (tmp_path / "f").write_text("x")
    assert GitRepo(tmp_path).worktree(untracked_in=".").untracked == ()


# --- a repository without commits (issue 14) ----------------------------------------------------


def test_repository_without_commits_gives_one_clear_error(git_repo: Fixture):
    (git_repo.path / "Dockerfile").write_text("FROM scratch\n")
    repo = GitRepo(git_repo.path)
    reads = [
        lambda: git_history.release_history(repo, "v1.0.0"),
        lambda: git_history.release_history(repo, "v1.0.0", ref="HEAD"),
        lambda: git_history.commits_between(git_repo.path, None, "HEAD"),
        lambda: git_history.release_history(git_repo.path, "api/v1.0.0", prefix="api/", paths=["api"]),
    ]
    for read in reads:
        with pytest.raises(GitError) as e:
            read()
        assert "has no commits yet" in e.value.message and "git commit" in e.value.hint
    assert repo.worktree(untracked_in=".").untracked == ("Dockerfile",)
    assert git_history.ensure_history(repo, None, deepen=True).complete  # nothing to deepen
