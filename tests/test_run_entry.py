"""However the chain is entered, a run does the same reads and checks: `invoke release`, a project's own
task with `pre=[release]`, the collection mounted under another name, with or without image-release's
executor. Through the real `invoke` CLI, on the real engine and registry."""

from __future__ import annotations

import socket
import subprocess

import pytest

from tests.fixtures.services import skopeo_digest, skopeo_tags
from tests.fixtures.project import clean_env, write_project

pytestmark = pytest.mark.services

EXECUTOR_LINE = "tasks:\n  executor_class: image_release.tasks.ReleaseExecutor\n"

SHIP_TASKS = (
    "from invoke import Collection, task\n"
    "import image_release.tasks\n"
    "from image_release.tasks import release\n\n"
    "@task(pre=[release])\n"
    "def ship(c):\n"
    "    print('shipped')\n\n"
    "ns = Collection(ship)\n"
    "ns.add_collection(image_release.tasks.ns, name='image')\n"
    "ns.configure(image_release.tasks.config())\n"
)


def _without_executor(project) -> None:
    text = (project.path / "invoke.yaml").read_text().replace(EXECUTOR_LINE, "")
    (project.path / "invoke.yaml").write_text(text)
    project.git("commit", "-qam", "chore: plain invoke executor")


def _ship_project(tmp_path, image, executor: bool):
    project = write_project(tmp_path / "app", image)
    (project.path / "tasks.py").write_text(SHIP_TASKS)
    project.git("commit", "-qam", "chore: our own task ships the release")
    if not executor:
        _without_executor(project)
    return project


@pytest.mark.parametrize("executor", [True, False], ids=["executor", "plain-invoke"])
def test_a_task_with_pre_release_reads_the_registry_before_moving_floating_tags(tmp_path, registry_repo, executor):
    """The registry knows 1.2.0 (released from another checkout: no git tag here). A backport v1.1.5
    shipped through the project's own task must not move `1` or `latest` backwards: the plan reads the
    registry's versions however the release step was reached."""
    project = _ship_project(tmp_path, registry_repo, executor)
    project.invoke("image.release", "--tag", "v1.2.0")
    newest = skopeo_digest(f"{registry_repo}:1.2.0")
    project.content("backport")
    project.tag("v1.1.5")
    out = project.invoke("ship")
    assert "shipped" in out.stdout
    # The plan itself knows 1.2.0 (not the race repair after publishing, which would also end there).
    assert "keep 1 " in out.stdout and "keep latest" in out.stdout and "repaired" not in out.stdout
    tags = {t: skopeo_digest(f"{registry_repo}:{t}") for t in skopeo_tags(registry_repo)}
    assert tags["1.1.5"] == tags["1.1"] != newest
    assert tags["1"] == tags["latest"] == newest, "floating tags never move backwards"


@pytest.mark.parametrize("executor", [True, False], ids=["executor", "plain-invoke"])
def test_a_task_with_pre_release_checks_the_registry_before_building(tmp_path, executor):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens there once the block ends
    image = f"127.0.0.1:{port}/t/down"
    project = _ship_project(tmp_path, image, executor)
    (project.path / "invoke.yaml").write_text((project.path / "invoke.yaml").read_text()
                                             + "  retry:\n    attempts: 1\n")
    project.git("commit", "-qam", "chore: no retries")
    project.tag("v1.0.0")
    out = project.invoke("ship", check=False)
    assert out.returncode != 0 and f"127.0.0.1:{port}" in out.stderr and "hint:" in out.stderr
    assert "shipped" not in out.stdout
    img = subprocess.run(["/usr/bin/docker", "image", "inspect", f"{image}:1.0.0"], capture_output=True,
                         env=clean_env())
    assert img.returncode != 0, "the registry is checked before anything is built"


def test_without_the_executor_one_task_runs_its_whole_chain(tmp_path, registry_repo):
    project = write_project(tmp_path / "app", registry_repo)
    _without_executor(project)
    out = project.invoke("release", "--tag", "v2.0.0")
    assert out.stdout.count("release plan: version 2.0.0") == 1
    assert skopeo_tags(registry_repo) == ["2", "2.0", "2.0.0", "latest"]


def test_without_the_executor_several_tasks_are_refused_with_the_line_that_fixes_it(tmp_path, registry_repo):
    project = write_project(tmp_path / "app", registry_repo)
    _without_executor(project)
    out = project.invoke("version", "--tag", "v2.1.0", "push", check=False)
    assert out.returncode == 2
    assert "executor_class: image_release.tasks.ReleaseExecutor" in out.stderr
    assert skopeo_tags(registry_repo) == [], "nothing was published"
