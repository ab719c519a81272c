"""docker/metadata-action parity, proven on its own test suite.

tests/data/metadata_action_meta_test.json holds the cases of metadata-action's
``__tests__/meta.test.ts`` (name, fixture, inputs, expected outputs) and the fields of its fixtures
(``__tests__/fixtures/*.env``, ``*.json``, ``repo.json``) that the cases read, as data (made from the
source named in the file's ``source`` field). Each case runs through core as a GitHub Actions run:
``detect_context`` on the fixture's environment and payload, ``make_plan``, then
``core.metadata_outputs``.

- ``release.semantics: metadata-action``: every output is metadata-action's, exactly.
- ``safe`` (the default): every tag that differs names the guarantee that makes it differ, and so
  do the labels; a tag that is not SemVer is refused with a hint that names the guarantee.

Two ways the harness meets the source's own set-up: its clock is mocked (every date, the commit's
too, is 2020-01-10T00:30:00Z), and the repository data comes from ``repo.json`` (here
``release.project``). Where ``images`` is empty, metadata-action outputs bare tags while this tool
falls back to the CI's default image: those cases compare the tag names.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest

from image_release.core import metadata_outputs as mo
from image_release.core.context import BRANCH, Context, detect_context
from image_release.core.default_rules import METADATA_ACTION_DEFAULT_TAGS
from image_release.core.guard import GUARANTEES, METADATA_ACTION_ONLY, OCI_LABELS, SEMVER_TAG, STRICT_RULES
from image_release.core.plan import make_plan
from image_release.core.tag_rules import parse_rules
from image_release.errors import ContextError, RuleError, VersionError
from image_release.settings import parse_settings, plan_settings

DATA = json.loads((Path(__file__).parent / "data" / "metadata_action_meta_test.json").read_text())
NOW = datetime(2020, 1, 10, 0, 30, tzinfo=timezone.utc)
REPO = DATA["repo"]
CASES = DATA["cases"]
LABEL_GROUPS = ("null", "push", "tag", "latest", "pr", "pr-head-sha", "schedule", "release", "raw")


def case_id(case) -> str:
    return case["name"]


def context_of(case) -> Context:
    fixture = DATA["fixtures"][case["env_file"]]
    env = dict(fixture["env"], GITHUB_ACTIONS="true", GITHUB_EVENT_PATH="payload.json")
    if case["group"] == "pr-head-sha":
        env["DOCKER_METADATA_PR_HEAD_SHA"] = "true"
    payload = json.dumps(fixture["payload"])
    try:
        ctx = detect_context(env, now=NOW, read_file=lambda path: payload)
    except ContextError:
        # metadata-action's "null" cases: no ref at all. This tool refuses such a run (ContextError);
        # the evaluator, given that empty context, must give what metadata-action gives: nothing.
        assert case["group"] == "null"
        ctx = Context(event=BRANCH, ref="", sha="", ci="github", source="github", timestamp=NOW)
    return replace(ctx, commit_date=NOW)  # the source mocks every date to its fixed time


def settings_of(case, semantics: str):
    inputs = case["inputs"]
    labels = {}
    for line in inputs.get("labels", []):
        key, sep, value = line.partition("=")
        if sep:
            labels[key] = value
    raw = {
        "images": inputs.get("images", []),
        "tags": inputs.get("tags") or list(METADATA_ACTION_DEFAULT_TAGS),
        "flavor": inputs.get("flavor", []),
        "semantics": semantics,
        "project": {"title": REPO["name"], "description": REPO["description"], "source": REPO["html_url"],
                    "licenses": REPO["license"]},
        "build": {"labels": labels},
    }
    return replace(plan_settings(parse_settings(raw)), annotations=tuple(inputs.get("annotations", ())))


def plan_of(case, semantics: str):
    return make_plan(context_of(case), settings_of(case, semantics), fallback_image="local/app")


def expected_tags(case, plan, tags):
    """Bare tag names where the case gives no image (see the module docstring)."""
    return tags if case["inputs"].get("images") else [t.rsplit(":", 1)[-1] if ":" in t else t for t in tags]


def actual_tags(case, plan):
    return mo.tags(plan) if case["inputs"].get("images") else mo.tag_names(plan)


# -- metadata-action semantics: identical outputs ------------------------------------------------
@pytest.mark.parametrize("case", [c for c in CASES if c["group"] in LABEL_GROUPS], ids=case_id)
def test_metadata_action_semantics_give_its_outputs(case):
    ex_version, ex_tags, ex_labels, ex_annotations = (case["expected"] + [None])[:4]
    plan = plan_of(case, "metadata-action")
    assert mo.version(plan) == (ex_version["main"] or "")
    assert actual_tags(case, plan) == expected_tags(case, plan, ex_tags)
    assert mo.labels(plan) == ex_labels
    assert [f"{k}={v}" for k, v in plan.annotations] == (ex_annotations if ex_annotations is not None else ex_labels)


@pytest.mark.parametrize("case", [c for c in CASES if c["group"] == "json"], ids=case_id)
def test_metadata_action_json_output(case):
    plan = plan_of(case, "metadata-action")
    (want,) = case["expected"]
    got = mo.json_output(plan, "manifest")
    if not case["inputs"].get("images"):
        got["tags"] = mo.tag_names(plan)
    assert got == want
    assert json.loads(mo.outputs(plan)["json"]) == got | {"tags": mo.tags(plan)}


@pytest.mark.parametrize("case", [c for c in CASES if c["group"] == "bakeFile"], ids=case_id)
def test_metadata_action_bake_files(case):
    plan = plan_of(case, "metadata-action")
    want_tags, want_labels, want_annotations = case["expected"]
    target = case["inputs"].get("bakeTarget", mo.DEFAULT_BAKE_TARGET)
    files = mo.bake_files(plan, "index,manifest-descriptor", target)
    assert json.loads(files["bake-file-tags"][1]) == want_tags
    assert json.loads(files["bake-file-labels"][1]) == want_labels
    assert json.loads(files["bake-file-annotations"][1]) == want_annotations


@pytest.mark.parametrize("case", [c for c in CASES if c["group"] == "bakeFileTagsLabels"], ids=case_id)
def test_metadata_action_bake_file_with_tags_and_labels(case):
    plan = plan_of(case, "metadata-action")
    (want,) = case["expected"]
    assert json.loads(mo.bake_files(plan)["bake-file"][1]) == want


@pytest.mark.parametrize("case", [c for c in CASES if c["group"] == "sepTags"], ids=case_id)
def test_metadata_action_tag_separator(case):
    plan = plan_of(case, "metadata-action")
    (want,) = case["expected"]
    assert mo.outputs(plan, sep_tags=case["inputs"]["sepTags"])["tags"] == want


# -- safe semantics: every difference is a named guarantee ---------------------------------------
def _normalised_labels(ex_labels, plan, own):
    """metadata-action's labels as safe semantics write them (the oci-labels guarantee): empty OCI
    values left out, created to the second, version the SemVer version (or the local tag); and the
    revision is the PR's head on a pull request (the pr-head-sha guarantee)."""
    out = {}
    for line in ex_labels:
        key, _, value = line.partition("=")
        oci = key.startswith("org.opencontainers.image.")
        if key in own:  # the user's label, as given
            out[key] = value
            continue
        if key == "org.opencontainers.image.created":
            value = value.replace(".000Z", "Z")
        if key == "org.opencontainers.image.version":
            value = str(plan.version) if plan.version else plan.local_tag
        if key == "org.opencontainers.image.revision":
            value = plan.context.sha
        if oci and not value:
            continue
        out[key] = value
    return out


