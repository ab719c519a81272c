"""The task chain end to end: the real `invoke` command line, in a temp git repository with a
FROM scratch Dockerfile, against the real dockerd and registry; skopeo checks what landed."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.fixtures.project import clean_env, digests, write_project
from tests.fixtures.services import skopeo_digest, skopeo_tags

pytestmark = pytest.mark.services


def test_release_publishes_every_tag_of_the_plan_on_one_digest(project):
    project.tag("v1.2.3")
    out = project.invoke("release", "--tag", "v1.2.3")
    tags = digests(project.image)
    assert sorted(tags) == ["1", "1.2", "1.2.3", "latest"]
    assert len(set(tags.values())) == 1
    digest = tags["1.2.3"]
    assert digest in out.stdout
    notes = project.path / "dist" / "release-notes-1.2.3.md"
    assert notes.is_file() and str(notes) in out.stdout
    body = notes.read_text()
    assert digest in body and f"docker pull {project.image}:1.2" in body
    assert "release plan" in out.stdout and out.stdout.count("release plan: version") == 1


def test_tag_reaches_pre_tasks_and_composition_runs_each_task_once(project):
    out = project.invoke("version", "--tag", "v0.3.0", "build", "push")
    assert out.stdout.count("release plan: version 0.3.0") == 1
    assert sorted(skopeo_tags(project.image)) == ["0.3", "0.3.0", "latest"]  # no `0` major tag
    assert "nothing is pushed" not in out.stdout
    # `invoke push --tag`: the tag given to push reaches version and build (its pre-tasks).
    project.content("second")
    pushed = project.invoke("push", "--tag", "v0.3.1")
    assert skopeo_digest(f"{project.image}:0.3") == skopeo_digest(f"{project.image}:0.3.1")
    # push stops before the forge step: the release step (forge none) would write and name the notes file
    assert "release notes" not in pushed.stdout
    assert not (project.path / "dist" / "release-notes-0.3.1.md").exists()


def test_rerelease_replaces_the_image_without_touching_other_versions(project):
    project.invoke("release", "--tag", "v1.1.0")
    old_11 = digests(project.image)
    project.content("for 1.2.3")
    project.invoke("release", "--tag", "v1.2.3")
    first = skopeo_digest(f"{project.image}:1.2.3")
    project.content("changed content, same version")
    out = project.invoke("release", "--tag", "v1.2.3")
    after = digests(project.image)
    assert after["1.2.3"] != first
    assert after["1.2"] == after["1"] == after["latest"] == after["1.2.3"]
    assert after["1.1.0"] == old_11["1.1.0"] and after["1.1"] == old_11["1.1"]
    assert skopeo_digest(f"{project.image}@{first}") is None, "the old image of 1.2.3 is deleted"
    assert "replace" in out.stdout


def test_backport_does_not_move_major_or_latest(project):
    base = project.head()
    project.content("1.2.0")
    project.invoke("release", "--tag", "v1.2.0")
    top = skopeo_digest(f"{project.image}:1.2.0")
    project.checkout("-q", "-b", "release-1.1", base)
    project.content("backport")
    project.tag("v1.1.5")
    out = project.invoke("release", "--tag", "v1.1.5")
    tags = digests(project.image)
    assert tags["1"] == tags["latest"] == top
    assert tags["1.1"] == tags["1.1.5"] != top
    assert "floating tags never move backwards" in out.stdout


def test_prerelease_publishes_only_itself(project):
    project.invoke("release", "--tag", "v2.0.0-rc.1")
    assert skopeo_tags(project.image) == ["2.0.0-rc.1"]


def test_development_build_needs_no_tag_and_pushes_nothing(project):
    out = project.invoke("build", "tag")
    sha = project.git("rev-parse", "--short=7", "HEAD")
    ref = f"{project.image}:main-{sha}"
    inspect = subprocess.run(["/usr/bin/docker", "image", "inspect", ref], capture_output=True, env=clean_env())
    assert inspect.returncode == 0, out.stdout + out.stderr
    assert skopeo_tags(project.image) == []


def test_pull_request_builds_and_pushes_nothing(project, tmp_path):
    event = tmp_path / "event.json"
    event.write_text(json.dumps({
        "number": 7, "pull_request": {"number": 7, "head": {"sha": project.head()}},
        "repository": {"default_branch": "main", "full_name": "acme/app"},
    }))
    env = clean_env(
        GITHUB_ACTIONS="true", GITHUB_EVENT_NAME="pull_request", GITHUB_REF="refs/pull/7/merge",
        GITHUB_SHA=project.head(), GITHUB_REPOSITORY="acme/app", GITHUB_EVENT_PATH=str(event),
        GITHUB_HEAD_REF="feature", GITHUB_BASE_REF="main",
    )
    out = project.invoke("release", env=env)
    assert "push: skipped" in out.stdout and "release: skipped" in out.stdout
    assert skopeo_tags(project.image) == []


def test_dry_run_reads_but_writes_nothing(project):
    project.invoke("release", "--tag", "v1.0.0")
    before = digests(project.image)
    project.content("new")
    for args in (["release", "--tag", "v1.1.0", "--dry-run"], ["--dry", "release", "--tag", "v1.1.0"]):
        out = project.invoke(*args)
        assert "dry run" in out.stdout
        assert "move 1.1.0" in out.stdout and "move latest" in out.stdout
        assert "would create or update" in out.stdout
    env = clean_env(INVOKE_RELEASE_DRY_RUN="1")
    project.invoke("release", "--tag", "v1.1.0", env=env)
    assert digests(project.image) == before
    img = subprocess.run(["/usr/bin/docker", "image", "inspect", f"{project.image}:1.1.0"],
                         capture_output=True, env=clean_env())
    assert img.returncode != 0, "a dry run builds nothing"
    assert not (project.path / "dist" / "release-notes-1.1.0.md").exists()


def test_registry_down_fails_before_anything_is_built(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    image = f"127.0.0.1:{port}/t/down"
    proj = write_project(tmp_path / "down", image, "  retry:\n    attempts: 2\n    base_delay: 0.01\n")
    out = proj.invoke("release", "--tag", "v1.0.0", check=False)
    assert out.returncode != 0
    assert "error:" in out.stderr and f"127.0.0.1:{port}" in out.stderr and "hint:" in out.stderr
    assert "Traceback" not in out.stderr
    img = subprocess.run(["/usr/bin/docker", "image", "inspect", f"{image}:1.0.0"], capture_output=True,
                         env=clean_env())
    assert img.returncode != 0, "nothing was built"


def test_bad_tag_stops_before_anything_runs(project):
    out = project.invoke("release", "--tag", "v1.2", check=False)
    assert out.returncode == 2
    assert "not a SemVer version tag" in out.stderr and "vMAJOR.MINOR.PATCH" in out.stderr
    assert "build" not in out.stdout
    assert skopeo_tags(project.image) == []


def test_image_release_console_command(project):
    proc = subprocess.run(["image-release", "--list"], cwd=project.path, capture_output=True, text=True,
                          env=clean_env())
    assert proc.returncode == 0
    for name in ("version", "build", "tag", "push", "release", "clean"):
        assert f"  {name}" in proc.stdout
    out = subprocess.run(["image-release", "version", "--tag", "v3.1.4", "--json"], cwd=project.path,
                         capture_output=True, text=True, env=clean_env())
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["version"] == "3.1.4"
    assert f"{project.image}:3.1" in data["tags"]  # settings read from invoke.yaml in the working directory


def test_clean_keeps_the_newest_versions(project):
    for v in ("v1.0.0", "v1.1.0", "v1.2.0"):
        project.content(v)
        project.invoke("release", "--tag", v)
    dry = project.invoke("clean", "--keep", "2", "--dry-run")
    assert "1.0.0" in dry.stdout
    assert "1.0.0" in skopeo_tags(project.image)
    project.invoke("clean", "--keep", "2")
    tags = skopeo_tags(project.image)
    assert "1.0.0" not in tags
    assert {"1.1.0", "1.2.0", "latest", "1", "1.2", "1.1"} <= set(tags)


def test_composed_into_a_projects_own_tasks(project):
    """The README's composition: the collection under a name, beside the project's own tasks."""
    (project.path / "tasks.py").write_text(
        "from invoke import Collection, task\n"
        "import image_release.tasks\n\n"
        "@task\n"
        "def lint(c):\n"
        "    print('linted')\n\n"
        "ns = Collection(lint)\n"
        "ns.add_collection(image_release.tasks.ns, name='image')\n"
        "ns.configure(image_release.tasks.config())\n"
    )
    project.git("commit", "-qam", "chore: compose the release tasks with our own")
    listing = project.invoke("--list").stdout
    assert "image.release" in listing and "lint" in listing
    out = project.invoke("lint", "image.version", "--tag", "v4.0.0", "image.push")
    assert "linted" in out.stdout
    assert out.stdout.count("release plan: version 4.0.0") == 1
    assert sorted(skopeo_tags(project.image)) == ["4", "4.0", "4.0.0", "latest"]
