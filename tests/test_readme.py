"""The README's two commands, as a new user runs them: in a clean checkout, in a fresh virtualenv,
against the test services. The release one must show what landed in the registry; the test one
must run pytest (here on one small file, so the suite does not run itself)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

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
        IR_DEMO_DIR=str(base / "demo"),
    )
    return clone, env


def test_local_release_command(checkout):
    clone, env = checkout
    proc = subprocess.run("bash scripts/local-release", shell=True, cwd=clone, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = proc.stdout
    image = "127.0.0.1:5000/example/hello"
    digest = skopeo_digest(f"{image}:1.0.0")
    assert digest and digest in out
    assert {"1.0.0", "1.0"} <= set(skopeo_tags(image))
    for step in ("installing image-release", "making sure a Docker engine", "invoke release --tag v1.0.0",
                 "published (read back from the registry", "release notes:"):
        assert step in out, step
    notes = Path(env["IR_DEMO_DIR"]) / "dist" / "release-notes-1.0.0.md"
    assert notes.is_file() and digest in notes.read_text()


def test_test_command(checkout):
    clone, env = checkout
    proc = subprocess.run("bash scripts/test tests/test_versions.py -q -p no:cacheprovider", shell=True,
                          cwd=clone, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(r"\d+ passed", proc.stdout)
    assert "running the tests" in proc.stderr and "starting the test services" in proc.stderr
