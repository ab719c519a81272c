"""Local git reads for the release context (subprocess ``git``; reads only)."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

from image_release.core.context import GitFacts
from image_release.errors import GitError


def _git(repo: str | Path, *args: str, check: bool = True) -> str:
    try:
        out = subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, timeout=60,
            env=None,
        )
    except FileNotFoundError:
        raise GitError("git is not installed", hint="install git (Debian: apt-get install git)") from None
    if check and out.returncode != 0:
        raise GitError(f"git {' '.join(args)} failed: {out.stderr.strip()}", hint="run inside a git checkout")
    return out.stdout.strip() if out.returncode == 0 else ""


def is_repository(repo: str | Path) -> bool:
    return _git(repo, "rev-parse", "--is-inside-work-tree", check=False) == "true"


def read_facts(repo: str | Path = ".") -> GitFacts:
    """What HEAD is: sha, tags pointing at it, branch, default branch, commit date. Empty outside git."""
    if not is_repository(repo):
        return GitFacts()
    # One process for sha, date and branch; one for the tags at HEAD.
    info = _git(repo, "log", "-1", "--format=%H%x1f%cI", check=False)
    if not info:
        return GitFacts()
    sha, date = info.split("\x1f")
    branch = _git(repo, "symbolic-ref", "--quiet", "--short", "HEAD", check=False) or None
    tags = tuple(t for t in _git(repo, "tag", "--points-at", "HEAD", check=False).splitlines() if t)
    default = _git(repo, "symbolic-ref", "--quiet", "--short", "refs/remotes/origin/HEAD", check=False)
    default_branch = default.split("/", 1)[1] if "/" in default else None
    if not default_branch:
        default_branch = _git(repo, "config", "--get", "init.defaultBranch", check=False) or None
    if not default_branch and branch in ("main", "master"):
        default_branch = branch
    remote = _git(repo, "config", "--get", "remote.origin.url", check=False) or None
    return GitFacts(
        sha=sha,
        exact_tags=tags,
        branch=branch,
        default_branch=default_branch,
        commit_date=datetime.fromisoformat(date) if date else None,
        remote_url=remote,
    )


def tag_names(repo: str | Path = ".") -> list[str]:
    """All local tag names (one git process)."""
    if not is_repository(repo):
        return []
    return [t for t in _git(repo, "tag", "--list", check=False).splitlines() if t]


def remote_tag_names(repo: str | Path = ".", remote: str = "origin") -> list[str]:
    """Tag names on the remote (`git ls-remote --tags`), for shallow CI clones. Empty when unreachable."""
    if not is_repository(repo) or not _git(repo, "remote", check=False):
        return []
    out = _git(repo, "ls-remote", "--tags", "--refs", remote, check=False)
    return [line.split("refs/tags/", 1)[1] for line in out.splitlines() if "refs/tags/" in line]


def is_dirty(repo: str | Path = ".") -> bool:
    return bool(_git(repo, "status", "--porcelain", "--untracked-files=no", check=False))


def tag_commit(repo: str | Path, tag: str) -> str | None:
    """The commit a local tag points at (annotated tags peeled), or None when there is no such tag."""
    if not is_repository(repo):
        return None
    return _git(repo, "rev-parse", "--verify", "--quiet", f"refs/tags/{tag}^{{commit}}", check=False) or None
