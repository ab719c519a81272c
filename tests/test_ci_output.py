"""The CI reporters write what GitHub Actions and GitLab CI document.

GitHub: `$GITHUB_OUTPUT` lines `name=value`, or `name<<DELIMITER` / value / `DELIMITER` for multi-line values;
`$GITHUB_STEP_SUMMARY` Markdown; `::add-mask::`, `::group::`/`::endgroup::` workflow commands on stdout.
GitLab: a dotenv report (one `KEY=value` line per variable, keys of letters, digits and `_`, no empty lines,
no multi-line values, under 5 KB) and `section_start`/`section_end` markers.
"""

from __future__ import annotations

import io
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from image_release.adapters.ci_output import (
    OUTPUT_NAMES,
    GitHubReporter,
    GitLabReporter,
    PlainReporter,
    reporter_for,
)
from image_release.errors import ConfigError


# --- readers that follow the documented formats -------------------------------------------------------------


def parse_github_output(text: str) -> dict[str, str]:
    """Read a $GITHUB_OUTPUT file the way the runner does (file commands: `k=v` or heredoc)."""
    lines = text.split("\n")
    assert lines[-1] == "", "every entry ends with a newline"
    lines = lines[:-1]
    out: dict[str, str] = {}
    i = 0
    while i < len(lines):
        line = lines[i]
        eq, heredoc = line.find("="), line.find("<<")
        if heredoc != -1 and (eq == -1 or heredoc < eq):
            name, delimiter = line[:heredoc], line[heredoc + 2:]
            assert name and delimiter
            body: list[str] = []
            i += 1
            while lines[i] != delimiter:  # IndexError: a missing closing delimiter
                body.append(lines[i])
                i += 1
            out[name] = "\n".join(body)
        else:
            assert eq > 0, f"not a file command: {line!r}"
            out[line[:eq]] = line[eq + 1:]
        i += 1
    return out


def parse_gitlab_dotenv(text: str) -> dict[str, str]:
    """Read a dotenv report under GitLab's documented restrictions, failing where GitLab rejects it."""
    assert len(text.encode()) < 5 * 1024, "a dotenv report is smaller than 5 KB"
    assert text.endswith("\n")
    out: dict[str, str] = {}
    for line in text[:-1].split("\n"):
        m = re.fullmatch(r"([A-Za-z0-9_]+)=(.*)", line)
        assert m, f"GitLab rejects the line {line!r}"
        assert "\r" not in line
        out[m.group(1)] = m.group(2).strip()
    assert len(out) <= 20, "GitLab keeps at most 20 dotenv variables"
    return out


OUTPUTS = {
    "version": "1.2.3",
    "tags": "ghcr.io/o/r:1.2.3\nghcr.io/o/r:1.2\nghcr.io/o/r:1\nghcr.io/o/r:latest",
    "digest": "sha256:" + "ab" * 32,
    "release-url": "https://github.com/o/r/releases/tag/v1.2.3",
}


# --- choosing ---------------------------------------------------------------------------------------------


def test_reporter_for_picks_by_environment(tmp_path):
    out = io.StringIO()
    gh = reporter_for({"GITHUB_ACTIONS": "true", "GITHUB_OUTPUT": str(tmp_path / "o")}, out)
    assert isinstance(gh, GitHubReporter) and gh.output_path == tmp_path / "o"
    gl = reporter_for({"GITLAB_CI": "true", "CI_PROJECT_DIR": str(tmp_path)}, out)
    assert isinstance(gl, GitLabReporter) and gl.dotenv_path == tmp_path / "release.env"
    assert isinstance(reporter_for({}, out), PlainReporter)
    assert isinstance(reporter_for({"GITHUB_ACTIONS": "false", "GITLAB_CI": "false", "CI": "true"}, out), PlainReporter)


