"""The README's two commands, as a new user runs them: in a clean checkout, in a fresh virtualenv,
against the test dockerd and a registry of this module's own (so other test runs never see its
example/hello tags). The release one must show what landed in the registry; the test one must run
pytest (here on one small file, so the suite does not run itself)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.registry_extra import free_port
from tests.fixtures.services import skopeo_digest, skopeo_tags

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"^\$ (bash scripts/\S+)\s*$", text, re.M)


def test_readme_names_two_commands_and_ci_runs_the_test_one():
    commands = readme_commands()
    assert commands[:2] == ["bash scripts/local-release", "bash scripts/test"]
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()


def test_readme_says_how_to_stop_what_local_release_started():
    text = (ROOT / "README.md").read_text()
    after = text.split("$ bash scripts/local-release", 1)[1].split("$ bash scripts/test", 1)[0]
    assert "$ bash scripts/services.sh stop" in after


@pytest.fixture(scope="module")
def checkout(tmp_path_factory, services):
    """A clean clone of this repository and a virtualenv, so installing there leaves ours alone."""
    base = tmp_path_factory.mktemp("newcomer")
    clone = base / "image-release"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "GITLAB_", "CI_", "INVOKE_"))}
    env.pop("CI", None)
    env.update(
        PATH=f"{venv / 'bin'}:{env['PATH']}",
        VIRTUAL_ENV=str(venv),
        IR_SERVICES_DIR=str(base / "services"),  # start/stop of our own: never stops the suite's services
        IR_REGISTRY_PORT=str(free_port()),  # local-release starts a registry of our own there
        IR_DEMO_DIR=str(base / "demo"),
    )
    yield clone, env
    # The README's way to stop what local-release started: here our registry only (dockerd was running).
    subprocess.run(["bash", "scripts/services.sh", "stop"], cwd=clone, env=env, capture_output=True, timeout=120)


def image_of(env: dict) -> str:
    return f"127.0.0.1:{env['IR_REGISTRY_PORT']}/example/hello"


def local_release(clone: Path, env: dict, *args: str, **extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "scripts/local-release", *args], cwd=clone, env={**env, **extra},
                          capture_output=True, text=True, timeout=600)


def demo_git(env: dict, *args: str) -> str:
    return subprocess.run(["git", "-C", env["IR_DEMO_DIR"], *args], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture(scope="module")
def first_release(checkout) -> subprocess.CompletedProcess:
    """The README's command as it stands, once for the module: v1.0.0 of the example."""
    clone, env = checkout
    return subprocess.run("bash scripts/local-release", shell=True, cwd=clone, env=env,
                          capture_output=True, text=True, timeout=600)


def test_local_release_command(checkout, first_release):
    clone, env = checkout
    proc = first_release
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    image = image_of(env)
    digest = skopeo_digest(f"{image}:1.0.0")
    assert digest and digest in out
    assert {"1.0.0", "1.0"} <= set(skopeo_tags(image))
    for step in ("installing image-release", "making sure a Docker engine", "invoke release --tag v1.0.0",
                 "published (read back from the registry", "release notes:"):
        assert step in out, step
    notes = Path(env["IR_DEMO_DIR"]) / "dist" / "release-notes-1.0.0.md"
    assert notes.is_file() and digest in notes.read_text()
    assert "scripts/services.sh stop" in out  # how to stop what it started


def run_line(notes: str) -> list[str]:
    """The notes' `docker run` command (continuation lines joined), as a user pastes it."""
    block = re.search(r"```bash\n(docker run .*?)\n```", notes, re.S)
    assert block, notes
    return shlex.split(block.group(1).replace("\\\n", " "))


def test_the_notes_docker_run_line_runs_the_example(checkout, first_release):
    clone, env = checkout
    assert first_release.returncode == 0, first_release.stdout[-3000:] + first_release.stderr[-3000:]
    notes = (Path(env["IR_DEMO_DIR"]) / "dist" / "release-notes-1.0.0.md").read_text()
    argv = [a for a in run_line(notes) if a != "-d"]  # in the foreground, to read what it prints
    assert argv[:2] == ["docker", "run"] and argv[-1] == f"{image_of(env)}:1.0.0"
    ran = subprocess.run(["/usr/bin/docker", *argv[1:2], "--rm", *argv[2:]], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "DOCKER_HOST": "unix:///var/run/docker.sock"})
    assert ran.returncode == 0, ran.stderr  # was: "No command specified"
    assert "hello from the image-release example" in ran.stdout


def test_a_backport_goes_on_a_maintenance_branch_and_names_its_own_notes(checkout, first_release):
    clone, env = checkout
    assert first_release.returncode == 0  # v1.0.0
    for version in ("v1.1.0", "v1.0.1"):
        proc = local_release(clone, env, version)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    notes = Path(env["IR_DEMO_DIR"]) / "dist" / "release-notes-1.0.1.md"
    assert proc.stdout.rstrip().splitlines()[-3] == f"== release notes: {notes}"  # not 1.1.0's, sorted last
    changelog = notes.read_text().split("## Changelog", 1)[1]
    assert "record v1.0.1" in changelog and "record v1.1.0" not in changelog, changelog
    assert subprocess.run(["git", "-C", env["IR_DEMO_DIR"], "merge-base", "--is-ancestor", "v1.1.0", "v1.0.1"]
                          ).returncode == 1, "v1.0.1 is not built on top of v1.1.0"
    assert demo_git(env, "branch", "--contains", "v1.0.1", "--format=%(refname:short)") == "release-1.0"
    tags = {t: skopeo_digest(f"{image_of(env)}:{t}") for t in ("1", "latest", "1.1.0", "1.0", "1.0.1")}
    assert tags["1"] == tags["latest"] == tags["1.1.0"] != tags["1.0"] == tags["1.0.1"]


def test_a_bad_version_touches_no_git(checkout, first_release):
    clone, env = checkout
    assert first_release.returncode == 0
    head, tags = demo_git(env, "rev-parse", "HEAD"), demo_git(env, "tag", "-l")
    proc = local_release(clone, env, "1.2")
    assert proc.returncode == 2 and "not a SemVer version" in proc.stderr
    assert demo_git(env, "rev-parse", "HEAD") == head and demo_git(env, "tag", "-l") == tags
    assert "1.2" not in tags.split()


def test_a_failed_release_takes_back_its_commit_and_tag(checkout, first_release):
    clone, env = checkout
    assert first_release.returncode == 0
    demo_git(env, "checkout", "-q", "main")
    head, tags = demo_git(env, "rev-parse", "HEAD"), demo_git(env, "tag", "-l")
    proc = local_release(clone, env, "v1.3.0", INVOKE_RELEASE_BUILD_TARGET="no-such-stage")  # the build fails
    assert proc.returncode != 0
    assert "no commit, no tag v1.3.0" in proc.stderr
    assert demo_git(env, "rev-parse", "main") == head and demo_git(env, "tag", "-l") == tags


def test_test_command(checkout):
    clone, env = checkout
    proc = subprocess.run("bash scripts/test tests/test_versions.py -q -p no:cacheprovider", shell=True,
                          cwd=clone, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(r"\d+ passed", proc.stdout)
    assert "running the tests" in proc.stderr and "starting the test services" in proc.stderr
