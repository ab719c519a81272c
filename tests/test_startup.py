"""Start-up (issue 17): importing the collection does no work beyond declaring it, and `invoke --list` /
`invoke --help TASK` parse and print without starting a process or reading the settings."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

from tests.fixtures.project import clean_env, write_project

ALLOWED = {"image_release", "image_release.defaults", "image_release.errors", "image_release.core",
           "image_release.core.default_rules"}
HEAVY = ("docker", "github", "gitlab", "requests", "jinja2", "semver", "urllib3", "image_release.settings",
         "image_release.pipeline", "image_release.adapters", "image_release.core.plan")


def test_importing_the_collection_imports_only_its_declaration():
    code = ("import sys, json, image_release.tasks; "
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('image_release') or m in "
            f"{HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(json.loads(out))
    assert {m for m in loaded if not m.startswith("image_release.tasks")} <= ALLOWED, loaded
    assert not loaded & set(HEAVY)


def _spy(bin_dir, name: str, log) -> None:
    path = bin_dir / name
    path.write_text(f"#!/bin/sh\necho {name} \"$@\" >> {log}\nexit 1\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def test_list_and_help_start_no_process(tmp_path):
    proj = write_project(tmp_path / "p", "127.0.0.1:5000/t/startup")
    spies, log = tmp_path / "bin", tmp_path / "calls.log"
    spies.mkdir()
    for name in ("git", "docker", "docker-buildx"):
        _spy(spies, name, log)
    env = clean_env(PATH=f"{spies}{os.pathsep}{os.environ['PATH']}")
    listed = proj.invoke("--list", env=env)
    assert "release" in listed.stdout and "clean" in listed.stdout
    helped = proj.invoke("--help", "release", env=env)
    assert "--tag" in helped.stdout and "--dry-run" in helped.stdout
    assert not log.exists(), log.read_text()
