"""Release history from git: version tags, the previous release, the commits in between.

Reads only, through ``image_release.adapters.git_cmd`` (the one git runner), except
:func:`ensure_history`, which may deepen a shallow clone from its remote when allowed. Which tag is
the previous release is decided in ``image_release.core.history`` (see its module doc); this
module lists the tags and answers the ancestry questions it asks.

Every function takes a :class:`~image_release.adapters.git_repo.GitRepo` or a path; given a
``GitRepo``, the tag list it already read is reused (no process for it).

Git processes per call: ``version_tags`` 1, ``commits_between`` 1 (one ``git log``),
``previous_release`` 2 (the tag list, then an ancestry walk that stops at the few highest
candidates instead of walking the whole history), and :func:`release_history`, which does both of
the latter in 2 (the tag list, then one ``git log --boundary`` whose boundary proves the
candidate is an ancestor). Each may add one more in the rare case where the highest candidate is
not an ancestor. ``ensure_history`` runs 1 to 3.

Merge commits are returned like any other commit (with their parents); the changelog core decides
what to list (see ``image_release.core.changelog``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from image_release.adapters import git_cmd
from image_release.adapters.git_repo import GitRepo, as_repo
from image_release.core.changelog import Commit
from image_release.core.history import (
    VersionTag,
    ancestry_batches,
    candidates,
    first_ancestor,
)
from image_release.core.history import tag_version
from image_release.core.history import version_tags as _version_tags
from image_release.errors import GitError

SHALLOW_NOTE = "changelog may be incomplete: shallow clone"
FULL_HISTORY_HINT = (
    "fetch the full history: actions/checkout with `fetch-depth: 0`, GitLab CI with `GIT_DEPTH: 0`, "
    "or `git fetch --unshallow --tags`; or allow deepening"
)

_US = "\x1f"  # unit separator between fields
_LOG_FORMAT = "%m%x1f%H%x1f%P%x1f%an%x1f%aI%x1f%B"  # %m: "-" marks a --boundary commit

NETWORK_TIMEOUT = 600  # seconds, for fetching the history

Repo = GitRepo | str | os.PathLike


@dataclass(frozen=True)
class HistoryStatus:
    """Whether the history needed for the changelog is in the clone.

    ``note`` is the line the release notes print when it is not ("changelog may be incomplete:
    shallow clone ..."); None when the history is complete.
    """

    shallow: bool  # the clone is (still) shallow
    complete: bool  # the commits between the previous release and this one are all present
    deepened: bool = False  # this call fetched the missing history
    note: str | None = None
    reason: str | None = None  # why deepening failed or was not tried, for logs
    hint: str | None = None  # how to get the full history, for logs (FULL_HISTORY_HINT)

    @property
    def ok(self) -> bool:
        return self.complete


# --- running git -------------------------------------------------------------------------------


def _root(repo: Repo) -> Path:
    return repo.root if isinstance(repo, GitRepo) else Path(repo)


def _git(repo: Repo, *args: str, timeout: float = git_cmd.LOCAL_TIMEOUT, what: str = "") -> str:
    return git_cmd.run(_root(repo), *args, timeout=timeout, what=what)


def _unknown_ref(path: Path, ref: str, err: GitError | None) -> GitError:
    return GitError(
        f"unknown tag or revision {ref!r} in {path}",
        hint="check the name (`git tag --list`), or fetch tags first: `git fetch --tags`",
    )


def _rev_ok(ref: str, what: str) -> str:
    if not ref or ref.startswith("-") or any(c in ref for c in "\0\n"):
        raise GitError(f"{what} {ref!r} is not a valid git revision", hint="pass a tag name or a commit sha")
    return ref


# --- tags ----------------------------------------------------------------------------------------


def version_tags(repo_dir: Repo, *, prefix: str = "") -> list[VersionTag]:
    """Every tag that is a SemVer version, as (tag name, version, commit sha), lowest version first
    (ties by name). Annotated tags give the commit they point at. With ``prefix`` (a monorepo
    target's ``api/``), only the tags with it count. One git process (none when the ``GitRepo``
    given has listed its tags already)."""
    return _version_tags(as_repo(repo_dir).tags(), prefix)


def _merged(repo: GitRepo, start: str, names: list[str]) -> set[str]:
    """Which of the tags ``names`` are ancestors of ``start`` (one ``for-each-ref --merged``).

    Git stops walking once every tag asked about is found, so asking about the few highest
    candidates costs a walk of the last few releases, not of the whole history."""
    patterns = [f"refs/tags/{n}" for n in names] if len(names) <= 1000 else ["refs/tags"]
    out = _git(repo, "for-each-ref", "--format=%(refname:strip=2)", f"--merged={start}", *patterns,
               what="checking tag ancestry")
    wanted = set(names)
    return {ln for ln in out.splitlines() if ln in wanted}


def _start(tag: str, ref: str | None, tags: list[VersionTag], repo: GitRepo) -> str:
    if ref:
        return _rev_ok(ref, "revision")
    _rev_ok(tag, "tag")
    if not any(t.name == tag for t in tags):
        if repo.is_repository and not repo.facts().sha:
            raise git_cmd.no_commits(repo.root)
        raise _unknown_ref(repo.root, tag, None)
    return f"refs/tags/{tag}"


def _first_ancestor(repo: GitRepo, start: str, pool: list[VersionTag]) -> str | None:
    """The best candidate that is an ancestor of ``start``, asking git batch by batch."""
    for batch in ancestry_batches(pool):
        try:
            found = _merged(repo, start, [t.name for t in batch])
        except GitError as exc:
            if "malformed object name" in exc.message or "not a valid" in exc.message:
                raise _unknown_ref(repo.root, start, exc) from None
            raise
        name = first_ancestor(batch, found)
        if name is not None:
            return name
    return None


def previous_release(repo_dir: Repo, tag: str, *, ref: str | None = None, prefix: str = "") -> str | None:
    """The previous release of ``tag``: the highest SemVer tag below it that is an ancestor of it
    (finals skip prereleases; see ``image_release.core.history``). None for a first release.

    Two git processes: the tag list (no history walk), then one ``for-each-ref --merged`` over
    the few highest candidates, which walks only back to them (a third, over the other
    candidates, when none of those is an ancestor, as for a release on a branch that never
    merged the newest tags). ``ref`` is the commit to look from when the tag does not exist
    locally yet (default: the tag). With ``prefix`` (monorepos: ``api/`` for ``api/v1.2.0``),
    only the tags with that prefix are releases.
    """
    version = tag_version(tag, prefix)
    repo = as_repo(repo_dir)
    tags = version_tags(repo, prefix=prefix)
    start = _start(tag, ref, tags, repo)
    return _first_ancestor(repo, start, candidates(version, tags))


# --- commits -------------------------------------------------------------------------------------


def _parse_log(out: str) -> tuple[list[Commit], set[str]]:
    """Commits in output order, and the shas of ``--boundary`` commits (not part of the range)."""
    commits: list[Commit] = []
    boundary: set[str] = set()
    fromiso = datetime.fromisoformat
    for record in out.split("\0"):
        if not record:
            continue
        parts = record.lstrip("\n").split(_US, 5)
        if len(parts) != 6:
            continue
        mark, sha, parents, author, date, message = parts
        if mark == "-":
            boundary.add(sha)
            continue
        subject, _, body = message.partition("\n")
        try:
            when = fromiso(date) if date else None
        except ValueError:
            when = None
        commits.append(Commit(sha, subject.strip(), body.strip("\n"), tuple(parents.split()), author, when))
    return commits, boundary


def _log(repo_dir: Repo, since: str | None, until: str, *, boundary: bool = False, paths: tuple[str, ...] = ()):
    rng = f"{since}..{until}" if since else until
    args = ["log", "-z", f"--format={_LOG_FORMAT}"] + (["--boundary"] if boundary else [])
    if paths:  # every commit that touches them on any branch, and the merges that brought them in
        args.append("--full-history")
    try:
        out = _git(repo_dir, *args, "--end-of-options", rng, "--", *paths, what="git log")
    except GitError as exc:
        if "bad revision" in exc.message or "unknown revision" in exc.message or "ambiguous argument" in exc.message:
            repo = as_repo(repo_dir)
            if repo.is_repository and not repo.facts().sha:
                raise git_cmd.no_commits(repo.root) from None
            bad = since if since and since in exc.message else until
            raise _unknown_ref(_root(repo_dir), bad, exc) from None
        raise
    return _parse_log(out)


def commits_between(repo_dir: Repo, since: str | None, until: str, *, paths=()) -> list[Commit]:
    """Commits reachable from ``until`` and not from ``since`` (all of ``until``'s history when
    ``since`` is None), newest first as ``git log`` orders them, merges included. One git process.

    With ``paths`` (relative to the repository directory given; git pathspecs), only the commits
    that touch them (``git log --full-history -- paths``: on any branch, and the merges that
    brought such changes in, e.g. a pull request merge; not the merges that brought in only other
    paths)."""
    _rev_ok(until, "revision")
    if since:
        _rev_ok(since, "revision")
    return _log(repo_dir, since, until, paths=_paths_ok(paths))[0]


def _paths_ok(paths) -> tuple[str, ...]:
    if isinstance(paths, (str, os.PathLike)):
        paths = (paths,)
    out = tuple(os.fspath(p) for p in paths)
    for p in out:
        if not p or any(c in p for c in "\0\n"):
            raise GitError(f"path {p!r} cannot limit the changelog", hint="give paths relative to the project")
    return out


@dataclass(frozen=True)
class ReleaseRange:
    """What the changelog of ``tag`` covers: ``previous`` (None for a first release) and the
    commits in between, newest first."""

    tag: str
    previous: str | None
    commits: tuple[Commit, ...]


def release_history(repo_dir: Repo, tag: str, *, ref: str | None = None, prefix: str = "",
                    paths=()) -> ReleaseRange:
    """``previous_release`` and ``commits_between`` together, in two git processes: the tag list,
    then one ``git log --boundary`` from the best candidate, whose boundary proves that candidate
    is an ancestor (an ancestor of the release is always a boundary commit of ``cand..release``).
    When it is not (a release on a branch that never merged the newest tags), the ancestry walk and
    a second log follow. Same answers as the two functions; ``ref`` and ``prefix`` as in
    ``previous_release``, ``paths`` as in ``commits_between`` (with paths the boundary proves
    nothing, so it is the ancestry walk and one log: three processes)."""
    version = tag_version(tag, prefix)
    paths = _paths_ok(paths)
    repo = as_repo(repo_dir)
    tags = version_tags(repo, prefix=prefix)
    start = _start(tag, ref, tags, repo)
    pool = candidates(version, tags)
    if not pool:
        return ReleaseRange(tag, None, tuple(_log(repo, None, start, paths=paths)[0]))
    top, _v, top_sha = pool[0]
    if not paths:
        commits, boundary = _log(repo, f"refs/tags/{top}", start, boundary=True)
        if top_sha in boundary:
            return ReleaseRange(tag, top, tuple(commits))
    previous = _first_ancestor(repo, start, pool)
    if previous == top and not paths:  # the empty range: the candidate is the release commit itself
        return ReleaseRange(tag, top, tuple(commits))
    since = f"refs/tags/{previous}" if previous else None
    return ReleaseRange(tag, previous, tuple(_log(repo, since, start, paths=paths)[0]))


# --- shallow clones ------------------------------------------------------------------------------


def _shallow_state(repo_dir: Repo) -> tuple[bool, Path]:
    layout = as_repo(repo_dir).layout()
    return layout.shallow, layout.shallow_file


def is_shallow(repo_dir: Repo) -> bool:
    """True for a shallow clone (``git clone --depth``, CI checkouts)."""
    return _shallow_state(repo_dir)[0]


def _range_present(repo_dir: Repo, since: str, until: str, shallow_file: Path) -> bool:
    """In a shallow clone: is since..until free of the shallow boundary (so git log sees all of it)?"""
    try:
        boundary = set(shallow_file.read_text().split())
    except OSError:
        return False
    try:
        out = _git(repo_dir, "rev-list", "--end-of-options", f"{since}..{until}", "--", what="git rev-list")
    except GitError:
        return False  # the previous release is not even in the clone
    return not any(sha in boundary for sha in out.split())


def ensure_history(
    repo_dir: Repo,
    since_tag: str | None,
    *,
    deepen: bool,
    until: str = "HEAD",
    remote: str = "origin",
) -> HistoryStatus:
    """Make sure the commits since ``since_tag`` (None: the whole history, or not known yet) are in
    the clone. A full clone is complete as it is. A shallow clone is complete when ``since_tag..until``
    does not reach its boundary; otherwise, with ``deepen``, the full history and tags are fetched
    from ``remote`` (``git fetch --unshallow --tags``); when that is not allowed or fails, the status
    says so (``note`` for the release notes), it never pretends the clone is the whole history."""
    shallow, shallow_file = _shallow_state(repo_dir)
    if not shallow:
        return HistoryStatus(shallow=False, complete=True)
    if since_tag and _range_present(repo_dir, _rev_ok(since_tag, "tag"), _rev_ok(until, "revision"), shallow_file):
        return HistoryStatus(shallow=True, complete=True)
    if not deepen:
        return HistoryStatus(
            shallow=True, complete=False,
            note=f"{SHALLOW_NOTE} (history was not deepened)", reason="deepening not allowed",
            hint=FULL_HISTORY_HINT,
        )
    _rev_ok(remote, "remote")
    try:
        _git(
            repo_dir, "fetch", "--quiet", "--unshallow", "--tags", "--no-recurse-submodules", remote,
            timeout=NETWORK_TIMEOUT, what=f"git fetch --unshallow from {remote}",
        )
    except GitError as exc:
        return HistoryStatus(
            shallow=True, complete=False,
            note=f"{SHALLOW_NOTE} (fetching the full history from {remote} failed)", reason=exc.message,
            hint=FULL_HISTORY_HINT,
        )
    if isinstance(repo_dir, GitRepo):
        repo_dir.forget()  # the fetch brought tags: read them again
    return HistoryStatus(shallow=is_shallow(repo_dir), complete=True, deepened=True)
