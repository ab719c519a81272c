"""Local git reads for a run: HEAD, tags, the working tree, the remote's tags (reads only).

:class:`GitRepo` reads a repository once per kind of fact and keeps the answer, so a run asks git
little however many steps need the same facts. Git processes (each at most once per ``GitRepo``;
run through ``image_release.adapters.git_cmd``):

- :meth:`GitRepo.facts`, :meth:`GitRepo.tags`, :meth:`GitRepo.tag_names`, :meth:`GitRepo.tag_commit`
  and :attr:`GitRepo.is_repository` share one ``git for-each-ref`` over the branches, the tags and
  ``origin/HEAD`` (whether this is a repository, the current branch with its sha and date, every
  tag with the commit it points at, the default branch); ``facts`` adds one ``git config`` (the
  origin URL, ``init.defaultBranch``) and, on a detached or unborn HEAD only, one ``git log -1``.
  So HEAD facts and the tag list cost 2 processes (3 on a detached HEAD); outside a repository 1.
- :meth:`GitRepo.worktree`: one ``git status`` (tracked changes, and the untracked files under a
  directory such as the build context);
- :meth:`GitRepo.layout`: one ``git rev-parse`` (where the root is in the repository, whether
  the clone is shallow), for the untracked files and the history's shallow-clone check;
- :meth:`GitRepo.remote_tags`: one ``git ls-remote`` (none when origin is not configured).

The module functions (:func:`read_facts`, :func:`tag_names`, ...) are the same reads on a fresh
``GitRepo`` each, for callers that need one fact once.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

from image_release.adapters import git_cmd
from image_release.core.context import GitFacts
from image_release.errors import GitError

_US = "\x1f"  # unit separator between fields (no ref name holds a control character)
_REF_FORMAT = "%1f".join((
    "%(HEAD)", "%(refname)", "%(objecttype)", "%(objectname)", "%(*objecttype)", "%(*objectname)",
    "%(symref)", "%(committerdate:iso-strict)",
))
ORIGIN_HEAD = "refs/remotes/origin/HEAD"
CONFIG_KEYS = ("remote.origin.url", "init.defaultBranch")  # read together, in one process
LS_REMOTE_TIMEOUT = 60.0  # seconds


class TagRef(NamedTuple):
    """A local tag: its name and the commit it points at (annotated tags peeled), or None for a
    tag of a tree or a blob."""

    name: str
    sha: str | None


@dataclass(frozen=True)
class WorkTree:
    """Uncommitted changes of the working tree, from ``git status``."""

    changed: tuple[str, ...] = ()  # tracked files with changes, staged or not (from the top of the repository)
    # Untracked files that .gitignore does not ignore, under the directory asked about (see
    # GitRepo.worktree), relative to the GitRepo's root: what a build context would add unseen.
    untracked: tuple[str, ...] = ()

    @property
    def dirty(self) -> bool:
        return bool(self.changed)


@dataclass(frozen=True)
class Layout:
    """Where the GitRepo's root sits in its repository, and whether the clone is shallow."""

    prefix: str  # the root's path from the top of the repository: "" at the top, "sub/dir/" below
    shallow: bool  # a shallow clone (`git clone --depth`, CI checkouts)
    shallow_file: Path  # the file that lists the shallow boundary's commits


@dataclass
class _Refs:
    head_branch: str | None = None
    head_sha: str = ""
    head_date: str = ""
    tags: tuple[TagRef, ...] = ()
    origin_head: str | None = None  # the branch origin/HEAD names