@pytest.mark.parametrize("case", [c for c in CASES if c["group"] in LABEL_GROUPS], ids=case_id)
def test_safe_semantics_name_the_guarantee_of_every_difference(case):
    ex_version, ex_tags, ex_labels = case["expected"][:3]
    ma = plan_of(case, "metadata-action")
    try:
        plan = plan_of(case, "safe")
    except VersionError as e:  # the semver-tag guarantee: a tag that is not SemVer is refused, and said so
        assert "release.semantics: metadata-action" in e.hint and SEMVER_TAG in e.hint
        assert ma.version is None
        return
    except RuleError as e:  # the strict-rules guarantee: metadata-action's lenient parse ran the rule
        assert STRICT_RULES in GUARANTEES and "tag rule line" in e.message
        assert any(r.lenient for r in parse_rules(settings_of(case, "metadata-action").tags, lenient=True))
        return
    ours, theirs = list(plan.tags), list(ma.tags)
    by_tag = {d.tag: d for d in plan.decisions}
    for tag in set(ours) ^ set(theirs):
        decision = by_tag[tag]
        assert decision.differs_from_metadata_action in GUARANTEES, (tag, decision)
        if tag not in ours and tag not in by_tag:
            raise AssertionError(f"{tag}: metadata-action gives it and the plan does not say why")
        if decision.kind == METADATA_ACTION_ONLY:
            assert not decision.move
    for d in plan.decisions:
        if d.differs_from_metadata_action is None:
            assert d.move and d.tag in theirs
    assert [t for t in ours if t in theirs] == [t for t in theirs if t in ours]  # same order where the same
    own = {line.partition("=")[0] for line in case["inputs"].get("labels", []) if "=" in line}
    assert dict(plan.labels) == _normalised_labels(ex_labels, plan, own), OCI_LABELS


