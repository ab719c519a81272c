"""Release notes rendering and the body limit (pure)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from image_release.core.changelog import Commit, RepoLinks, build_changelog
from image_release.core.notes import (
    GITHUB_BODY_LIMIT,
    MovedTag,
    NotesInput,
    default_template_text,
    limit_body,
    render_notes,
)
from image_release.errors import ConfigError, RuleError

IMG = "ghcr.io/o/app"
DIGEST = "sha256:" + "ab" * 32
GH = RepoLinks("https://github.com/o/r")


def changelog(previous="v1.1.0", tag="v1.2.0", n=0):
    commits = [
        Commit("1" * 40, "feat(api)!: drop v1", "BREAKING CHANGE: /v1 is gone, use /v2", ("p",)),
        Commit("2" * 40, "fix: crash on <empty> input (#12)", "", ("p",)),
        Commit("3" * 40, "feat: dark mode", "", ("p",)),
        Commit("4" * 40, "Update readme", "", ("p",)),
    ] + [Commit(f"{i:040x}", f"chore: filler {i}", "", ("p",)) for i in range(n)]
    return build_changelog(commits, tag=tag, previous_tag=previous, links=GH)


def full_input(**kw) -> NotesInput:
    base = dict(
        project="AnuNeko OpenAI API server",
        version="1.2.0",
        tag="v1.2.0",
        previous_tag="v1.1.0",
        images=(IMG, "registry.example.com/o/app"),
        published=tuple(f"{i}:{t}" for i in (IMG, "registry.example.com/o/app") for t in ("1.2.0", "1.2", "1", "latest")),
        digest=DIGEST,
        moved_tags=(MovedTag("version", "1.2.0"), MovedTag("minor", "1.2"), MovedTag("major", "1"), MovedTag("latest", "latest")),
        ports=("8000:8000",),
        env=("ANUNEKO_TOKEN",),
        platforms=("linux/amd64", "linux/arm64"),
        changelog=changelog(),
        date="2026-11-29",
    )
    base.update(kw)
    return NotesInput(**base)


def headings(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.startswith("## ")]


# --- the default template ------------------------------------------------------------------------


def test_default_template_is_packaged():
    assert "## Changelog" in default_template_text()


def test_default_notes_have_the_four_parts_in_order():
    out = render_notes(full_input())
    assert out.startswith("# AnuNeko OpenAI API server 1.2.0\n")
    assert headings(out) == ["## Image", "## Usage", "## Changelog", "## System requirements"]
    assert "Released 2026-11-29 from tag `v1.2.0`." in out
    assert out.endswith("\n") and not out.endswith("\n\n")
    assert "\n\n\n" not in out


def test_image_section_lists_every_published_ref_and_the_digest():
    out = render_notes(full_input())
    image = out.split("## Image")[1].split("## Usage")[0]
    for ref in full_input().published:
        assert f"`{ref}`" in image
    assert DIGEST in image
    assert "`linux/amd64`, `linux/arm64`" in image


def test_pull_lines_for_moved_tags_in_order_with_the_first_image():
    out = render_notes(full_input())
    pulls = re.findall(r"^docker pull (\S+)", out, re.MULTILINE)
    assert pulls == [f"{IMG}:1.2.0", f"{IMG}:1.2", f"{IMG}:1", f"{IMG}:latest", f"{IMG}@{DIGEST}"]
    assert re.search(r"docker pull ghcr.io/o/app:1\.2 +# newest 1\.2\.x", out)


def test_backport_shows_only_the_tags_it_moved():
    inp = full_input(
        version="1.1.5", tag="v1.1.5", previous_tag="v1.1.4",
        published=(f"{IMG}:1.1.5", f"{IMG}:1.1"),
        moved_tags=(MovedTag("minor", "1.1"), MovedTag("version", "1.1.5")),
        changelog=changelog(previous="v1.1.4", tag="v1.1.5"),
    )
    out = render_notes(inp)
    pulls = re.findall(r"^docker pull (\S+)", out, re.MULTILINE)
    assert pulls == [f"{IMG}:1.1.5", f"{IMG}:1.1", f"{IMG}@{DIGEST}"]
    assert ":latest" not in out and f"{IMG}:1 " not in out


def test_run_example_uses_names_and_placeholders_never_values():
    inp = full_input(env=("ANUNEKO_TOKEN=sk-live-very-secret", "LOG_LEVEL"), ports=("8000:8000", "127.0.0.1:9090:9090/tcp"))
    out = render_notes(inp)
    assert "sk-live-very-secret" not in out
    assert (
        "docker run -d \\\n  -p 8000:8000 \\\n  -p 127.0.0.1:9090:9090/tcp \\\n"
        "  -e ANUNEKO_TOKEN=your_anuneko_token_here \\\n  -e LOG_LEVEL=your_log_level_here \\\n"
        f"  {IMG}:1.2.0\n"
    ) in out
    assert "placeholder values of `ANUNEKO_TOKEN`, `LOG_LEVEL`" in out


def test_run_example_without_ports_or_env():
    out = render_notes(full_input(ports=(), env=()))
    assert f"docker run --rm {IMG}:1.2.0\n" in out
    assert "placeholder" not in out


@pytest.mark.parametrize("bad", [("MY-VAR",), ("1ABC",), ("$(rm -rf)",)])
def test_bad_env_names_are_config_errors(bad):
    with pytest.raises(ConfigError) as e:
        render_notes(full_input(env=bad))
    assert e.value.hint


def test_bad_port_is_a_config_error():
    with pytest.raises(ConfigError):
        render_notes(full_input(ports=("8000:8000; rm -rf /",)))


def test_changelog_section():
    out = render_notes(full_input())
    cl = out.split("## Changelog")[1].split("## System requirements")[0]
    assert "Changes since `v1.1.0` ([full diff](https://github.com/o/r/compare/v1.1.0...v1.2.0))." in cl
    titles = [ln for ln in cl.splitlines() if ln.startswith("### ")]
    assert titles == ["### Breaking changes", "### Features", "### Bug fixes", "### Other changes"]
    assert (f"- **api:** drop v1 ([`1111111`](https://github.com/o/r/commit/{'1' * 40}))\n"
            "  - /v1 is gone, use /v2") in cl
    assert "- crash on &lt;empty> input ([#12](https://github.com/o/r/pull/12))" in cl


def test_first_release_and_no_changes():
    first = render_notes(full_input(previous_tag=None, changelog=changelog(previous=None)))
    assert "First release ([history](https://github.com/o/r/commits/v1.2.0))." in first
    empty = render_notes(full_input(changelog=None))
    assert "No changes recorded." in empty


def test_shallow_history_note_is_shown():
    out = render_notes(full_input(history_note="changelog may be incomplete: shallow clone (history was not deepened)"))
    assert "> **Note:** changelog may be incomplete: shallow clone" in out


def test_prerelease_banner():
    out = render_notes(full_input(version="2.0.0-rc.1", tag="v2.0.0-rc.1", prerelease=True,
                                  moved_tags=(MovedTag("version", "2.0.0-rc.1"),)))
    assert "**Pre-release:**" in out and "`latest` still points to the newest stable release" in out
    assert re.findall(r"^docker pull (\S+)", out, re.MULTILINE)[0] == f"{IMG}:2.0.0-rc.1"
    assert "**Pre-release" not in render_notes(full_input())


def test_requirements_default_and_from_settings():
    out = render_notes(full_input())
    req = out.split("## System requirements")[1]
    assert req.strip().splitlines() == ["- Docker 20.10+ or any OCI runtime", "- Platforms: linux/amd64, linux/arm64"]
    out = render_notes(full_input(requirements=("Podman 4+", "2 GB RAM"), platforms=()))
    assert out.split("## System requirements")[1].strip().splitlines() == ["- Podman 4+", "- 2 GB RAM"]


def test_minimal_input_renders():
    out = render_notes(NotesInput(project="x", version="0.1.0", tag="v0.1.0"))
    assert headings(out) == ["## Image", "## Usage", "## Changelog", "## System requirements"]
    assert "No image reference was recorded" in out


def test_published_refs_without_moved_tags_give_pull_lines():
    out = render_notes(full_input(moved_tags=(), images=(), published=(f"{IMG}:1.2.0", f"{IMG}:edge")))
    assert re.findall(r"^docker pull (\S+)", out, re.MULTILINE)[:2] == [f"{IMG}:1.2.0", f"{IMG}:edge"]


# --- user templates ------------------------------------------------------------------------------


def test_user_template_replaces_the_default():
    tpl = "Release {{ version }} of {{ project }}\n{% for s in sections %}* {{ s.title }}: {{ s.entries | length }}\n{% endfor %}"
    out = render_notes(full_input(), tpl, template_name="notes.md.j2")
    assert out == ("Release 1.2.0 of AnuNeko OpenAI API server\n* Breaking changes: 1\n* Features: 1\n"
                   "* Bug fixes: 1\n* Other changes: 1\n")


def test_user_template_syntax_error_names_file_and_line():
    tpl = "line one\nline two\n{% for x in %}\n"
    with pytest.raises(RuleError) as e:
        render_notes(full_input(), tpl, template_name="ci/notes.md.j2")
    assert e.value.message.startswith("ci/notes.md.j2, line 3:")
    assert e.value.hint


def test_user_template_unknown_variable_names_file_and_line():
    tpl = "ok {{ version }}\n\n{{ verison }}\n"
    with pytest.raises(RuleError) as e:
        render_notes(full_input(), tpl, template_name="notes.j2")
    assert e.value.message.startswith("notes.j2, line 3:") and "verison" in e.value.message


def test_user_template_runtime_error_names_file_and_line():
    tpl = "a\n{{ 1 // 0 }}\n"
    with pytest.raises(RuleError) as e:
        render_notes(full_input(), tpl, template_name="t.j2")
    assert e.value.message.startswith("t.j2, line 2:") and "ZeroDivisionError" in e.value.message


def test_user_template_sees_extra_values():
    out = render_notes(full_input(extra={"docs": "https://docs.example"}), "{{ extra.docs }}")
    assert out == "https://docs.example\n"


# --- body limit ----------------------------------------------------------------------------------


def test_limit_body_leaves_short_text_alone():
    text = render_notes(full_input())
    assert limit_body(text) is text


def test_limit_body_cuts_at_a_line_with_a_note():
    big = render_notes(full_input(changelog=changelog(n=4000)))
    assert len(big) > 200_000
    out = limit_body(big, full_notes_at="the release asset release-notes.md")
    assert len(out) <= GITHUB_BODY_LIMIT
    over = len(big) - GITHUB_BODY_LIMIT
    assert out.endswith(f"> … cut: {over:,} characters over GitHub's limit; "
                        "the full notes are in the release asset release-notes.md\n")
    kept = out.split("\n\n> … cut:")[0]
    assert big.startswith(kept + "\n")  # whole lines only
    assert "## Image" in kept and "## Usage" in kept


def test_limit_body_closes_an_open_code_fence():
    text = "intro\n```bash\n" + "".join(f"echo {i}\n" for i in range(1000)) + "```\nend\n"
    out = limit_body(text, limit=2000, forge="GitLab", full_notes_at="notes.md")
    assert len(out) <= 2000
    body = out.split("\n\n> … cut:")[0]
    assert body.endswith("\n```")
    assert sum(1 for ln in body.splitlines() if ln.startswith("```")) % 2 == 0
    assert "over GitLab's limit" in out


def test_limit_body_one_huge_line():
    out = limit_body("x" * 10_000, limit=500)
    assert len(out) <= 500 and "cut: 9,500 characters" in out


def test_limit_body_rejects_nonsense_limit():
    with pytest.raises(ConfigError):
        limit_body("abc", limit=0)


@settings(max_examples=200)
@given(st.text(alphabet=st.sampled_from("ab\n`é"), max_size=3000), st.integers(min_value=1, max_value=3000))
def test_limit_body_never_exceeds_the_limit(text, limit):
    out = limit_body(text, limit=limit)
    assert len(out) <= limit
    if len(text) <= limit:
        assert out == text