class GitRepo:
    """The git repository at ``root`` (a checkout or a directory inside one), read lazily: each
    read runs at most once and is kept (see the module doc for the processes)."""

    def __init__(self, root: str | os.PathLike = "."):
        self.root = Path(root)
        self._refs: _Refs | None = None
        self._refs_error: GitError | None = None  # why this is not a repository
        self._facts: GitFacts | None = None
        self._status: tuple[tuple[str, ...], list[str] | None] | None = None
        self._layout: Layout | None = None
        self._config: dict[str, str] | None = None

    def forget(self) -> None:
        """Drop what was read (after a fetch changed the tags or the history)."""
        self._refs = self._refs_error = self._facts = self._config = self._layout = self._status = None

    def __repr__(self) -> str:
        return f"GitRepo({str(self.root)!r})"

    # -- refs -------------------------------------------------------------------------------
    def _read_refs(self) -> _Refs | None:
        if self._refs is None and self._refs_error is None:
            code, out, err = git_cmd.spawn(self.root, "for-each-ref", f"--format={_REF_FORMAT}",
                                           "refs/heads", "refs/tags", ORIGIN_HEAD)
            if code == 0:
                self._refs = _parse_refs(out)
            elif git_cmd.NOT_A_REPOSITORY in err.lower():
                self._refs_error = git_cmd.error(self.root, err, "listing refs")
            else:
                raise git_cmd.error(self.root, err, "listing refs")
        return self._refs

    @property
    def is_repository(self) -> bool:
        """True inside a git work tree (or a directory of one). Learned from the first read."""
        if not self.root.is_dir():
            return False
        return self._read_refs() is not None

    def tags(self) -> tuple[TagRef, ...]:
        """Every local tag, by name; GitError outside a repository."""
        refs = self._read_refs()
        if refs is None:
            raise self._refs_error  # type: ignore[misc]
        return refs.tags

    def tag_names(self) -> list[str]:
        """All local tag names; empty outside a repository."""
        return [t.name for t in self.tags()] if self.is_repository else []

    def tag_commit(self, tag: str) -> str | None:
        """The commit a local tag points at (annotated tags peeled), or None when there is no such
        tag (or it names a tree or a blob, or this is no repository)."""
        if not self.is_repository:
            return None
        return next((t.sha for t in self.tags() if t.name == tag), None)

    # -- HEAD -------------------------------------------------------------------------------
    def facts(self) -> GitFacts:
        """What HEAD is: sha, tags pointing at it, branch, default branch, commit date, origin URL.
        Empty outside git and in a repository without commits."""
        if self._facts is None:
            self._facts = self._read_facts()
        return self._facts

    def _read_facts(self) -> GitFacts:
        refs = self._read_refs() if self.root.is_dir() else None
        if refs is None:
            return GitFacts()
        sha, date = refs.head_sha, refs.head_date
        if not sha:  # a detached HEAD (or an unborn branch): ask for HEAD itself
            code, out, _err = git_cmd.spawn(self.root, "log", "-1", "--format=%H%x1f%cI", "--end-of-options", "HEAD")
            if code != 0 or _US not in out:
                return GitFacts()
            sha, date = out.strip().split(_US)
        config = self._read_config()
        branch = refs.head_branch
        default_branch = refs.origin_head or config.get("init.defaultbranch") or None
        if not default_branch and branch in ("main", "master"):
            default_branch = branch
        return GitFacts(
            sha=sha,
            exact_tags=tuple(t.name for t in refs.tags if t.sha == sha),
            branch=branch,
            default_branch=default_branch,
            commit_date=datetime.fromisoformat(date) if date else None,
            remote_url=config.get("remote.origin.url") or None,
        )

    def _read_config(self) -> dict[str, str]:
        """The values of :data:`CONFIG_KEYS` that are set (one ``git config`` process; the last
        value of a key given several times, as git itself uses it)."""
        if self._config is None:
            pattern = "^(" + "|".join(k.replace(".", r"\.") for k in CONFIG_KEYS) + ")$"
            out = git_cmd.run(self.root, "config", "-z", "--get-regexp", pattern, ok=(0, 1),
                              what="reading git config")
            values: dict[str, str] = {}
            for item in out.split("\0"):
                key, _, value = item.partition("\n")
                if key:
                    values[key.lower()] = value
            self._config = values
        return self._config

    # -- working tree -----------------------------------------------------------------------
    def worktree(self, untracked_in: str | os.PathLike | None = None) -> WorkTree:
        """Uncommitted changes to tracked files, and with ``untracked_in`` (a directory, relative to
        the root, such as the build context) the untracked files under it that .gitignore (and
        .git/info/exclude, core.excludesFile) does not ignore. One ``git status`` answers every
        later call (a second one only when untracked files are asked for after a call without);
        the untracked files also need :meth:`layout` (one ``git rev-parse``, shared with the
        shallow-clone check). Empty outside a repository."""
        want_untracked = untracked_in is not None
        if self._status is None or (want_untracked and self._status[1] is None):
            self._status = self._read_status(want_untracked)
        changed, untracked = self._status
        if not want_untracked or not untracked:
            return WorkTree(changed=changed)
        return WorkTree(changed=changed, untracked=self._under(os.fspath(untracked_in), untracked))

    def _read_status(self, untracked: bool) -> tuple[tuple[str, ...], list[str] | None]:
        """(tracked paths with changes, untracked paths or None when not asked for)."""
        if self._refs_error is not None or not self.root.is_dir():
            return (), []
        mode = "--untracked-files=all" if untracked else "--untracked-files=no"
        code, out, err = git_cmd.spawn(self.root, "status", "--porcelain=v2", "-z", mode)
        if code != 0:
            if git_cmd.NOT_A_REPOSITORY in err.lower():
                self._refs_error = git_cmd.error(self.root, err, "git status")
                return (), []
            raise git_cmd.error(self.root, err, "git status")
        entries = _status_entries(out)
        changed = tuple(p for kind, p in entries if kind in "12u")
        return changed, ([p for kind, p in entries if kind == "?"] if untracked else None)

    def _under(self, directory: str, paths: list[str]) -> tuple[str, ...]:
        """Those of ``paths`` (from the top of the repository) under ``directory`` (relative to the
        root, or absolute), relative to the root."""
        prefix = self.layout().prefix
        rel = Path(directory)
        if rel.is_absolute():
            rel = Path(os.path.relpath(rel.resolve(), self.root.resolve()))
        top = posixpath.normpath(posixpath.join(prefix or ".", rel.as_posix()))
        if top == ".." or top.startswith("../"):
            return ()  # outside the repository: git knows nothing of it
        inside = [p for p in paths if top == "." or p == top or p.startswith(top.rstrip("/") + "/")]
        return tuple(posixpath.relpath(p, prefix.rstrip("/") or ".") for p in inside)

    def layout(self) -> Layout:
        """The root's place in the repository and whether the clone is shallow (one
        ``git rev-parse``); GitError outside a repository."""
        if self._layout is None:
            out = git_cmd.run(self.root, "rev-parse", "--show-prefix", "--is-shallow-repository",
                              "--git-path", "shallow", what="git rev-parse")
            lines = out.rstrip("\n").split("\n")
            if len(lines) < 3:
                raise GitError(f"git rev-parse gave an unexpected answer in {self.root}: {out!r}",
                               hint="check the git installation (`git --version`)")
            prefix, shallow, shallow_path = "\n".join(lines[:-2]), lines[-2], lines[-1]
            shallow_file = Path(shallow_path)
            if not shallow_file.is_absolute():
                shallow_file = self.root / shallow_file
            self._layout = Layout(prefix=prefix, shallow=shallow.strip() == "true", shallow_file=shallow_file)
        return self._layout

    # -- remote -----------------------------------------------------------------------------
    def remote_tags(self, remote: str = "origin") -> list[str]:
        """Tag names on ``remote`` (``git ls-remote --tags --refs``), sorted; for shallow CI clones
        that fetched no tags. Empty when ``remote`` is origin and no origin is configured; GitError
        when the remote cannot be read. Reads the network, writes nothing."""
        if not remote or remote.startswith("-") or any(c in remote for c in "\0\n"):
            raise GitError(f"remote {remote!r} is not a valid remote name", hint="pass a remote name such as origin")
        if remote == "origin" and not self._read_config().get("remote.origin.url"):
            return []
        try:
            out = git_cmd.run(self.root, "ls-remote", "--tags", "--refs", remote, timeout=LS_REMOTE_TIMEOUT,
                              what="git ls-remote")
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