# -- metadata-action's README tables --------------------------------------------------------------
README = json.loads((Path(__file__).parent / "data" / "metadata_action_readme.json").read_text())
SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"
HEAD_SHA = "3370e228f2209994d57af4427fe64e71bb79ac96"


def readme_id(row) -> str:
    return f"{row['section']}: {row['ref']} {row['tags'][0] if len(row['tags']) == 1 else ''}".strip()


def readme_plan(row, semantics: str):
    payload = {"repository": {"default_branch": "master"}}
    if row["event"] == "pull_request":
        number = int(row["ref"].split("/")[2])
        payload.update(number=number, pull_request={"number": number, "head": {"sha": HEAD_SHA}, "base": {"ref": "master"}})
    if "payload_base_ref" in row:
        payload["base_ref"] = row["payload_base_ref"]
    env = {"GITHUB_ACTIONS": "true", "GITHUB_EVENT_NAME": row["event"], "GITHUB_REF": row["ref"], "GITHUB_SHA": SHA,
           "GITHUB_REPOSITORY": "octocat/Hello-World", "GITHUB_EVENT_PATH": "payload.json"}
    ctx = detect_context(env, now=NOW, read_file=lambda path: json.dumps(payload))
    raw = {"images": ["name/app"], "tags": row["tags"], "flavor": row["flavor"], "semantics": semantics}
    return make_plan(ctx, parse_settings(raw))


@pytest.mark.parametrize("row", README["rows"], ids=readme_id)
def test_readme_tables_in_metadata_action_semantics(row):
    plan = readme_plan(row, "metadata-action")
    assert mo.tag_names(plan) == row["want"]
    assert mo.tags(plan) == [f"name/app:{t}" for t in row["want"]]
    assert mo.version(plan) == row["want"][0]


@pytest.mark.parametrize("row", README["rows"], ids=readme_id)
def test_readme_tables_in_safe_semantics(row):
    try:
        plan = readme_plan(row, "safe")
    except VersionError as e:  # semver-tag: 1.2.3rc2, 1.0dev4, 20200110-RC2, p1/v1.2.3 ... are refused, saying why
        assert SEMVER_TAG in e.hint
        return
    by_tag = {d.tag: d for d in plan.decisions}
    for tag in set(plan.tags) ^ set(row["want"]):
        assert by_tag[tag].differs_from_metadata_action in GUARANTEES, (tag, by_tag[tag])
    assert [t for t in plan.tags if t in row["want"]] == [t for t in row["want"] if t in plan.tags]


