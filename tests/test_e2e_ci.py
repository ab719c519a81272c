"""The tasks as CI runs them: GitHub Actions and GitLab CI environments (event payload, GITHUB_OUTPUT,
GITHUB_STEP_SUMMARY, dotenv report) for a tag, a branch push and a pull/merge request, against the
real engine and registry, with the forges faked on loopback."""

from __future__ import annotations

import json
import re

import pytest

from tests.fakes.gitlab_api import DEVELOPER
from tests.fixtures.forge_fakes import github_repo
from tests.fixtures.services import skopeo_digest, skopeo_tags
from tests.fixtures.project import clean_env, write_project

pytestmark = pytest.mark.services

GH_TOKEN = "ghs_e2e_secret_token_value_0123456789"
JOB_TOKEN = "glcbt-e2e-job-token-value-98765"
REPO = "acme/app"


def read_github_output(path) -> dict[str, str]:
    """Parse $GITHUB_OUTPUT as the runner does: name=value lines and name<<DELIM heredocs."""
    out, lines, i = {}, path.read_text().splitlines(), 0
    while i < len(lines):
        line = lines[i]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delim = line.split("<<", 1)
            j = lines.index(delim, i + 1)
            out[name] = "\n".join(lines[i + 1:j])
            i = j + 1
        else:
            name, _, value = line.partition("=")
            out[name] = value
            i += 1
    return out


@pytest.fixture
def github(fake_github):
    return github_repo(fake_github, REPO, GH_TOKEN, login="github-actions[bot]")


def github_env(project, tmp_path, github, *, event: str, ref: str, payload: dict) -> dict:
    event_file = tmp_path / "event.json"
    event_file.write_text(json.dumps({"repository": {"default_branch": "main", "full_name": REPO}, **payload}))
    (tmp_path / "output").write_text("")
    (tmp_path / "summary").write_text("")
    return clean_env(
        CI="true", GITHUB_ACTIONS="true", GITHUB_EVENT_NAME=event, GITHUB_REF=ref, GITHUB_SHA=project.head(),
        GITHUB_REPOSITORY=REPO, GITHUB_EVENT_PATH=str(event_file), GITHUB_SERVER_URL="https://github.com",
        GITHUB_API_URL=github.url, GITHUB_OUTPUT=str(tmp_path / "output"),
        GITHUB_STEP_SUMMARY=str(tmp_path / "summary"), GITHUB_TOKEN=GH_TOKEN, GITHUB_ACTOR="octocat",
    )


@pytest.fixture
def gh_project(tmp_path, registry_repo):
    # On GitHub the image would default to ghcr.io/acme/app; here it is the loopback registry.
    return write_project(tmp_path / "gh", registry_repo, "  forge:\n    type: auto\n")


def test_github_tag_push_releases_and_writes_outputs(gh_project, tmp_path, github):
    gh_project.tag("v1.4.0")
    env = github_env(gh_project, tmp_path, github, event="push", ref="refs/tags/v1.4.0", payload={})
    out = gh_project.invoke("release", env=env)
    outputs = read_github_output(tmp_path / "output")
    digest = skopeo_digest(f"{gh_project.image}:1.4.0")
    assert outputs["version"] == "1.4.0"
    assert outputs["digest"] == digest
    assert set(outputs["tags"].splitlines()) == {f"{gh_project.image}:{t}" for t in ("1.4.0", "1.4", "1", "latest")}
    releases = github.releases_for(REPO, "v1.4.0")
    assert len(releases) == 1 and not releases[0]["draft"] and not releases[0]["prerelease"]
    assert outputs["release-url"].endswith(f"/{REPO}/releases/tag/v1.4.0")
    assert digest in releases[0]["body"]
    summary = (tmp_path / "summary").read_text()
    assert re.search(r"^\|\s*version\s*\|\s*1\.4\.0\s*\|", summary, re.M), summary
    assert digest in summary
    # The runner masks GITHUB_TOKEN itself: printing ::add-mask::<token> would put the raw value on this
    # process's own stdout, where tee, log files and artifacts keep it (issue 14).
    assert f"::add-mask::{GH_TOKEN}" not in out.stdout
    assert "::group::" in out.stdout and "::endgroup::" in out.stdout
    assert GH_TOKEN not in out.stdout and GH_TOKEN not in out.stderr
    assert GH_TOKEN not in (tmp_path / "output").read_text() + summary

    # Re-running the job updates the same release.
    gh_project.invoke("release", env=env)
    assert len(github.releases_for(REPO, "v1.4.0")) == 1