def as_repo(repo: GitRepo | str | os.PathLike) -> GitRepo:
    """``repo`` itself when it is a GitRepo (its reads are shared), else a new one for the path."""
    return repo if isinstance(repo, GitRepo) else GitRepo(repo)


def _parse_refs(out: str) -> _Refs:
    refs = _Refs()
    tags: list[TagRef] = []
    for line in out.splitlines():
        parts = line.split(_US)
        if len(parts) != 8:
            continue
        head, name, otype, oid, ptype, poid, symref, date = parts
        if name.startswith("refs/tags/"):
            sha = oid if otype == "commit" else poid if (otype == "tag" and ptype == "commit") else None
            tags.append(TagRef(name[len("refs/tags/"):], sha))
        elif name == ORIGIN_HEAD:
            prefix = "refs/remotes/origin/"
            refs.origin_head = symref[len(prefix):] if symref.startswith(prefix) else None
        elif head == "*" and name.startswith("refs/heads/"):
            refs.head_branch, refs.head_sha, refs.head_date = name[len("refs/heads/"):], oid, date
    refs.tags = tuple(tags)
    return refs


def _status_entries(out: str) -> list[tuple[str, str]]:
    """(kind, path) of each ``git status --porcelain=v2 -z`` entry: kind 1 (changed), 2 (renamed or
    copied: the new path), u (unmerged), ? (untracked), ! (ignored)."""
    entries: list[tuple[str, str]] = []
    fields = out.split("\0")
    i = 0
    while i < len(fields):
        entry = fields[i]
        i += 1
        if not entry or entry.startswith("#"):
            continue
        kind = entry[0]
        if kind == "1":
            entries.append((kind, entry.split(" ", 8)[8]))
        elif kind == "2":
            entries.append((kind, entry.split(" ", 9)[9]))
            i += 1  # the original path follows
        elif kind == "u":
            entries.append((kind, entry.split(" ", 10)[10]))
        elif kind in "?!":
            entries.append((kind, entry[2:]))
    return entries


# -- one read, once ---------------------------------------------------------------------------


def is_repository(repo: str | os.PathLike) -> bool:
    return GitRepo(repo).is_repository


def read_facts(repo: str | os.PathLike = ".") -> GitFacts:
    """What HEAD is (see :meth:`GitRepo.facts`). Empty outside git."""
    return GitRepo(repo).facts()


def tag_names(repo: str | os.PathLike = ".") -> list[str]:
    """All local tag names (one git process); empty outside git."""
    return GitRepo(repo).tag_names()


def tag_commit(repo: str | os.PathLike, tag: str) -> str | None:
    """The commit a local tag points at (annotated tags peeled), or None when there is no such tag."""
    return GitRepo(repo).tag_commit(tag)
