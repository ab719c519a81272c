"""The changelog core: Conventional Commits parsing, grouping, links (pure), and over real git."""

from __future__ import annotations

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from image_release.adapters import git_history as gh
from image_release.core.changelog import (
    Commit,
    RepoLinks,
    build_changelog,
    guess_kind,
    parse_conventional,
    web_url_from_remote,
)
from tests.fixtures.gitrepo import GitRepo

GH = RepoLinks("https://github.com/o/r")
GL = RepoLinks("https://gitlab.example.com/group/sub/proj/", kind="gitlab")


def c(n: int, message: str, parents: tuple[str, ...] = ("p",)) -> Commit:
    subject, _, body = message.partition("\n")
    return Commit(sha=f"{n:040x}", subject=subject, body=body.strip("\n"), parents=parents)


# --- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message, expected",
    [
        ("feat: add x", ("feat", None, "add x", False)),
        ("fix(api): handle y", ("fix", "api", "handle y", False)),
        ("feat(api)!: drop v1", ("feat", "api", "drop v1", True)),
        ("refactor!: rename", ("refactor", None, "rename", True)),
        ("FEAT: shout", ("feat", None, "shout", False)),  # types are case-insensitive
        ("Fix(UI): caps", ("fix", "UI", "caps", False)),
        ("feature: alias", ("feat", None, "alias", False)),
        ("deps(npm): bump", ("deps", "npm", "bump", False)),
        ("feat(): empty scope", ("feat", None, "empty scope", False)),
    ],
)
def test_parse_conventional_headers(message, expected):
    p = parse_conventional(message)
    assert (p.type, p.scope, p.description, p.breaking) == expected


@pytest.mark.parametrize(
    "message",
    ["Update README", "feat:no space", "feat add x", "Merge branch 'x'", "WIP", "", "(scope): x", "feat(a)(b): x"],
)
def test_non_conventional(message):
    assert parse_conventional(message) is None


def test_breaking_footers():
    p = parse_conventional("feat: x\n\nbody text\n\nBREAKING CHANGE: the config\n  moved to y\nRefs: #1")
    assert p.breaking and p.breaking_notes == ("the config moved to y",)
    p = parse_conventional("fix: x\n\nBREAKING-CHANGE: hyphen form")
    assert p.breaking and p.breaking_notes == ("hyphen form",)
    # the footer token must be upper case; "breaking change:" in prose is not one
    assert not parse_conventional("fix: x\n\nbreaking change: no").breaking
    assert not parse_conventional("fix: x\n\nThis is not a BREAKING CHANGE: mid-line").breaking
    p = parse_conventional("feat!: x\n\nBREAKING CHANGE: a\nBREAKING CHANGE: b")
    assert p.breaking_notes == ("a", "b")


@given(st.text(max_size=200))
def test_parse_never_raises(text):
    parse_conventional(text)
    build_changelog([Commit("a" * 40, text.partition("\n")[0], text)], tag="v1.0.0", previous_tag=None)


# --- grouping ------------------------------------------------------------------------------------


def test_sections_in_order_breaking_first_other_last():
    commits = [
        c(1, "Update the readme"),
        c(2, "chore: tidy"),
        c(3, "docs: guide"),
        c(4, "fix(db): retry"),
        c(5, "feat: shiny"),
        c(6, "perf: faster"),
        c(7, "feat(api)!: drop v1"),
        c(8, "zeta: custom type"),
        c(9, "alpha: custom type"),
        c(10, "fix: old thing\n\nBREAKING CHANGE: defaults changed"),
        c(11, "refactor: inner"),
    ]
    cl = build_changelog(commits, tag="v2.0.0", previous_tag="v1.0.0")
    assert [s.title for s in cl.sections] == [
        "Breaking changes", "Features", "Bug fixes", "Performance", "Refactoring", "Documentation",
        "Chores", "Alpha", "Zeta", "Other changes",
    ]
    breaking = cl.sections[0].entries
    assert [e.description for e in breaking] == ["drop v1", "old thing"]  # input order kept
    assert breaking[1].breaking_notes == ("defaults changed",)
    # a breaking commit is listed once, not again under its type
    assert [e.description for e in cl.sections[1].entries] == ["shiny"]
    assert cl.entry_count == len(commits)