def test_gitlab_dotenv_path_setting(tmp_path):
    gl = reporter_for({"GITLAB_CI": "true", "CI_PROJECT_DIR": str(tmp_path)}, io.StringIO(), dotenv_path="out/r.env")
    assert gl.dotenv_path == tmp_path / "out" / "r.env"
    absolute = tmp_path / "abs.env"
    gl = reporter_for({"GITLAB_CI": "true", "CI_PROJECT_DIR": "/elsewhere"}, io.StringIO(), dotenv_path=absolute)
    assert gl.dotenv_path == absolute


def test_output_names_are_the_documented_ones():
    assert OUTPUT_NAMES == ("version", "tags", "digest", "release-url")


# --- GitHub Actions -----------------------------------------------------------------------------------------


def github(tmp_path, **kw):
    out = io.StringIO()
    rep = reporter_for(
        {
            "GITHUB_ACTIONS": "true",
            "GITHUB_OUTPUT": str(tmp_path / "github_output"),
            "GITHUB_STEP_SUMMARY": str(tmp_path / "step_summary"),
        },
        out,
    )
    return rep, out


def test_github_outputs_single_and_multiline(tmp_path):
    rep, out = github(tmp_path)
    rep.set_outputs(OUTPUTS)
    text = (tmp_path / "github_output").read_text()
    assert "version=1.2.3\n" in text
    assert f"digest={OUTPUTS['digest']}\n" in text
    # the multi-line value uses the heredoc form with a delimiter that is not in the value
    m = re.search(r"^tags<<(\S+)\n", text, re.M)
    assert m and m.group(1) not in OUTPUTS["tags"]
    assert text.count(m.group(1)) == 2
    assert parse_github_output(text) == OUTPUTS
    assert out.getvalue() == ""  # no deprecated ::set-output::


def test_github_outputs_append_and_accept_lists(tmp_path):
    (tmp_path / "github_output").write_text("earlier=step\n")
    rep, _ = github(tmp_path)
    rep.set_outputs({"version": "1.0.0"})
    rep.set_outputs({"tags": ["r:1.0.0", "r:1.0"], "version": "1.0.1"})
    parsed = parse_github_output((tmp_path / "github_output").read_text())
    assert parsed == {"earlier": "step", "version": "1.0.1", "tags": "r:1.0.0\nr:1.0"}


def test_github_outputs_heredoc_delimiter_never_in_value(tmp_path):
    out = io.StringIO()
    clash = iter(["EOF", "EOF"])
    rep = GitHubReporter(tmp_path / "o", None, out, delimiter=lambda: next(clash))
    rep.set_outputs({"notes": "line\nEOF\nmore"})
    text = (tmp_path / "o").read_text()
    assert not text.startswith("notes<<EOF\n")
    assert parse_github_output(text) == {"notes": "line\nEOF\nmore"}


def test_github_output_name_is_checked(tmp_path):
    rep, _ = github(tmp_path)
    with pytest.raises(ConfigError) as err:
        rep.set_outputs({"bad name": "x"})
    assert err.value.hint
    with pytest.raises(ConfigError):
        rep.set_outputs({"a<<b": "x"})


def test_github_without_output_file_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    rep = reporter_for({"GITHUB_ACTIONS": "true"}, out)
    rep.set_outputs(OUTPUTS)
    rep.summary("Release", [("Version", "1")])
    assert list(tmp_path.iterdir()) == [] and out.getvalue() == ""


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,20}", fullmatch=True),
    st.text(st.characters(blacklist_characters="\r", blacklist_categories=("Cs",)), max_size=80),
    max_size=5,
))
def test_github_outputs_round_trip(tmp_path_factory, outputs):
    path = tmp_path_factory.mktemp("gh") / "o"
    GitHubReporter(path, None, io.StringIO()).set_outputs(outputs)
    assert parse_github_output(path.read_text() if outputs else "") == outputs