def test_github_branch_push_publishes_branch_tags_only(gh_project, tmp_path, github):
    env = github_env(gh_project, tmp_path, github, event="push", ref="refs/heads/main", payload={})
    out = gh_project.invoke("release", env=env)
    assert skopeo_tags(gh_project.image) == ["latest"]
    outputs = read_github_output(tmp_path / "output")
    assert outputs["version"] == ""
    assert outputs["tags"] == f"{gh_project.image}:latest"
    assert "release: skipped" in out.stdout
    assert github.releases_for(REPO) == []


def test_github_pull_request_dry_run_pushes_nothing(gh_project, tmp_path, github):
    payload = {"number": 12, "pull_request": {"number": 12, "head": {"sha": gh_project.head()}}}
    env = github_env(gh_project, tmp_path, github, event="pull_request", ref="refs/pull/12/merge", payload=payload)
    env.update(GITHUB_HEAD_REF="feature/x", GITHUB_BASE_REF="main")
    env.pop("GITHUB_TOKEN")  # a dry run needs no write credentials
    out = gh_project.invoke("release", "--dry-run", env=env)
    assert "push: no" in out.stdout
    assert skopeo_tags(gh_project.image) == []
    assert github.releases_for(REPO) == []
    assert read_github_output(tmp_path / "output")["version"] == ""


@pytest.fixture
def gitlab(registry_repo, fake_gitlab):
    project = fake_gitlab.add_project("acme/app", project_id=42, git_tags={"v2.1.0": "a" * 40})
    fake_gitlab.add_job_token(JOB_TOKEN, project=project, access=DEVELOPER)
    return fake_gitlab


def gitlab_env(project, gitlab, registry_repo, **extra) -> dict:
    host = registry_repo.split("/", 1)[0]
    return clean_env(
        CI="true", GITLAB_CI="true", CI_COMMIT_SHA=project.head(), CI_DEFAULT_BRANCH="main",
        CI_PROJECT_PATH="acme/app", CI_PROJECT_ID="42", CI_SERVER_URL=gitlab.url, CI_PROJECT_DIR=str(project.path),
        CI_REGISTRY=host, CI_REGISTRY_IMAGE=registry_repo, CI_REGISTRY_USER="gitlab-ci-token",
        CI_REGISTRY_PASSWORD=JOB_TOKEN, CI_JOB_TOKEN=JOB_TOKEN, **extra,
    )


@pytest.fixture
def gl_project(tmp_path, registry_repo):
    # No release.images: the image comes from $CI_REGISTRY_IMAGE, as on GitLab.
    proj = write_project(tmp_path / "gl", registry_repo, "  forge:\n    type: auto\n")
    text = (proj.path / "invoke.yaml").read_text().replace(f"  images: [{registry_repo}]\n", "")
    (proj.path / "invoke.yaml").write_text(text)
    proj.git("commit", "-qam", "chore: images from CI")
    return proj


def dotenv(project) -> dict[str, str]:
    return dict(line.split("=", 1) for line in (project.path / "release.env").read_text().splitlines() if line)