def test_deterministic_and_deduplicated():
    commits = [c(1, "feat: a"), c(2, "fix: b"), c(1, "feat: a"), c(3, "misc")]
    a = build_changelog(commits, tag="v1.0.1", previous_tag="v1.0.0", links=GH)
    b = build_changelog(list(commits), tag="v1.0.1", previous_tag="v1.0.0", links=GH)
    assert a == b
    assert a.entry_count == 3


def test_non_conventional_messages_go_to_other_changes():
    cl = build_changelog([c(1, "Bump version"), c(2, "Fixed the thing"), c(3, 'Revert "feat: x"')],
                         tag="v1.0.0", previous_tag=None)
    assert [(s.title, [e.description for e in s.entries]) for s in cl.sections] == [
        ("Reverts", ['Revert "feat: x"']),
        ("Other changes", ["Bump version", "Fixed the thing"]),
    ]
    assert all(e.type is None for e in cl.sections[1].entries)


def test_breaking_footer_without_conventional_header_still_counts():
    cl = build_changelog([c(1, "Rework config\n\nBREAKING CHANGE: new format")], tag="v2.0.0", previous_tag="v1.0.0")
    assert cl.sections[0].title == "Breaking changes"
    assert cl.sections[0].entries[0].breaking_notes == ("new format",)


def test_exclude_types_never_drops_breaking():
    cl = build_changelog([c(1, "chore: x"), c(2, "chore!: y")], tag="v2.0.0", previous_tag="v1.0.0",
                         exclude_types=["chore"])
    assert [(s.title, len(s.entries)) for s in cl.sections] == [("Breaking changes", 1)]


def test_merges_pr_listed_plain_skipped():
    gh_merge = c(1, "Merge pull request #42 from o/feature-x\n\nfeat(ui): new dashboard", parents=("a", "b"))
    gl_merge = c(2, "Merge branch 'fix-y' into 'main'\n\nfix: crash on empty input\n\nCloses #3\n\n"
                    "See merge request group/proj!17", parents=("a", "b"))
    plain = c(3, "Merge branch 'main' into feature", parents=("a", "b"))
    plain_gl = c(4, "Merge branch 'x' into 'main'", parents=("a", "b"))
    inner = c(5, "feat(ui): chart widget")
    cl = build_changelog([gh_merge, gl_merge, plain, plain_gl, inner], tag="v1.1.0", previous_tag="v1.0.0", links=GH)
    feats = cl.sections[0].entries
    assert [(e.scope, e.description, e.pr) for e in feats] == [("ui", "new dashboard", 42), ("ui", "chart widget", None)]
    assert feats[0].pr_url == "https://github.com/o/r/pull/42"
    fixes = cl.sections[1].entries
    assert [(e.description, e.pr) for e in fixes] == [("crash on empty input", 17)]
    assert cl.entry_count == 3


def test_pr_merge_with_empty_body_uses_subject():
    cl = build_changelog([c(1, "Merge pull request #9 from o/x", parents=("a", "b"))], tag="v1", previous_tag=None)
    (e,) = cl.sections[0].entries
    assert cl.sections[0].title == "Other changes" and e.pr == 9


def test_squash_merge_number_becomes_link():
    cl = build_changelog([c(1, "fix: tidy up (#123)")], tag="v1.0.1", previous_tag="v1.0.0", links=GH)
    (e,) = cl.sections[0].entries
    assert e.description == "tidy up" and e.pr == 123 and e.pr_url.endswith("/pull/123")


# --- links ---------------------------------------------------------------------------------------


def test_github_links():
    cl = build_changelog([c(255, "feat: a")], tag="v1.1.0", previous_tag="v1.0.0", links=GH)
    (e,) = cl.sections[0].entries
    assert e.short_sha == "0000000" and len(e.sha) == 40
    assert e.url == f"https://github.com/o/r/commit/{e.sha}"
    assert cl.compare_url == "https://github.com/o/r/compare/v1.0.0...v1.1.0"


