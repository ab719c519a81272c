"""docker/metadata-action's outputs where its users read them: step outputs ($GITHUB_OUTPUT), the
DOCKER_METADATA_OUTPUT_* variables ($GITHUB_ENV, the GitLab dotenv report), the bake files under the
output folder; annotation levels; the annotations a manifest or index written by this tool carries.
Through the reporters and through the real `invoke version` (no engine needed)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from image_release.adapters.ci_output import GitHubReporter, GitLabReporter, PlainReporter, reporter_for
from image_release.core import metadata_outputs as mo
from image_release.core.manifest_annotations import annotate, by_level, index_annotations, parse_levels
from image_release.errors import ConfigError
from image_release.pipeline.targets import TargetReporter
from tests.fixtures.gitrepo import GitRepo
from tests.fixtures.project import clean_env
from tests.test_ci_output import parse_gitlab_dotenv
from tests.test_e2e_ci import read_github_output

IMAGE = "127.0.0.1:9/acme/app"  # nothing listens there: a read fails at once


# -- reporters -------------------------------------------------------------------------------------------


def test_github_set_env_writes_github_env_as_the_runner_reads_it(tmp_path):
    env_file = tmp_path / "env"
    gh = reporter_for({"GITHUB_ACTIONS": "true", "GITHUB_ENV": str(env_file)}, io.StringIO())
    gh.set_env({"DOCKER_METADATA_OUTPUT_VERSION": "1.2.3", "DOCKER_METADATA_OUTPUT_TAGS": ["a:1", "a:2"]})
    gh.set_env({"DOCKER_METADATA_OUTPUT_JSON": "{}"})
    assert read_github_output(env_file) == {"DOCKER_METADATA_OUTPUT_VERSION": "1.2.3",
                                            "DOCKER_METADATA_OUTPUT_TAGS": "a:1\na:2", "DOCKER_METADATA_OUTPUT_JSON": "{}"}
    GitHubReporter(None, None, io.StringIO()).set_env({"X": "1"})  # no $GITHUB_ENV: nothing, no error


def test_set_metadata_github_outputs_and_env_gitlab_env_only(tmp_path):
    out, env = tmp_path / "out", tmp_path / "env"
    gh = GitHubReporter(out, None, io.StringIO(), env_path=env)
    gh.set_metadata({"tag-names": "1.2.3\n1.2"}, {"DOCKER_METADATA_OUTPUT_TAG_NAMES": "1.2.3\n1.2"})
    assert read_github_output(out) == {"tag-names": "1.2.3\n1.2"}
    assert read_github_output(env) == {"DOCKER_METADATA_OUTPUT_TAG_NAMES": "1.2.3\n1.2"}
    gh.set_metadata({"labels": "a=b"}, {})
    assert "DOCKER_METADATA_OUTPUT_LABELS" not in env.read_text() and "labels=a=b" in out.read_text()

    dotenv = tmp_path / "release.env"
    gl = GitLabReporter(dotenv, io.StringIO())
    gl.set_outputs({"version": "1.2.3"})
    gl.set_metadata({"tag-names": "1.2.3\n1.2"}, {"DOCKER_METADATA_OUTPUT_TAG_NAMES": "1.2.3\n1.2"})
    assert parse_gitlab_dotenv(dotenv.read_text()) == {"RELEASE_VERSION": "1.2.3",
                                                       "DOCKER_METADATA_OUTPUT_TAG_NAMES": "1.2.3,1.2"}
    with pytest.raises(ConfigError):
        gl.set_env({"BAD-NAME": "x"})
    PlainReporter(io.StringIO()).set_metadata({"a": "b"}, {"A": "b"})  # nowhere to write: nothing


def test_gitlab_dotenv_leaves_out_what_would_overflow_its_limits(tmp_path):
    dotenv = tmp_path / "release.env"
    gl = GitLabReporter(dotenv, io.StringIO())
    gl.set_outputs({"version": "1.2.3", "tags": "r/app:1.2.3"})
    labels = "\n".join(f"org.example.label{i}={'x' * 60}" for i in range(30))
    env = {mo.env_name(n): ("{}" if n != "labels" else labels) for n in mo.OUTPUT_NAMES}
    env[mo.env_name("json")] = json.dumps({"labels": labels})
    env[mo.env_name("annotations")] = labels.replace("org.", "manifest:org.")
    dropped = gl.set_metadata({}, env)
    assert dropped[:2] == ("DOCKER_METADATA_OUTPUT_JSON", "DOCKER_METADATA_OUTPUT_ANNOTATIONS")
    text = dotenv.read_text()
    assert len(text.encode()) <= 5 * 1024 - 512 and "DOCKER_METADATA_OUTPUT_TAG_NAMES" in text
    gl.set_outputs({"digest": "sha256:" + "a" * 64, "release-url": "https://gitlab.example/acme/app/-/releases/v1.2.3"})
    report = parse_gitlab_dotenv(dotenv.read_text())
    assert len(report) <= 20 and len(dotenv.read_bytes()) <= 5 * 1024
    assert GitLabReporter(tmp_path / "small.env", io.StringIO()).set_metadata({}, {"DOCKER_METADATA_OUTPUT_VERSION": "1"}) == ()


class _Recorder:
    def __init__(self):
        self.calls = []

    def set_outputs(self, outputs):
        self.calls.append(("outputs", dict(outputs)))

    def set_env(self, variables):
        self.calls.append(("env", dict(variables)))

    def set_metadata(self, outputs, env):
        self.calls.append(("metadata", dict(outputs), dict(env)))

    def summary(self, title, rows):
        self.calls.append(("summary", title))

    kind = "recorder"


def test_a_target_reporter_names_outputs_after_its_target():
    base = _Recorder()
    alone, one_of_two = TargetReporter(base, "api", sole=True), TargetReporter(base, "web", sole=False)
    alone.set_outputs({"version": "1.2.0"})
    one_of_two.set_outputs({"version": "0.3.0"})
    one_of_two.set_env({"X": "1"})
    alone.set_env({"X": "2"})
    one_of_two.set_metadata({"json": "{}"}, {"DOCKER_METADATA_OUTPUT_JSON": "{}"})
    one_of_two.summary("image-release", [])
    assert base.calls == [
        ("outputs", {"api-version": "1.2.0", "version": "1.2.0"}),
        ("outputs", {"web-version": "0.3.0"}),
        ("env", {"X": "2"}),
        ("metadata", {"web-json": "{}"}, {}),
        ("summary", "image-release: web"),
    ]
    assert alone.kind == "recorder"  # anything else is the base reporter's


# -- annotations -----------------------------------------------------------------------------------------


def test_annotation_levels():
    assert parse_levels(None) == ("manifest",) and parse_levels(" ") == ("manifest",)
    assert parse_levels("manifest, index\nindex-descriptor,index") == ("manifest", "index", "index-descriptor")
    with pytest.raises(ConfigError) as e:
        parse_levels("manifest,image")
    assert "'image'" in e.value.message and "manifest-descriptor" in e.value.hint


def test_what_goes_on_a_manifest_and_on_an_index():
    pairs = (("org.opencontainers.image.description", "An API"), ("org.opencontainers.image.version", "1.2.0"))
    assert by_level(pairs, ("manifest", "index")) == {"manifest": dict(pairs), "index": dict(pairs)}
    # ghcr.io shows a multi-platform package's description from its index: always there
    assert index_annotations(pairs, ("manifest",)) == {"org.opencontainers.image.description": "An API"}
    assert index_annotations(pairs, ("index",)) == dict(pairs)
    raw = json.dumps({"schemaVersion": 2, "manifests": [], "annotations": {"a": "kept"}}).encode()
    got = json.loads(annotate(raw, {"a": "other", "b": "added"}))
    assert got["annotations"] == {"a": "kept", "b": "added"} and got["manifests"] == []
    assert annotate(raw, {"a": "other"}) == raw  # nothing to add: the same bytes, the same digest


# -- through invoke version ------------------------------------------------------------------------------


def _project(tmp_path: Path, extra: str = "") -> GitRepo:
    repo = GitRepo(tmp_path)
    repo.git("init", "-q", "-b", "main")
    (tmp_path / "tasks.py").write_text("from image_release.tasks import ns  # noqa: F401\n")
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "invoke.yaml").write_text(
        "tasks:\n  executor_class: image_release.tasks.ReleaseExecutor\n"
        "release:\n  forge: {type: none}\n  known_versions: {registry: false, remote: false}\n"
        "  retry: {attempts: 1}\n  project: {description: An app}\n" + extra)
    repo.git("add", "-A")
    repo.git("commit", "-qm", "feat: first")
    return repo


def _github(tmp_path: Path, repo: GitRepo, ref: str, **extra) -> dict:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"repository": {"default_branch": "main", "full_name": "acme/app"}}))
    for name in ("out", "env", "summary"):
        (tmp_path / name).write_text("")
    return clean_env(CI="true", GITHUB_ACTIONS="true", GITHUB_EVENT_NAME="push", GITHUB_REF=ref,
                     GITHUB_SHA=repo.head(), GITHUB_REPOSITORY="acme/app", GITHUB_EVENT_PATH=str(event),
                     GITHUB_OUTPUT=str(tmp_path / "out"), GITHUB_ENV=str(tmp_path / "env"),
                     GITHUB_STEP_SUMMARY=str(tmp_path / "summary"), **extra)


def _invoke(path: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=path, env=env, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def app(tmp_path):
    work = tmp_path / "app"
    work.mkdir()
    return work, _project(work, f"  images: [{IMAGE}]\n")


def test_version_on_github_writes_every_output_the_variables_and_the_bake_files(app, tmp_path):
    work, repo = app
    env = _github(tmp_path, repo, "refs/tags/v1.2.3", DOCKER_METADATA_ANNOTATIONS_LEVELS="manifest,index")
    out = _invoke(work, env, "version")
    assert out.returncode == 0, out.stderr
    outputs, variables = read_github_output(tmp_path / "out"), read_github_output(tmp_path / "env")
    assert set(mo.OUTPUT_NAMES) <= set(outputs)
    assert outputs["version"] == "1.2.3"
    assert outputs["tag-names"].splitlines() == ["1.2.3", "1.2", "1", "latest"]
    assert f"{IMAGE}:1.2" in outputs["tags"].splitlines()
    assert "org.opencontainers.image.description=An app" in outputs["labels"].splitlines()
    assert "index:org.opencontainers.image.description=An app" in outputs["annotations"].splitlines()
    assert json.loads(outputs["json"])["tag-names"] == ["1.2.3", "1.2", "1", "latest"]
    assert set(variables) == {mo.env_name(n) for n in mo.OUTPUT_NAMES}
    assert variables["DOCKER_METADATA_OUTPUT_TAG_NAMES"] == outputs["tag-names"]
    bake = json.loads(Path(outputs["bake-file"]).read_text())
    assert Path(outputs["bake-file"]).parent == work / "dist"
    assert bake["target"]["docker-metadata-action"]["tags"] == outputs["tags"].splitlines()
    for name in mo.BAKE_FILE_NAMES:
        assert Path(outputs[name]).is_file() and variables[mo.env_name(name)] == outputs[name]


def test_version_keeps_a_bake_file_whose_content_is_the_same(app, tmp_path):
    work, repo = app
    env = _github(tmp_path, repo, "refs/heads/main")
    assert _invoke(work, env, "version").returncode == 0
    bake = work / "dist" / "docker-metadata-action-bake.json"
    stamp = bake.stat().st_mtime_ns
    assert _invoke(work, env, "version").returncode == 0
    assert bake.stat().st_mtime_ns == stamp


def test_dry_run_writes_no_bake_file_and_set_output_env_false_sets_no_variable(app, tmp_path):
    work, repo = app
    env = _github(tmp_path, repo, "refs/heads/main", DOCKER_METADATA_SET_OUTPUT_ENV="false")
    out = _invoke(work, env, "version", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "dry run: would write metadata-action's 4 bake files" in out.stdout
    assert not (work / "dist").exists()
    outputs = read_github_output(tmp_path / "out")
    assert outputs["version"] == "" and outputs["tag-names"] == "latest"  # safe: the tool's own version
    assert (tmp_path / "env").read_text() == ""


def test_version_json_stays_one_document(app, tmp_path):
    work, repo = app
    out = _invoke(work, _github(tmp_path, repo, "refs/heads/main"), "version", "--json", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["tags"] == [f"{IMAGE}:latest"]


def test_metadata_action_semantics_give_its_own_version_output(tmp_path):
    work = tmp_path / "app"
    work.mkdir()
    repo = _project(work, f"  images: [{IMAGE}]\n  semantics: metadata-action\n")
    out = _invoke(work, _github(tmp_path, repo, "refs/heads/main"), "version")
    assert out.returncode == 0, out.stderr
    outputs = read_github_output(tmp_path / "out")
    assert outputs["version"] == "latest"  # metadata-action's version: the first tag
    assert read_github_output(tmp_path / "env")["DOCKER_METADATA_OUTPUT_VERSION"] == "latest"


def test_a_bad_annotation_level_stops_the_run(app, tmp_path):
    work, repo = app
    out = _invoke(work, _github(tmp_path, repo, "refs/heads/main", DOCKER_METADATA_ANNOTATIONS_LEVELS="image"),
                  "version")
    assert out.returncode == 2 and "unknown annotation level 'image'" in out.stderr


def test_gitlab_dotenv_gets_the_variables_within_its_limits(tmp_path):
    work = tmp_path / "app"
    work.mkdir()
    repo = _project(work, f"  images: [{IMAGE}]\n")
    env = clean_env(CI="true", GITLAB_CI="true", CI_COMMIT_TAG="v2.1.0", CI_COMMIT_SHA=repo.head(),
                    CI_PROJECT_PATH="acme/app", CI_PROJECT_DIR=str(work), CI_SERVER_URL="https://gitlab.example")
    out = _invoke(work, env, "version")
    assert out.returncode == 0, out.stderr
    text = (work / "release.env").read_text()
    report = parse_gitlab_dotenv(text)
    assert report["RELEASE_VERSION"] == "2.1.0" and report["DOCKER_METADATA_OUTPUT_VERSION"] == "2.1.0"
    assert report["DOCKER_METADATA_OUTPUT_TAG_NAMES"] == "2.1.0,2.1,2,latest"
    assert "RELEASE_TAG_NAMES" not in report  # once, under metadata-action's names
    assert len(report) <= 20 and len(text.encode()) <= 5 * 1024  # GitLab's default dotenv limits


def test_several_targets_write_their_outputs_under_their_names(tmp_path):
    work = tmp_path / "mono"
    work.mkdir()
    repo = _project(work, "  targets:\n"
                          "    api: {images: ['127.0.0.1:9/acme/api'], build: {context: api}}\n"
                          "    web: {images: ['127.0.0.1:9/acme/web'], build: {context: web}, tag_prefix: web-}\n")
    repo.commit("feat: parts", {"api/Dockerfile": "FROM scratch\n", "web/Dockerfile": "FROM scratch\n"})
    out = _invoke(work, _github(tmp_path, repo, "refs/heads/main"), "version")
    assert out.returncode == 0, out.stderr
    assert "target api: built - its last build is not known" in out.stdout  # the registry cannot be read
    outputs = read_github_output(tmp_path / "out")
    assert outputs["api-tags"] == "127.0.0.1:9/acme/api:latest" and outputs["web-tags"] == "127.0.0.1:9/acme/web:latest"
    assert "version" not in outputs and "tag-names" not in outputs  # two runs: no plain names
    assert outputs["web-bake-file"] == str(work / "dist" / "web" / "docker-metadata-action-bake.json")
    bake = json.loads(Path(outputs["web-bake-file"]).read_text())
    assert list(bake["target"]) == ["docker-metadata-action-web"]
    assert (tmp_path / "env").read_text() == ""

    out = _invoke(work, _github(tmp_path, repo, "refs/tags/web-v0.3.0"), "version")
    outputs = read_github_output(tmp_path / "out")
    assert outputs["version"] == outputs["web-version"] == "0.3.0" and "api-version" not in outputs
    assert read_github_output(tmp_path / "env")["DOCKER_METADATA_OUTPUT_VERSION"] == "0.3.0"