def test_github_summary_is_a_markdown_table(tmp_path):
    rep, _ = github(tmp_path)
    rep.summary("Release 1.2.3", [("Version", "1.2.3"), ("Tags", "r:1\nr:latest"), ("Odd", "a|b <x>")])
    rep.summary("Clean", [("Deleted", "3")])
    text = (tmp_path / "step_summary").read_text()
    assert text == (
        "### Release 1.2.3\n\n| | |\n| --- | --- |\n"
        "| Version | 1.2.3 |\n| Tags | r:1<br>r:latest |\n| Odd | a\\|b &lt;x&gt; |\n\n"
        "### Clean\n\n| | |\n| --- | --- |\n| Deleted | 3 |\n\n"
    )


def test_github_mask_once_per_value(tmp_path):
    rep, out = github(tmp_path)
    rep.mask("s3cr3t")
    rep.mask("s3cr3t")
    rep.mask("")
    rep.mask(None)
    rep.mask("100%\nline2\n   \n")
    assert out.getvalue().splitlines() == ["::add-mask::s3cr3t", "::add-mask::100%25", "::add-mask::line2"]


def test_github_group_wraps_and_closes_on_error(tmp_path):
    rep, out = github(tmp_path)
    with rep.group("Build image"):
        out.write("step 1\n")
    with pytest.raises(RuntimeError):
        with rep.group("Push\nimage 50%"):
            raise RuntimeError("boom")
    assert out.getvalue().splitlines() == [
        "::group::Build image", "step 1", "::endgroup::",
        "::group::Push%0Aimage 50%25", "::endgroup::",
    ]


# --- GitLab CI -------------------------------------------------------------------------------------------


def test_gitlab_dotenv_report(tmp_path):
    out = io.StringIO()
    rep = reporter_for({"GITLAB_CI": "true", "CI_PROJECT_DIR": str(tmp_path)}, out)
    rep.set_outputs(OUTPUTS)
    env = parse_gitlab_dotenv((tmp_path / "release.env").read_text())
    assert env == {
        "RELEASE_VERSION": "1.2.3",
        "RELEASE_TAGS": "ghcr.io/o/r:1.2.3,ghcr.io/o/r:1.2,ghcr.io/o/r:1,ghcr.io/o/r:latest",
        "RELEASE_DIGEST": OUTPUTS["digest"],
        "RELEASE_URL": OUTPUTS["release-url"],
    }
    assert out.getvalue() == ""


def test_gitlab_dotenv_merges_later_outputs(tmp_path):
    rep = GitLabReporter(tmp_path / "release.env", io.StringIO())
    rep.set_outputs({"version": "1.2.3", "tags": ["a:1", "a:latest"]})
    rep.set_outputs({"digest": "sha256:00", "version": "1.2.4"})
    # a second reporter (another task in the same job) adds to the same report
    GitLabReporter(tmp_path / "release.env", io.StringIO(), merge=True).set_outputs({"release-url": "https://x/r"})
    text = (tmp_path / "release.env").read_text()
    assert parse_gitlab_dotenv(text) == {
        "RELEASE_VERSION": "1.2.4", "RELEASE_TAGS": "a:1,a:latest",
        "RELEASE_DIGEST": "sha256:00", "RELEASE_URL": "https://x/r",
    }
    assert text.count("RELEASE_VERSION=") == 1
    assert not list(tmp_path.glob("*.tmp"))


def test_gitlab_dotenv_first_write_of_a_run_replaces_an_older_report(tmp_path):
    """A report left by an earlier job (or run) must not lend this run its digest or release URL."""
    path = tmp_path / "release.env"
    path.write_text("RELEASE_VERSION=0.9.0\nRELEASE_DIGEST=sha256:old\nRELEASE_URL=https://x/old\n")
    rep = GitLabReporter(path, io.StringIO())
    rep.set_outputs({"version": "1.0.0", "tags": ["a:1.0.0"]})
    assert parse_gitlab_dotenv(path.read_text()) == {"RELEASE_VERSION": "1.0.0", "RELEASE_TAGS": "a:1.0.0"}
    rep.set_outputs({"digest": "sha256:new"})  # a later write of the same run merges
    assert parse_gitlab_dotenv(path.read_text()) == {
        "RELEASE_VERSION": "1.0.0", "RELEASE_TAGS": "a:1.0.0", "RELEASE_DIGEST": "sha256:new"}