def test_safe_semantics_say_which_guarantee_in_explain_and_json():
    row = next(r for r in README["rows"] if r["section"] == "Basic" and r["ref"] == "refs/tags/v2.0.8-beta.67")
    plan = readme_plan(row, "safe")
    assert plan.tags == ("v2.0.8-beta.67",)
    assert plan.to_dict()["differs_from_metadata_action"] == {"latest": "prerelease-floating"}
    from image_release.core.plan import explain

    assert "differs from metadata-action: prerelease-floating (prereleases never move floating tags" in explain(plan)
    zero = readme_plan(next(r for r in README["rows"] if r["section"] == "Major version zero"), "safe")
    assert zero.tags == ("0.1.2", "0.1", "latest")
    assert zero.to_dict()["differs_from_metadata_action"] == {"0": "major-zero"}


# -- the CLI path: `invoke version --json` in a temp project, GitHub Actions simulated -------------
def _cli_cases():
    picked, groups = [], {}
    for case in CASES:
        inputs, expected = case["inputs"], case["expected"]
        if case["group"] not in LABEL_GROUPS or not inputs.get("images") or inputs.get("labels") or not expected[1]:
            continue
        if any("2020" in t or "date" in t for t in expected[1] + inputs.get("tags", [])):
            continue  # the CLI's clock is the real one
        if case["env_file"].startswith("event_tag_") and "v1.1.1" not in case["env_file"] and "beta" not in case["env_file"]:
            continue  # not SemVer: pipeline/session.py checks the tag with release_version(ctx) before the plan
        if groups.get(case["group"], 0) < 2:
            groups[case["group"]] = groups.get(case["group"], 0) + 1
            picked.append(case)
    return picked


def _cli_run(tmp_path, case, semantics):
    import subprocess
    import sys

    import yaml

    proj = tmp_path / semantics
    proj.mkdir()
    (proj / "tasks.py").write_text("from image_release.tasks import ns\n")
    inputs = case["inputs"]
    release = {
        "images": inputs["images"], "tags": inputs.get("tags") or list(METADATA_ACTION_DEFAULT_TAGS),
        "flavor": inputs.get("flavor", []), "semantics": semantics,
        "project": {"title": REPO["name"], "description": REPO["description"], "source": REPO["html_url"],
                    "licenses": REPO["license"]},
        "known_versions": {"git": False, "remote": False, "registry": False},
    }
    (proj / "invoke.yaml").write_text(yaml.safe_dump({"release": release}))
    fixture = DATA["fixtures"][case["env_file"]]
    (proj / "event.json").write_text(json.dumps(fixture["payload"]))
    env = {k: v for k, v in __import__("os").environ.items()
           if not k.startswith(("GITHUB_", "GITLAB_", "CI_", "INVOKE_", "RUNNER_", "DOCKER_METADATA_")) and k != "CI"}
    env.update(fixture["env"], GITHUB_ACTIONS="true", GITHUB_EVENT_PATH=str(proj / "event.json"))
    if case["group"] == "pr-head-sha":
        env["DOCKER_METADATA_PR_HEAD_SHA"] = "true"
    src = str(Path(__file__).resolve().parents[1] / "src")
    env["PYTHONPATH"] = src + __import__("os").pathsep + env.get("PYTHONPATH", "")
    res = subprocess.run([sys.executable, "-m", "invoke", "version", "--json"], cwd=proj, env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


CLI_CASES = _cli_cases()


def test_cli_cases_cover_branches_tags_and_pull_requests():
    assert {c["group"] for c in CLI_CASES} >= {"push", "tag", "latest", "pr", "pr-head-sha"}
    assert len(CLI_CASES) >= 8


@pytest.mark.parametrize("case", CLI_CASES, ids=case_id)
def test_cli_version_json_in_both_semantics(tmp_path, case):
    ma = _cli_run(tmp_path, case, "metadata-action")
    assert ma["tags"] == case["expected"][1]  # metadata-action's own expected tags
    assert ma["semantics"] == "metadata-action" and ma["differs_from_metadata_action"] == {}
    safe = _cli_run(tmp_path, case, "safe")
    core = plan_of(case, "safe")
    assert safe["tags"] == list(mo.tags(core))
    differs = safe["differs_from_metadata_action"]
    for ref in set(safe["tags"]) ^ set(ma["tags"]):
        assert differs[ref.rsplit(":", 1)[1]] in GUARANTEES