def test_gitlab_tag_pipeline_releases_and_writes_dotenv(gl_project, gitlab, registry_repo):
    gl_project.tag("v2.1.0")
    env = gitlab_env(gl_project, gitlab, registry_repo, CI_COMMIT_TAG="v2.1.0", CI_PIPELINE_SOURCE="push")
    out = gl_project.invoke("release", env=env)
    assert sorted(skopeo_tags(registry_repo)) == ["2", "2.1", "2.1.0", "latest"]
    report = dotenv(gl_project)
    assert report["RELEASE_VERSION"] == "2.1.0"
    assert report["RELEASE_DIGEST"] == skopeo_digest(f"{registry_repo}:2.1.0")
    assert f"{registry_repo}:2.1" in report["RELEASE_TAGS"]
    assert report["RELEASE_URL"].startswith(gitlab.url)
    assert "section_start:" in out.stdout and "section_end:" in out.stdout
    assert JOB_TOKEN not in out.stdout + out.stderr + (gl_project.path / "release.env").read_text()
    releases = [c for c in gitlab.calls("POST") if c.path.endswith("/releases")]
    assert len(releases) == 1


def test_gitlab_default_branch_and_merge_request(gl_project, gitlab, registry_repo):
    env = gitlab_env(gl_project, gitlab, registry_repo, CI_COMMIT_BRANCH="main", CI_PIPELINE_SOURCE="push")
    gl_project.invoke("release", env=env)
    assert skopeo_tags(registry_repo) == ["latest"]
    assert dotenv(gl_project)["RELEASE_VERSION"] == ""

    before = skopeo_digest(f"{registry_repo}:latest")
    gl_project.content("a merge request")
    env = gitlab_env(gl_project, gitlab, registry_repo, CI_PIPELINE_SOURCE="merge_request_event",
                     CI_MERGE_REQUEST_IID="5", CI_MERGE_REQUEST_SOURCE_BRANCH_NAME="feature",
                     CI_MERGE_REQUEST_TARGET_BRANCH_NAME="main")
    env.pop("CI_JOB_TOKEN")
    out = gl_project.invoke("release", "--dry-run", env=env)
    assert "push: no" in out.stdout
    assert skopeo_tags(registry_repo) == ["latest"] and skopeo_digest(f"{registry_repo}:latest") == before


def test_gitlab_manual_cleanup_job_with_bulk(tmp_path, gitlab):
    """The manual cleanup job on GitLab, handing the work to GitLab's own cleanup (`--bulk`):
    scheduled through the registry API with the job token, reported, never awaited."""
    project = gitlab.projects[42]
    repo = gitlab.add_repository(project)
    for v in ("1.0.0", "1.1.0", "1.2.0", "latest"):
        gitlab.add_registry_tag(repo, v)
    proj = write_project(tmp_path / "cleanup", f"{gitlab.registry_host}/acme/app")
    env = clean_env(
        CI="true", GITLAB_CI="true", CI_COMMIT_SHA=proj.head(), CI_COMMIT_BRANCH="main", CI_DEFAULT_BRANCH="main",
        CI_PIPELINE_SOURCE="web", CI_PROJECT_PATH="acme/app", CI_PROJECT_ID="42", CI_SERVER_URL=gitlab.url,
        CI_PROJECT_DIR=str(proj.path), CI_REGISTRY=gitlab.registry_host, CI_JOB_TOKEN=JOB_TOKEN,
    )
    dry = proj.invoke("clean", "--keep", "2", "--bulk", "--dry-run", env=env)
    assert "would schedule" in dry.stdout and not repo.scheduled
    out = proj.invoke("clean", "--keep", "2", "--bulk", "--older-than", "7d", env=env)
    assert "asynchronously" in out.stdout and "once an hour" in out.stdout
    (params,) = repo.scheduled
    assert params["keep_n"] == 2 and params["older_than"] == "7d"
    assert re.fullmatch(params["name_regex_delete"], "1.2.0") and not re.fullmatch(params["name_regex_delete"], "latest")
    assert sorted(repo.tags) == ["1.0.0", "1.1.0", "1.2.0", "latest"]  # nothing awaited: GitLab works later
    gitlab.run_scheduled_cleanups()  # what GitLab does then: every tag was pushed just now, none older than 7d
    assert sorted(repo.tags) == ["1.0.0", "1.1.0", "1.2.0", "latest"]
    wrong = proj.invoke("clean", "--keep", "2", "--older-than", "7d", env=env, check=False)
    assert wrong.returncode == 2 and "--older-than goes with --bulk" in wrong.stderr