def test_gitlab_links():
    cl = build_changelog([c(1, "fix: b (#4)")], tag="v1.1.0", previous_tag="v1.0.0", links=GL)
    (e,) = cl.sections[0].entries
    assert e.url == f"https://gitlab.example.com/group/sub/proj/-/commit/{e.sha}"
    assert e.pr_url == "https://gitlab.example.com/group/sub/proj/-/merge_requests/4"
    assert cl.compare_url == "https://gitlab.example.com/group/sub/proj/-/compare/v1.0.0...v1.1.0"


def test_no_links_and_first_release():
    cl = build_changelog([c(1, "feat: a")], tag="v0.1.0", previous_tag=None)
    assert cl.compare_url is None and cl.history_url is None
    assert cl.sections[0].entries[0].url is None
    first = build_changelog([c(1, "feat: a")], tag="v0.1.0", previous_tag=None, links=GH)
    assert first.compare_url is None and first.history_url == "https://github.com/o/r/commits/v0.1.0"


@pytest.mark.parametrize(
    "remote, web",
    [
        ("git@github.com:o/r.git", "https://github.com/o/r"),
        ("https://github.com/o/r.git", "https://github.com/o/r"),
        ("https://x-access-token:ghs_secret@github.com/o/r", "https://github.com/o/r"),
        ("ssh://git@gitlab.example.com:2222/g/sub/p.git", "https://gitlab.example.com/g/sub/p"),
        ("http://127.0.0.1:8929/g/p.git", "http://127.0.0.1:8929/g/p"),
        ("/srv/git/repo.git", None),
        ("file:///srv/git/repo.git", None),
        ("", None),
    ],
)
def test_web_url_from_remote_drops_credentials(remote, web):
    assert web_url_from_remote(remote) == web
    if web:
        assert "secret" not in web


@pytest.mark.parametrize(
    "remote, web",
    [
        # issue 14: a token holding "/" was read as host and port (a crash that printed it)
        ("https://x-access-token:ghs_se/cret@github.com/o/r.git", "https://github.com/o/r"),
        ("https://oauth2:glpat-se/cr/et@gitlab.example.com:8443/g/p.git", "https://gitlab.example.com:8443/g/p"),
        ("https://se:cr/et:99@GitHub.com/o/r", "https://github.com/o/r"),
        ("https://secret%2Fx@github.com/o/r", "https://github.com/o/r"),
        ("https://u:se?cr#et@github.com/o/r.git", "https://github.com/o/r"),
        ("ssh://git@GitLab.example.com:2222/g/p.git", "https://gitlab.example.com/g/p"),
        ("https://[::1]:8080/o/r", "https://[::1]:8080/o/r"),
        ("https://github.com/o/r?ref=x", "https://github.com/o/r"),
        ("https://github.com:notaport/o/r", None),
        ("https://secret@/o/r", None),
        ("ftp://github.com/o/r", None),
    ],
)
def test_web_url_from_remote_tokens_with_any_characters(remote, web):
    assert web_url_from_remote(remote) == web
    assert "se" not in (web or "").replace("https", "")


@given(token=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="@\x00"), min_size=1))
def test_web_url_from_remote_never_raises_nor_keeps_a_token(token):
    web = web_url_from_remote(f"https://x-access-token:{token}@github.com/o/r.git")
    assert web == "https://github.com/o/r"


def test_guess_kind():
    assert guess_kind("https://gitlab.example.com/g/p") == "gitlab"
    assert guess_kind("https://github.com/o/r") == "github"
    with pytest.raises(ValueError):
        RepoLinks("https://x", kind="bitbucket")


# --- over real git -------------------------------------------------------------------------------


