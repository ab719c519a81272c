"""The changelog of a release, from commits (pure).

Commits come from ``image_release.adapters.git_history.commits_between`` (newest first, merges
included) and are grouped by Conventional Commit type (https://www.conventionalcommits.org):

1. **Breaking changes**: ``type!:`` / ``type(scope)!:`` headers and ``BREAKING CHANGE:`` /
   ``BREAKING-CHANGE:`` footers. A breaking commit is listed here only, not again under its type.
2. **Features** (``feat``), 3. **Bug fixes** (``fix``),
4. the other known types in a fixed order (perf, refactor, revert, docs, build, deps, ci, test, style,
   chore), then unknown types alphabetically,
5. **Other changes**: messages that are not Conventional Commits.

Merge commits (decision): the commits a merge brought in are listed one by one, as everywhere
else; the merge itself is listed only when it is a pull/merge request merge (GitHub's
``Merge pull request #N from ...``, GitLab's ``Merge branch 'x' into 'y'`` + ``See merge request
...!N``), classified by the request title that GitHub/GitLab write in the merge body and linked to
the request. Plain merges (``Merge branch 'main' into feature``) are skipped: they carry no change
of their own.

Ordering is deterministic: sections in the order above, entries in the order of the input (git log
order, newest first); duplicates (same sha) are dropped.

Mentions (decision): ``@user``, ``@org/team`` (and GitLab's ``@group/subgroup``) in a commit
message would notify those people, and list them as contributors, each time the notes are published
on GitHub or GitLab. Entries carry them as code spans (`` `@user` ``): neither forge parses a
mention inside code, the text reads the same, and a copy of it holds no hidden character (a
zero-width joiner after ``@`` would also stop the mention, but it stays in copied text such as
``@types/node`` and in searches). Mentions already inside a code span, e-mail addresses
(``a@b.org``) and URLs (``https://x/@y``) are left as they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, NamedTuple
from urllib.parse import urlsplit, urlunsplit

SHORT_SHA = 7

BREAKING = "breaking"
OTHER = "other"

# Known types, in section order after Breaking changes. Titles are what the notes show.
TYPE_TITLES: dict[str, str] = {
    "feat": "Features",
    "fix": "Bug fixes",
    "perf": "Performance",
    "refactor": "Refactoring",
    "revert": "Reverts",
    "docs": "Documentation",
    "build": "Build system",
    "deps": "Dependencies",
    "ci": "Continuous integration",
    "test": "Tests",
    "style": "Style",
    "chore": "Chores",
}
ALIASES = {"feature": "feat", "bugfix": "fix", "doc": "docs", "tests": "test", "dep": "deps"}
BREAKING_TITLE = "Breaking changes"
OTHER_TITLE = "Other changes"

_HEADER = re.compile(
    r"^(?P<type>[A-Za-z][A-Za-z0-9_-]*)"
    r"(?:\((?P<scope>[^()\r\n]*)\))?"
    r"(?P<bang>!)?"
    r":[ \t]+(?P<desc>\S.*)$"
)
_FOOTER_TOKEN = re.compile(r"^(?:BREAKING CHANGE|BREAKING-CHANGE|[A-Za-z][A-Za-z0-9-]*)(?:: | #)")
_BREAKING_FOOTER = re.compile(r"^BREAKING[ -]CHANGE: ?(?P<text>.*)$")
_GITHUB_PR_MERGE = re.compile(r"^Merge pull request #(?P<n>\d+) from \S+")
_GITLAB_MERGE = re.compile(r"^Merge branch '.+' into '.+'")
_GITLAB_MR_REF = re.compile(r"^See merge request \S*!(?P<n>\d+)\s*$", re.MULTILINE)
_SQUASH_PR = re.compile(r"\s\(#(?P<n>\d+)\)$")
_REVERT = re.compile(r'^Revert "(?P<inner>.+)"$')
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`).+?(?<!`)\1(?!`)", re.DOTALL)  # CommonMark: maximal runs
_URL = re.compile(r"\b(?:[A-Za-z][A-Za-z0-9+.-]*://|www\.)[^\s<>]+")
# GitHub's rule: "@" after a non-word character (or at the start), then a name (letters, digits,
# "-"; GitLab also "_" and "."), with optional /team or /subgroup parts; a run such as @a@b is
# taken whole, so no "@" right after the code span that wraps it starts a mention of its own.
_MENTION = re.compile(r"(?<!\w)@[A-Za-z0-9](?:[\w.@/-]*\w)?")


class Commit(NamedTuple):
    """One commit as git reports it. ``parents`` has two or more shas for a merge.

    A NamedTuple rather than a frozen dataclass: a changelog of a whole history builds tens of
    thousands of these, and a NamedTuple is several times cheaper to construct.
    """

    sha: str
    subject: str
    body: str = ""
    parents: tuple[str, ...] = ()
    author: str = ""
    date: datetime | None = None

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1


@dataclass(frozen=True)
class Conventional:
    """A parsed Conventional Commit header and its breaking-change notes."""

    type: str  # lower case, aliases folded: feat, fix, ...
    scope: str | None
    description: str
    breaking: bool
    breaking_notes: tuple[str, ...] = ()


class Entry(NamedTuple):
    """One line of the changelog (a NamedTuple: cheap to build by the ten thousand)."""

    sha: str
    short_sha: str
    type: str | None  # None for a non-conventional message
    scope: str | None
    description: str  # the header without type/scope, or the whole subject when not conventional
    breaking: bool = False
    breaking_notes: tuple[str, ...] = ()
    url: str | None = None  # the commit's web page
    pr: int | None = None  # pull/merge request number, when known
    pr_url: str | None = None
    author: str = ""

    @property
    def subject(self) -> str:
        """The description with its scope, as one line: ``scope: description``."""
        return f"{self.scope}: {self.description}" if self.scope else self.description


@dataclass(frozen=True)
class Section:
    key: str  # "breaking", a commit type, or "other"
    title: str
    entries: tuple[Entry, ...]


@dataclass(frozen=True)
class Changelog:
    tag: str
    previous_tag: str | None
    sections: tuple[Section, ...] = ()
    compare_url: str | None = None  # previous...tag, when there is a previous tag and links
    history_url: str | None = None  # the commit list of the tag (first release)

    @property
    def entry_count(self) -> int:
        return sum(len(s.entries) for s in self.sections)


@dataclass(frozen=True)
class RepoLinks:
    """Web links of a repository on GitHub or GitLab (``kind``), from its web URL."""

    web_url: str  # https://github.com/owner/repo, https://gitlab.example.com/group/project
    kind: str = "github"  # github | gitlab

    def __post_init__(self) -> None:
        object.__setattr__(self, "web_url", self.web_url.rstrip("/"))
        if self.kind not in ("github", "gitlab"):
            raise ValueError(f"unknown forge kind {self.kind!r} (expected github or gitlab)")

    @property
    def _sep(self) -> str:
        return "/-" if self.kind == "gitlab" else ""

    def commit(self, sha: str) -> str:
        return f"{self.web_url}{self._sep}/commit/{sha}"

    def compare(self, base: str, head: str) -> str:
        return f"{self.web_url}{self._sep}/compare/{base}...{head}"

    def commits(self, ref: str) -> str:
        return f"{self.web_url}{self._sep}/commits/{ref}"

    def request(self, number: int) -> str:
        if self.kind == "gitlab":
            return f"{self.web_url}/-/merge_requests/{number}"
        return f"{self.web_url}/pull/{number}"


_SCHEME_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<rest>.*)$", re.DOTALL)
_HOST = re.compile(r"^(?P<host>[A-Za-z0-9._-]+|\[[0-9A-Fa-f:.]+\])(?::(?P<port>[0-9]*))?$")


def web_url_from_remote(remote_url: str) -> str | None:
    """The https web URL of a git remote URL, without credentials; None when it has no host.

    ``git@github.com:o/r.git`` -> ``https://github.com/o/r``;
    ``https://user:token@gitlab.com/g/p.git`` -> ``https://gitlab.com/g/p`` (userinfo dropped).
    Everything up to the last ``@`` is userinfo, so a token holding ``/``, ``:`` or ``?``
    (``https://oauth2:a/b@host/g/p``) is dropped whole, never read as a host or a port.
    """
    url = remote_url.strip()
    if not url:
        return None
    m = _SCHEME_URL.match(url)
    if m is None:
        scp = re.match(r"^(?:[^@/]+@)?(?P<host>[^:/@]+):(?P<path>[^/].*)$", url, re.DOTALL)
        if not scp:
            return None
        scheme, host, path = "https", scp.group("host").lower(), scp.group("path")
    else:
        scheme = m.group("scheme").lower()
        if scheme not in ("http", "https", "ssh", "git"):
            return None
        rest = m.group("rest").rpartition("@")[2]  # userinfo dropped, whatever it holds
        authority, _, path = rest.partition("/")
        path = re.split(r"[?#]", path, maxsplit=1)[0]
        hm = _HOST.match(authority)
        if not hm:
            return None
        host = hm.group("host").lower()
        if hm.group("port") and scheme in ("http", "https"):
            host = f"{host}:{int(hm.group('port'))}"
        scheme = "http" if scheme == "http" else "https"
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    if not path or not host:
        return None
    return urlunsplit((scheme, host, "/" + path, "", ""))


def guess_kind(web_url: str) -> str:
    """``gitlab`` when the host name says so, else ``github``."""
    host = urlsplit(web_url).hostname or ""
    return "gitlab" if "gitlab" in host else "github"


def _parse_header(header: str) -> tuple[str, str | None, str, bool] | None:
    """(type, scope, description, "!") of a Conventional Commit header line, or None."""
    m = _HEADER.match(header.strip())
    if not m:
        return None
    ctype = m.group("type").lower()
    scope = m.group("scope")
    return ALIASES.get(ctype, ctype), (scope.strip() or None) if scope else None, m.group("desc").strip(), bool(m.group("bang"))


def parse_conventional(message: str) -> Conventional | None:
    """Parse a commit message as a Conventional Commit; None when the header is not one.

    Types are case-insensitive (the spec asks so); ``BREAKING CHANGE`` footers must be upper case.
    """
    header, _, body = message.strip("\n").partition("\n")
    parsed = _parse_header(header)
    if parsed is None:
        return None
    ctype, scope, desc, bang = parsed
    footers = _breaking_footers(body) if "BREAKING" in body else []
    return Conventional(
        type=ctype,
        scope=scope,
        description=desc,
        breaking=bang or bool(footers),
        breaking_notes=tuple(n for n in footers if n),
    )


def breaking_notes(body: str) -> tuple[str, ...]:
    """The texts of ``BREAKING CHANGE:`` / ``BREAKING-CHANGE:`` footers (a footer runs until the next
    footer token or the end). Non-empty notes only; an empty footer still counts via :func:`is_breaking_body`."""
    return tuple(n for n in _breaking_footers(body) if n)


def _breaking_footers(body: str) -> list[str]:
    out: list[str] = []
    current: list[str] | None = None
    for line in body.splitlines():
        fm = _BREAKING_FOOTER.match(line)
        if fm:
            if current is not None:
                out.append(" ".join(current).strip())
            current = [fm.group("text").strip()]
        elif current is not None:
            if _FOOTER_TOKEN.match(line):
                out.append(" ".join(current).strip())
                current = None
            elif line.strip():
                current.append(line.strip())
    if current is not None:
        out.append(" ".join(current).strip())
    return out


def is_breaking_body(body: str) -> bool:
    return bool(_breaking_footers(body))


def _request_merge(commit: Commit) -> tuple[int, str] | None:
    """(number, title) when the commit is a GitHub PR or GitLab MR merge, else None."""
    body_lines = [ln.strip() for ln in commit.body.splitlines() if ln.strip()]
    m = _GITHUB_PR_MERGE.match(commit.subject)
    if m:
        title = body_lines[0] if body_lines else commit.subject
        return int(m.group("n")), title
    if _GITLAB_MERGE.match(commit.subject):
        mr = _GITLAB_MR_REF.search(commit.body)
        if mr:
            title = next((ln for ln in body_lines if not _GITLAB_MR_REF.match(ln)), commit.subject)
            return int(mr.group("n")), title
    return None


def neutralize_mentions(text: str) -> str:
    """``text`` with each ``@mention`` outside code spans and URLs put in a code span (see the
    module doc). Its backticks are one more than the longest run in ``text``, so a stray backtick
    of the message never pairs with them; a mention right next to a backtick (which would merge
    with the span's own) gets a word joiner (U+2060) after each of its ``@`` instead (``@a@@b``
    holds a second mention)."""
    if "@" not in text:
        return text
    tick = "`" * (max((len(r) for r in re.findall(r"`+", text)), default=0) + 1)
    spans = [(m.start(), m.end()) for m in _protected(text)]
    out, last = [], 0
    for m in _MENTION.finditer(text):
        if any(a <= m.start() < b for a, b in spans):
            continue
        mention = m.group(0)
        touching = text[m.start() - 1:m.start()] == "`" or text[m.end():m.end() + 1] == "`"
        out += [text[last:m.start()], mention.replace("@", "@\u2060") if touching else f"{tick}{mention}{tick}"]
        last = m.end()
    out.append(text[last:])
    return "".join(out)


def _protected(text: str) -> list[re.Match]:
    """The code spans and URLs of ``text``, in order, not overlapping: mentions there do not notify."""
    spans: list[re.Match] = []
    end = 0
    for m in sorted([*_CODE_SPAN.finditer(text), *_URL.finditer(text)], key=lambda m: m.start()):
        if m.start() >= end:
            spans.append(m)
            end = m.end()
    return spans


def to_entry(commit: Commit, links: RepoLinks | None = None) -> Entry | None:
    """The changelog entry of one commit; None for a plain merge (it is skipped)."""
    pr: int | None = None
    header = commit.subject
    body = commit.body
    if commit.is_merge:
        req = _request_merge(commit)
        if req is None:
            return None
        pr, header = req
        body = ""  # the merge body is the request description: its footers are not this commit's
    else:
        sq = _SQUASH_PR.search(header)
        if sq:  # a squash merge "feat: x (#12)": the number becomes a link, not text
            pr = int(sq.group("n"))
            header = header[: sq.start()]
    footers = _breaking_footers(body) if "BREAKING" in body else []
    notes = tuple(n for n in footers if n)
    breaking = bool(footers)  # an explicit footer counts even without a conventional header
    parsed = _parse_header(header)
    if parsed is not None:
        ctype, scope, desc, bang = parsed
        breaking = breaking or bang
    else:
        rv = _REVERT.match(header.strip())
        ctype = "revert" if rv else None
        scope, desc = None, header.strip()
    return Entry(
        sha=commit.sha,
        short_sha=commit.sha[:SHORT_SHA],
        type=ctype,
        scope=neutralize_mentions(scope) if scope else scope,
        description=neutralize_mentions(desc),
        breaking=breaking,
        breaking_notes=tuple(neutralize_mentions(n) for n in notes),
        url=links.commit(commit.sha) if links else None,
        pr=pr,
        pr_url=links.request(pr) if (links and pr is not None) else None,
        author=commit.author,
    )


def section_key(entry: Entry) -> str:
    if entry.breaking:
        return BREAKING
    if entry.type is None:
        return OTHER
    return entry.type


def section_title(key: str) -> str:
    if key == BREAKING:
        return BREAKING_TITLE
    if key == OTHER:
        return OTHER_TITLE
    return TYPE_TITLES.get(key, key.replace("-", " ").replace("_", " ").capitalize())


def section_order(keys: Iterable[str]) -> list[str]:
    known = list(TYPE_TITLES)
    present = set(keys)
    ordered = [BREAKING] if BREAKING in present else []
    ordered += [k for k in known if k in present]
    ordered += sorted(k for k in present if k not in known and k not in (BREAKING, OTHER))
    if OTHER in present:
        ordered.append(OTHER)
    return ordered


def build_changelog(
    commits: Iterable[Commit],
    *,
    tag: str,
    previous_tag: str | None,
    links: RepoLinks | None = None,
    exclude_types: Iterable[str] = (),
) -> Changelog:
    """Group ``commits`` (git log order) into sections. ``exclude_types`` drops whole types (e.g.
    ``chore``); breaking changes are never dropped."""
    excluded = {t.lower() for t in exclude_types}
    groups: dict[str, list[Entry]] = {}
    seen: set[str] = set()
    for commit in commits:
        if commit.sha in seen:
            continue
        seen.add(commit.sha)
        entry = to_entry(commit, links)
        if entry is None:
            continue
        key = section_key(entry)
        if key != BREAKING and key in excluded:
            continue
        groups.setdefault(key, []).append(entry)
    sections = tuple(Section(k, section_title(k), tuple(groups[k])) for k in section_order(groups))
    return Changelog(
        tag=tag,
        previous_tag=previous_tag,
        sections=sections,
        compare_url=links.compare(previous_tag, tag) if (links and previous_tag) else None,
        history_url=links.commits(tag) if links else None,
    )