@pytest.mark.services
def test_gitlab_dotenv_of_an_earlier_job_is_replaced_through_the_cli(tmp_path, registry_repo):
    """`invoke version` in a GitLab job whose directory holds an earlier job's report: only this run's keys."""
    from tests.fixtures.project import clean_env, write_project

    proj = write_project(tmp_path / "app", registry_repo)
    (proj.path / "release.env").write_text(
        "RELEASE_VERSION=0.9.0\nRELEASE_DIGEST=sha256:old\nRELEASE_URL=https://x/old\n")
    env = clean_env(CI="true", GITLAB_CI="true", CI_COMMIT_SHA=proj.head(), CI_COMMIT_BRANCH="main",
                    CI_DEFAULT_BRANCH="main", CI_PIPELINE_SOURCE="push", CI_PROJECT_DIR=str(proj.path))
    proj.invoke("version", "--tag", "v1.0.0", env=env)
    report = parse_gitlab_dotenv((proj.path / "release.env").read_text())
    assert report["RELEASE_VERSION"] == "1.0.0"
    assert "RELEASE_DIGEST" not in report and "RELEASE_URL" not in report, report


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=200))
def test_gitlab_dotenv_values_are_one_line(tmp_path_factory, value):
    path = tmp_path_factory.mktemp("gl") / "release.env"
    GitLabReporter(path, io.StringIO()).set_outputs({"tags": value})
    env = parse_gitlab_dotenv(path.read_text())
    assert env["RELEASE_TAGS"] == ",".join(s.strip() for s in value.splitlines() if s.strip())


def test_gitlab_keys():
    assert GitLabReporter.dotenv_key("release-url") == "RELEASE_URL"
    assert GitLabReporter.dotenv_key("version") == "RELEASE_VERSION"
    assert GitLabReporter.dotenv_key("minor-version") == "RELEASE_MINOR_VERSION"


def test_gitlab_sections_and_no_masks(tmp_path):
    out = io.StringIO()
    ticks = iter([1700000000, 1700000042, 1700000050, 1700000051])
    rep = GitLabReporter(tmp_path / "r.env", out, clock=lambda: next(ticks))
    with rep.group("Build image"):
        out.write("layer 1\n")
    with rep.group("Build image"):
        pass
    rep.mask("s3cr3t")
    assert out.getvalue() == (
        "\x1b[0Ksection_start:1700000000:build_image[collapsed=true]\r\x1b[0KBuild image\n"
        "layer 1\n"
        "\x1b[0Ksection_end:1700000042:build_image\r\x1b[0K\n"
        "\x1b[0Ksection_start:1700000050:build_image_2[collapsed=true]\r\x1b[0KBuild image\n"
        "\x1b[0Ksection_end:1700000051:build_image_2\r\x1b[0K\n"
    )
    assert "s3cr3t" not in out.getvalue()


def test_gitlab_section_names_use_allowed_characters(tmp_path):
    out = io.StringIO()
    rep = GitLabReporter(tmp_path / "r.env", out, clock=lambda: 1)
    with rep.group("Push ghcr.io/o/r:1.2.3 (4 tags) ✓"):
        pass
    names = re.findall(r"section_(?:start|end):1:([^\[\r]+)", out.getvalue())
    assert len(names) == 2 and names[0] == names[1]
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", names[0])


# --- plain -----------------------------------------------------------------------------------------------


def test_plain_reporter(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    rep = reporter_for({}, out)
    rep.set_outputs(OUTPUTS)
    rep.mask("s3cr3t")
    with rep.group("Build image"):
        out.write("x\n")
    rep.summary("Release 1.2.3", [("Version", "1.2.3"), ("Tags", "r:1\nr:2")])
    assert list(tmp_path.iterdir()) == []
    assert out.getvalue() == (
        "==> Build image\nx\nRelease 1.2.3\n  Version  1.2.3\n  Tags     r:1\n           r:2\n"
    )
