"""Release history from git: version tags, the previous release, the commits in between.

Thin subprocess wrapper around ``git`` (no library). Everything here only reads the repository,
except :func:`ensure_history`, which may deepen a shallow clone from its remote when allowed.

Git processes per call: ``version_tags`` 1, ``commits_between`` 1 (one ``git log``),
``previous_release`` 2 (the tag list, then an ancestry walk that stops at the few highest
candidates instead of walking the whole history), and :func:`release_history`, which does both of
the latter in 2 (the tag list, then one ``git log --boundary`` whose boundary proves the
candidate is an ancestor). Each may add one more in the rare case where the highest candidate is
not an ancestor. ``ensure_history`` runs 1 to 3.

Which release is "previous" (decision, as GoReleaser and semantic-release do it):

- only tags that are ancestors of the release count (``--merged``), so a backport ``v1.1.5`` made
  on a maintenance branch gets ``v1.1.4``, never ``v1.2.0`` from main;
- a final release's previous is the highest *final* version below it: ``v1.0.0`` after
  ``v0.9.0``, ``v1.0.0-rc.1`` and ``v1.0.0-rc.2`` lists everything since ``v0.9.0``, so the notes
  of a stable release cover the whole step from the last stable one;
- a prerelease's previous is the highest version of any kind below it (``v1.0.0-rc.2`` lists
  since ``v1.0.0-rc.1``);
- the same version under another name (``1.2.3`` next to ``v1.2.3``, or another ``+build``) is not
  "below" and never counts.

Merge commits are returned like any other commit (with their parents); the changelog core decides
what to list (see ``image_release.core.changelog``).
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from image_release.core.changelog import Commit
from image_release.core.versions import Version, is_prerelease, parse_tag_lenient, parse_version
from image_release.errors import GitError

SHALLOW_NOTE = "changelog may be incomplete: shallow clone"
FULL_HISTORY_HINT = (
    "fetch the full history: actions/checkout with `fetch-depth: 0`, GitLab CI with `GIT_DEPTH: 0`, "
    "or `git fetch --unshallow --tags`; or allow deepening"
)

_US = "\x1f"  # unit separator between fields
_LOG_FORMAT = "%m%x1f%H%x1f%P%x1f%an%x1f%aI%x1f%B"  # %m: "-" marks a --boundary commit
_REF_FORMAT = "%(refname:strip=2)%1f%(objecttype)%1f%(objectname)%1f%(*objecttype)%1f%(*objectname)"

NETWORK_TIMEOUT = 600  # seconds, for fetch and ls-remote


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


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"  # never wait for a password on a fetch
    env["GIT_OPTIONAL_LOCKS"] = "0"  # reads must not take the index lock
    env["LC_ALL"] = "C"  # stable error messages
    return env


def _git(repo_dir: str | os.PathLike, *args: str, timeout: float | None = None, what: str = "") -> str:
    """Run ``git args`` in ``repo_dir``; stdout as text, or GitError with git's message and a hint.

    Local reads (no ``timeout``) read stdout in one go with stderr spooled to a temporary file:
    for a 3 MB ``git log`` that is much cheaper than ``communicate()``'s select loop. Network
    commands (``timeout`` given) go through ``subprocess.run`` so they can be stopped.
    """
    path = Path(repo_dir)
    if not path.is_dir():
        raise GitError(f"{path} does not exist or is not a directory", hint="pass the path of a git checkout")
    argv = ["git", "-c", "log.showSignature=false", "-c", "core.quotePath=false", *args]
    try:
        if timeout is None:
            with tempfile.TemporaryFile() as errf:
                with subprocess.Popen(
                    argv, cwd=path, env=_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errf
                ) as proc:
                    raw = proc.stdout.read()
                    code = proc.wait()
                errf.seek(0)
                err_raw = errf.read()
        else:
            done = subprocess.run(
                argv, cwd=path, env=_env(), stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout
            )
            raw, err_raw, code = done.stdout, done.stderr, done.returncode
    except FileNotFoundError:
        raise GitError("git is not installed (no `git` on PATH)", hint="install git") from None
    except subprocess.TimeoutExpired:
        raise GitError(
            f"git {args[0]} did not finish within {timeout:.0f} s in {path}",
            hint="check the network and the remote, or fetch the history before the release",
        ) from None
    if code != 0:
        raise _classify(path, err_raw.decode("utf-8", "replace").strip(), what or f"git {args[0]}")
    return raw.decode("utf-8", "replace")


_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s'\"]+@")


def redact(text: str) -> str:
    """Credentials in URLs (``https://user:token@host``) replaced by ``***``: git repeats remote
    URLs in its messages, and CI remotes often carry a token."""
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}***@", text)


def _classify(path: Path, stderr: str, what: str) -> GitError:
    stderr = redact(stderr)
    last = stderr.splitlines()[-1] if stderr else "no message"
    first = next((ln for ln in stderr.splitlines() if ln.startswith("fatal:")), last)
    low = stderr.lower()
    if "not a git repository" in low:
        return GitError(f"{path} is not a git repository", hint="run in a git checkout or pass its path")
    if "dubious ownership" in low:
        return GitError(
            f"git refuses {path}: owned by another user (safe.directory)",
            hint=f"git config --global --add safe.directory {path}",
        )
    return GitError(f"{what} failed in {path}: {first.removeprefix('fatal: ')}")


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


def _parse_refs(out: str) -> list[tuple[str, Version, str]]:
    tags: list[tuple[str, Version, str]] = []
    for line in out.splitlines():
        if not line:
            continue
        parts = line.split(_US)
        if len(parts) != 5:
            continue
        name, otype, oid, ptype, poid = parts
        if otype == "commit":
            sha = oid
        elif otype == "tag" and ptype == "commit":
            sha = poid
        else:
            continue  # a tag of a tree or blob is no release
        version = parse_tag_lenient(name)
        if version is not None:
            tags.append((name, version, sha))
    tags.sort(key=lambda t: (t[1], t[0]))
    return tags


def version_tags(repo_dir: str | os.PathLike) -> list[tuple[str, Version, str]]:
    """Every tag that is a SemVer version, as (tag name, version, commit sha), lowest version first
    (ties by name). Annotated tags give the commit they point at. One git process."""
    out = _git(repo_dir, "for-each-ref", f"--format={_REF_FORMAT}", "refs/tags", what="listing tags")
    return _parse_refs(out)


def candidates(tag_version: Version, tags: list[tuple[str, Version, str]]) -> list[tuple[str, Version, str]]:
    """The tags that could be the previous release of ``tag_version``, best first: versions below
    it (finals only, when it is a final; see the module doc), highest first, ties by name."""
    final = not is_prerelease(tag_version)
    pool = [t for t in tags if t[1] < tag_version and not (final and is_prerelease(t[1]))]
    pool.sort(key=lambda t: (t[1], t[0]), reverse=True)
    return pool


def pick_previous(tag_version: Version, ancestors: list[tuple[str, Version, str]]) -> str | None:
    """The previous release among ``ancestors`` (tags known to be ancestors): see the module doc."""
    pool = candidates(tag_version, ancestors)
    return pool[0][0] if pool else None


FIRST_BATCH = 8  # candidates checked in the first, cheap ancestry walk


def _merged(repo_dir: str | os.PathLike, start: str, names: list[str]) -> set[str]:
    """Which of the tags ``names`` are ancestors of ``start`` (one ``for-each-ref --merged``).

    Git stops walking once every tag asked about is found, so asking about the few highest
    candidates costs a walk of the last few releases, not of the whole history."""
    patterns = [f"refs/tags/{n}" for n in names] if len(names) <= 1000 else ["refs/tags"]
    out = _git(repo_dir, "for-each-ref", "--format=%(refname:strip=2)", f"--merged={start}", *patterns,
               what="checking tag ancestry")
    wanted = set(names)
    return {ln for ln in out.splitlines() if ln in wanted}


def _start(tag: str, ref: str | None, tags: list[tuple[str, Version, str]], repo_dir) -> str:
    if ref:
        return _rev_ok(ref, "revision")
    _rev_ok(tag, "tag")
    if not any(name == tag for name, _v, _s in tags):
        raise _unknown_ref(Path(repo_dir), tag, None)
    return f"refs/tags/{tag}"


def _first_ancestor(repo_dir, start: str, pool: list[tuple[str, Version, str]]) -> str | None:
    """The best candidate that is an ancestor of ``start``: the top few first, then the rest."""
    for batch in (pool[:FIRST_BATCH], pool[FIRST_BATCH:]):
        if not batch:
            continue
        try:
            found = _merged(repo_dir, start, [name for name, _v, _s in batch])
        except GitError as exc:
            if "malformed object name" in exc.message or "not a valid" in exc.message:
                raise _unknown_ref(Path(repo_dir), start, exc) from None
            raise
        for name, _v, _s in batch:
            if name in found:
                return name
    return None


def previous_release(repo_dir: str | os.PathLike, tag: str, *, ref: str | None = None) -> str | None:
    """The previous release of ``tag``: the highest SemVer tag below it that is an ancestor of it
    (finals skip prereleases; see the module doc). None for a first release.

    Two git processes: the tag list (no history walk), then one ``for-each-ref --merged`` over
    the few highest candidates, which walks only back to them (a third, over the other
    candidates, when none of those is an ancestor, as for a release on a branch that never
    merged the newest tags). ``ref`` is the commit to look from when the tag does not exist
    locally yet (default: the tag).
    """
    version = parse_version(tag)
    tags = version_tags(repo_dir)
    start = _start(tag, ref, tags, repo_dir)
    return _first_ancestor(repo_dir, start, candidates(version, tags))


def remote_tags(repo_dir: str | os.PathLike, remote: str = "origin") -> list[str]:
    """Tag names on ``remote`` (``git ls-remote --tags --refs``), sorted; for shallow CI clones that
    fetched no tags. Reads the network, writes nothing."""
    _rev_ok(remote, "remote")
    try:
        out = _git(repo_dir, "ls-remote", "--tags", "--refs", remote, timeout=NETWORK_TIMEOUT, what="git ls-remote")
    except GitError as exc:
        if exc.hint is None:
            exc.hint = f"check that the remote {remote!r} exists (`git remote -v`) and can be read"
        raise
    names = []
    for line in out.splitlines():
        _sha, _, ref = line.partition("\t")
        if ref.startswith("refs/tags/"):
            names.append(ref[len("refs/tags/"):])
    return sorted(names)


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


def _log(repo_dir: str | os.PathLike, since: str | None, until: str, *, boundary: bool = False):
    rng = f"{since}..{until}" if since else until
    args = ["log", "-z", f"--format={_LOG_FORMAT}"] + (["--boundary"] if boundary else [])
    try:
        out = _git(repo_dir, *args, "--end-of-options", rng, "--", what="git log")
    except GitError as exc:
        if "bad revision" in exc.message or "unknown revision" in exc.message or "ambiguous argument" in exc.message:
            bad = since if since and since in exc.message else until
            raise _unknown_ref(Path(repo_dir), bad, exc) from None
        raise
    return _parse_log(out)


def commits_between(repo_dir: str | os.PathLike, since: str | None, until: str) -> list[Commit]:
    """Commits reachable from ``until`` and not from ``since`` (all of ``until``'s history when
    ``since`` is None), newest first as ``git log`` orders them, merges included. One git process."""
    _rev_ok(until, "revision")
    if since:
        _rev_ok(since, "revision")
    return _log(repo_dir, since, until)[0]


@dataclass(frozen=True)
class ReleaseRange:
    """What the changelog of ``tag`` covers: ``previous`` (None for a first release) and the
    commits in between, newest first."""

    tag: str
    previous: str | None
    commits: tuple[Commit, ...]


def release_history(repo_dir: str | os.PathLike, tag: str, *, ref: str | None = None) -> ReleaseRange:
    """``previous_release`` and ``commits_between`` together, in two git processes: the tag list,
    then one ``git log --boundary`` from the best candidate, whose boundary proves that candidate
    is an ancestor (an ancestor of the release is always a boundary commit of ``cand..release``).
    When it is not (a release on a branch that never merged the newest tags), the ancestry walk and
    a second log follow. Same answers as the two functions; ``ref`` as in ``previous_release``."""
    version = parse_version(tag)
    tags = version_tags(repo_dir)
    start = _start(tag, ref, tags, repo_dir)
    pool = candidates(version, tags)
    if not pool:
        return ReleaseRange(tag, None, tuple(_log(repo_dir, None, start)[0]))
    top, _v, top_sha = pool[0]
    commits, boundary = _log(repo_dir, f"refs/tags/{top}", start, boundary=True)
    if top_sha in boundary:
        return ReleaseRange(tag, top, tuple(commits))
    previous = _first_ancestor(repo_dir, start, pool)
    if previous == top:  # the empty range: the candidate is the release commit itself
        return ReleaseRange(tag, top, tuple(commits))
    since = f"refs/tags/{previous}" if previous else None
    return ReleaseRange(tag, previous, tuple(_log(repo_dir, since, start)[0]))


# --- shallow clones ------------------------------------------------------------------------------


def _shallow_state(repo_dir: str | os.PathLike) -> tuple[bool, Path]:
    out = _git(repo_dir, "rev-parse", "--is-shallow-repository", "--git-path", "shallow", what="git rev-parse")
    lines = out.splitlines()
    shallow = bool(lines) and lines[0].strip() == "true"
    shallow_file = Path(lines[1].strip()) if len(lines) > 1 else Path(".git/shallow")
    if not shallow_file.is_absolute():
        shallow_file = Path(repo_dir) / shallow_file
    return shallow, shallow_file


def is_shallow(repo_dir: str | os.PathLike) -> bool:
    """True for a shallow clone (``git clone --depth``, CI checkouts)."""
    return _shallow_state(repo_dir)[0]


def _range_present(repo_dir: str | os.PathLike, since: str, until: str, shallow_file: Path) -> bool:
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
    repo_dir: str | os.PathLike,
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
    return HistoryStatus(shallow=is_shallow(repo_dir), complete=True, deepened=True)