def test_changelog_of_a_backport_over_real_git(git_repo: GitRepo):
    git_repo.commit("feat: base")
    git_repo.tag("v1.1.4")
    git_repo.commit("feat!: new config format")
    git_repo.tag("v1.2.0")
    git_repo.checkout("-b", "release-1.1", "v1.1.4")
    git_repo.commit("fix(security): patch CVE")
    git_repo.commit("Bump version")
    git_repo.tag("v1.1.5")
    prev = gh.previous_release(git_repo.path, "v1.1.5")
    cl = build_changelog(gh.commits_between(git_repo.path, prev, "v1.1.5"), tag="v1.1.5", previous_tag=prev, links=GH)
    assert [(s.title, [e.subject for e in s.entries]) for s in cl.sections] == [
        ("Bug fixes", ["security: patch CVE"]),
        ("Other changes", ["Bump version"]),
    ]
    assert cl.compare_url == "https://github.com/o/r/compare/v1.1.4...v1.1.5"


# --- mentions (issue 14 Notes) -------------------------------------------------------------------


def outside_code(markdown: str) -> str:
    """The text of ``markdown`` outside code spans, by CommonMark's rule: a run of n backticks
    opens a span that the next run of exactly n backticks closes; a run never closed is text."""
    import re

    runs = [(m.start(), m.end()) for m in re.finditer(r"`+", markdown)]
    out, pos, i = [], 0, 0
    while i < len(runs):
        start, end = runs[i]
        close = next((j for j in range(i + 1, len(runs)) if runs[j][1] - runs[j][0] == end - start), None)
        if close is None:
            i += 1
            continue
        out.append(markdown[pos:start])
        pos, i = runs[close][1], close + 1
    out.append(markdown[pos:])
    return " <code> ".join(out)  # a code span ends a word, as its HTML element does


def mentions(markdown: str) -> list[str]:
    """What GitHub would take for mentions: @name after a non-word character (or at the start),
    outside code spans and autolinked URLs."""
    import re

    text = re.sub(r"\b[a-z]+://\S+", " ", outside_code(markdown))
    return re.findall(r"(?<!\w)@[A-Za-z0-9][\w.-]*", text)


@pytest.mark.parametrize("subject, description", [
    ("fix: thanks @alice for the report", "thanks `@alice` for the report"),
    ("feat(api): ping @acme/core-team and @bob.", "ping `@acme/core-team` and `@bob`."),
    ("fix: bump `@types/node` (already code) and @babel/core", "bump `@types/node` (already code) and ``@babel/core``"),
    ("docs: mail me@example.org, see https://x.io/@user", "mail me@example.org, see https://x.io/@user"),
    ("chore: a stray ` then @carol", "a stray ` then ``@carol``"),
    ("@dave: fixed (#12)", "`@dave`: fixed"),
])
def test_mentions_in_entries_do_not_notify(subject, description):
    (section,) = build_changelog([c(1, subject)], tag="v1", previous_tag=None, links=GH).sections
    (entry,) = section.entries
    assert entry.description == description
    assert mentions(entry.description) == []


def test_mentions_in_scopes_breaking_notes_and_pr_titles():
    commits = [
        c(1, "feat(@ui)!: new theme\n\nBREAKING CHANGE: @frontend must migrate; ask @org/design"),
        c(2, "Merge pull request #7 from o/x\n\nfix: by @erin", parents=("a", "b")),
    ]
    cl = build_changelog(commits, tag="v2", previous_tag="v1", links=GH)
    entries = [e for s in cl.sections for e in s.entries]
    assert [e.scope for e in entries] == ["`@ui`", None]
    assert entries[0].breaking_notes == ("`@frontend` must migrate; ask `@org/design`",)
    assert entries[1].description == "by `@erin`" and entries[1].pr == 7
    for e in entries:
        assert mentions(" ".join([e.scope or "", e.description, *e.breaking_notes])) == []


@given(st.lists(st.sampled_from([*"@`ab-_/. \n:x9", "@@", "``", "a@b", " https://h/@u "]), max_size=30).map("".join))
@example("@a@@a`")  # a mention next to a backtick holding a second one
def test_no_mention_survives_any_message(text):
    from image_release.core.changelog import neutralize_mentions

    out = neutralize_mentions(text)
    assert mentions(out) == []
    assert out.replace("`", "").replace("\u2060", "") == text.replace("`", "")  # only backticks (or a joiner) added
