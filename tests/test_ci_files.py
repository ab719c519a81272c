"""The CI files only install the tool and call its tasks.

Both files are validated against the schemas check-jsonschema vendors (GitHub workflows from SchemaStore,
GitLab CI from GitLab's own repository; offline: `--builtin-schema` reads the copy inside the package).
Then the shape the project promises: triggers as in the process document, one `invoke` line per job after
the install line, least-privilege permissions, no persisted checkout credentials, no `if:` on refs.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
GITLAB = ROOT / ".gitlab-ci.yml"

TASKS = {"version", "build", "clean", "tag", "push", "release"}
INSTALL = re.compile(r"^(pip|pip3|python3? -m pip) install( [\w.\[\],=<>~!'\"/-]+)+$")
# Before the tool's install, a job whose image has the docker CLI but no Python (docker:27, for BuildKit) may
# install Python from the image's own packages: that line, and nothing else.
OS_INSTALL = re.compile(r"^apk add --no-cache python3 py3-pip( git)?$")
CALL = re.compile(r"^(invoke|image-release) (?P<task>[a-z][\w-]*)(?P<args>( --?[\w-]+(=\S+)?( \d+)?)*)$")
# Tasks whose non-dry run writes to the registry, and the one that writes a release.
REGISTRY_WRITERS = {"tag", "push", "release", "clean"}
RELEASE_WRITERS = {"release"}


def check_jsonschema(schema: str, *paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, *map(str, paths)],
        capture_output=True, text=True,
    )


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def triggers(workflow: dict) -> dict:
    # YAML 1.1 (PyYAML) reads the key `on` as the boolean True.
    return workflow.get("on", workflow.get(True))


def calls(lines: list[str]) -> list[re.Match]:
    return [m for m in (CALL.match(line) for line in lines) if m]


def is_dry(call: re.Match) -> bool:
    return "--dry-run" in call.group("args").split()


def script_lines(text: str | list[str]) -> list[str]:
    if isinstance(text, list):
        text = "\n".join(text)
    return [line.strip() for line in text.splitlines() if line.strip()]


def assert_install_then_one_call(lines: list[str], where: str) -> re.Match:
    if lines and OS_INSTALL.match(lines[0]):
        lines = lines[1:]
    for line in lines:
        assert INSTALL.match(line) or CALL.match(line), f"{where}: {line!r} is neither an install nor a task call"
        assert "${{" not in line, f"{where}: expressions in a script invite injection: {line!r}"
    found = calls(lines)
    assert len(found) == 1, f"{where}: exactly one task call, found {len(found)}"
    assert found[0].group("task") in TASKS, f"{where}: unknown task {found[0].group('task')!r}"
    assert INSTALL.match(lines[0]), f"{where}: the tool is installed before it is called"
    assert lines[-1] == found[0].group(0), f"{where}: the task call is the last line"
    return found[0]


# --- schemas ---------------------------------------------------------------------------------------------


def test_there_are_workflows():
    assert [p.name for p in WORKFLOWS] and GITLAB.exists()


def test_github_workflows_match_the_schema():
    proc = check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_gitlab_ci_matches_the_schema():
    proc = check_jsonschema("vendor.gitlab-ci", GITLAB)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_schemas_catch_mistakes(tmp_path):
    """The validation is not vacuous: a misspelt key fails each schema."""
    bad_gl = tmp_path / "bad.gitlab-ci.yml"
    bad_gl.write_text("job:\n  scriptt: [invoke release]\n")
    assert check_jsonschema("vendor.gitlab-ci", bad_gl).returncode == 1
    bad_gh = tmp_path / "bad.yml"
    bad_gh.write_text("on: push\njobs:\n  j:\n    runs-on: ubuntu-latest\n    stepz: []\n")
    assert check_jsonschema("vendor.github-workflows", bad_gh).returncode == 1


# --- GitHub Actions --------------------------------------------------------------------------------------


def github_jobs():
    for path in WORKFLOWS:
        wf = load(path)
        for name, job in wf["jobs"].items():
            yield path.name, wf, name, job


def test_github_triggers_are_the_process_documents():
    """Pushes to main/master, version tags v*, pull requests to main/master; nothing else."""
    push_branches, push_tags, pr_branches, events = set(), set(), set(), set()
    for path in WORKFLOWS:
        on = triggers(load(path))
        assert isinstance(on, dict), f"{path.name}: triggers as a mapping"
        events |= set(on)
        push = on.get("push") or {}
        push_branches |= set(push.get("branches", []))
        push_tags |= set(push.get("tags", []))
        pr_branches |= set((on.get("pull_request") or {}).get("branches", []))
        assert "pull_request_target" not in on, "pull_request_target runs fork code with write tokens"
    assert events == {"push", "pull_request"}
    assert push_branches == {"main", "master"}
    assert push_tags == {"v*"}
    assert pr_branches == {"main", "master"}


def test_github_pull_requests_run_the_chain_as_a_dry_run():
    found = []
    for path in WORKFLOWS:
        wf = load(path)
        if "pull_request" not in triggers(wf):
            continue
        assert set(triggers(wf)) == {"pull_request"}, f"{path.name}: PR jobs stay apart from publishing jobs"
        for job in wf["jobs"].values():
            for call in calls(script_lines([s["run"] for s in job["steps"] if "run" in s])):
                assert is_dry(call), f"{path.name}: a pull request never publishes"
                found.append(call.group("task"))
    assert "release" in found


def test_github_pushes_run_the_release():
    tasks = []
    for path in WORKFLOWS:
        wf = load(path)
        if "push" in triggers(wf):
            for job in wf["jobs"].values():
                tasks += [(c.group("task"), is_dry(c)) for c in calls(script_lines(
                    [s["run"] for s in job["steps"] if "run" in s]))]
    assert ("release", False) in tasks


def test_github_tag_and_branch_runs_share_one_concurrency_group():
    """A tag run and a default-branch run both move `latest`: one group per repository, never per ref, so they
    never run at once (and a running release is never cancelled)."""
    groups = set()
    for path in WORKFLOWS:
        wf = load(path)
        if "push" not in triggers(wf):
            continue
        conc = wf.get("concurrency")
        assert isinstance(conc, dict), f"{path.name}: a concurrency group for publishing runs"
        assert "github.ref" not in conc["group"] and "github.sha" not in conc["group"], f"{path.name}: {conc}"
        assert conc.get("cancel-in-progress") is False, f"{path.name}: a running release is never cancelled"
        groups.add(conc["group"])
    assert len(groups) == 1, groups


def test_github_top_level_permissions_are_empty_or_read():
    for path in WORKFLOWS:
        perms = load(path).get("permissions")
        assert perms in ({}, "read-all") or (
            isinstance(perms, dict) and set(perms.values()) <= {"read", "none"}
        ), f"{path.name}: top-level permissions {perms!r}"


@pytest.mark.parametrize("where,wf,name,job", list(github_jobs()), ids=lambda v: v if isinstance(v, str) else "")
def test_github_job_shape(where, wf, name, job):
    here = f"{where}:{name}"
    assert "if" not in job, f"{here}: the tasks decide what a ref does, not `if:`"
    steps = job["steps"]
    uses = [s["uses"].split("@")[0] for s in steps if "uses" in s]
    assert uses == ["actions/checkout", "actions/setup-python"], here
    for step in steps:
        assert "if" not in step, f"{here}: no `if:` on steps"
        assert ("uses" in step) != ("run" in step), here
        assert "shell" not in step and "working-directory" not in step, here

    checkout = steps[0]
    assert checkout["with"]["fetch-depth"] == 0, f"{here}: tags for the changelog and the floating-tag check"
    assert checkout["with"]["persist-credentials"] is False, f"{here}: the token must not stay in .git/config"
    assert str(steps[1]["with"]["python-version"]) == "3.11", here

    call = assert_install_then_one_call(script_lines([s["run"] for s in steps if "run" in s]), here)

    perms = job.get("permissions")
    assert isinstance(perms, dict), f"{here}: permissions per job"
    assert set(perms.values()) <= {"read", "write", "none"}
    writes = {scope for scope, level in perms.items() if level == "write"}
    task, dry = call.group("task"), is_dry(call)
    allowed = set()
    if not dry and task in RELEASE_WRITERS:
        allowed.add("contents")
    if not dry and task in REGISTRY_WRITERS:
        allowed.add("packages")
    assert writes <= allowed, f"{here}: {task}{' --dry-run' if dry else ''} needs no write to {writes - allowed}"
    if not dry and task == "release":
        assert writes == {"contents", "packages"}, f"{here}: a release pushes images and publishes a release"

    env = {**(wf.get("env") or {}), **(job.get("env") or {})}
    assert env.get("GITHUB_TOKEN") == "${{ secrets.GITHUB_TOKEN }}", f"{here}: the token comes in through env"
    for step in steps:
        assert "GITHUB_TOKEN" not in str(step.get("with", {})), f"{here}: no token in action inputs"


# --- GitLab CI --------------------------------------------------------------------------------------------

GITLAB_RESERVED = {
    "workflow", "stages", "variables", "default", "include", "image", "services", "before_script",
    "after_script", "cache", "pages", "spec",
}


def gitlab_jobs() -> dict[str, dict]:
    doc = load(GITLAB)
    jobs = {}
    for name, job in doc.items():
        if name in GITLAB_RESERVED or name.startswith(".") or not isinstance(job, dict):
            continue
        merged: dict = {}
        parents = job.get("extends", [])
        for parent in [parents] if isinstance(parents, str) else parents:
            for key, value in doc[parent].items():
                merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) else value
        for key, value in job.items():
            merged[key] = {**merged.get(key, {}), **value} if isinstance(value, dict) and key in merged else value
        jobs[name] = merged
    return jobs


def rule_ifs(rules: list[dict]) -> list[str]:
    return [" ".join(r["if"].split()) for r in rules if "if" in r]


TAG_RULE = re.compile(r"^\$CI_COMMIT_TAG =~ /\^v/$")
DEFAULT_BRANCH_RULE = "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH"
MR_RULE = '$CI_PIPELINE_SOURCE == "merge_request_event"'


def test_gitlab_workflow_rules():
    ifs = rule_ifs(load(GITLAB)["workflow"]["rules"])
    assert any(TAG_RULE.match(i) for i in ifs), ifs
    assert DEFAULT_BRANCH_RULE in ifs and MR_RULE in ifs
    assert len(ifs) == 3, "no pipelines for other pushes"


def test_gitlab_has_no_hidden_scripts():
    doc = load(GITLAB)
    for where in [doc, doc.get("default", {}), *[v for v in doc.values() if isinstance(v, dict)]]:
        assert "before_script" not in where and "after_script" not in where
    text = GITLAB.read_text()
    for secret in ("CI_JOB_TOKEN", "CI_REGISTRY_PASSWORD", "GITLAB_TOKEN", "docker login", "curl"):
        assert not re.search(rf"^\s*-.*{re.escape(secret)}", text, re.M), f"the tasks handle {secret} themselves"


def test_gitlab_jobs_only_install_and_call_a_task():
    jobs = gitlab_jobs()
    assert jobs
    for name, job in jobs.items():
        assert "if" not in str(job.get("script")), name
        assert_install_then_one_call(script_lines(job["script"]), f".gitlab-ci.yml:{name}")


def test_gitlab_release_job():
    jobs = gitlab_jobs()
    by_call = {(c.group("task"), is_dry(c)): (n, j) for n, j in jobs.items() for c in calls(script_lines(j["script"]))}
    name, job = by_call[("release", False)]
    ifs = rule_ifs(job["rules"])
    assert any(TAG_RULE.match(i) for i in ifs) and DEFAULT_BRANCH_RULE in ifs, name
    assert MR_RULE not in ifs, "a merge request never publishes"
    assert job["artifacts"]["reports"]["dotenv"] == "release.env"
    # the engine: a Docker-in-Docker service the SDK reaches through DOCKER_HOST
    services = [s["name"] if isinstance(s, dict) else s for s in job["services"]]
    assert any(re.match(r"^docker:[\w.-]*dind$", s) for s in services), services
    assert job["variables"]["DOCKER_HOST"].startswith("tcp://docker:")

    name, job = by_call[("release", True)]
    assert rule_ifs(job["rules"]) == [MR_RULE], f"{name}: merge requests run the chain as a dry run"
    assert job["artifacts"]["reports"]["dotenv"] == "release.env"


def test_gitlab_release_job_image_has_a_docker_cli():
    """BuildKit builds go through the docker CLI: python:3.11 has none (`buildkit: auto` would silently take the
    classic builder). The docker image has it, with buildx."""
    jobs = gitlab_jobs()
    for name, job in jobs.items():
        for call in calls(script_lines(job["script"])):
            if call.group("task") in {"build", "release"} and not is_dry(call):
                image = job["image"]["name"] if isinstance(job["image"], dict) else job["image"]
                assert re.match(r"^docker:\d+(\.\d+)*(-cli)?$", image), f"{name}: {image} has no docker CLI"
                assert "python3" in script_lines(job["script"])[0], f"{name}: Python first, then the tool"


def test_gitlab_dry_run_starts_no_engine():
    """A dry run builds nothing: no privileged Docker-in-Docker service, no engine variables."""
    jobs = gitlab_jobs()
    dry = [(n, j) for n, j in jobs.items() for c in calls(script_lines(j["script"])) if is_dry(c)]
    assert dry
    for name, job in dry:
        assert not job.get("services"), f"{name}: starts {job.get('services')} it does not use"
        assert "DOCKER_HOST" not in (job.get("variables") or {}), name


@pytest.mark.services
def test_a_dry_run_needs_no_engine(tmp_path, registry_repo):
    """What the dry-run jobs rely on: `invoke release --dry-run` with no engine behind DOCKER_HOST."""
    from tests.fixtures.project import clean_env, write_project

    proj = write_project(tmp_path / "app", registry_repo)
    env = clean_env(DOCKER_HOST=f"unix://{tmp_path / 'no-engine.sock'}")
    for args in (["release", "--dry-run"], ["release", "--dry-run", "--tag", "v1.0.0"]):
        out = proj.invoke(*args, env=env, check=False)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "dry run" in out.stdout


def test_gitlab_manual_cleanup_keeps_ten():
    jobs = gitlab_jobs()
    cleanup = [
        (n, j) for n, j in jobs.items() for c in calls(script_lines(j["script"])) if c.group("task") == "clean"
    ]
    assert len(cleanup) == 1
    name, job = cleanup[0]
    # Ten, from invoke.yaml (release.clean.keep), not repeated on the command line.
    assert script_lines(job["script"])[-1] == "invoke clean"
    assert load(ROOT / "invoke.yaml")["release"]["clean"]["keep"] == 10
    assert job["rules"] and all(r.get("when") == "manual" for r in job["rules"]), f"{name}: a manual job"
    assert job.get("allow_failure") is True, f"{name}: an unplayed manual job must not block the pipeline"


def test_gitlab_full_history_for_tags():
    assert str(load(GITLAB)["variables"]["GIT_DEPTH"]) == "0"
