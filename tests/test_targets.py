"""release.targets (monorepos) without the engine: the settings of each target, which target a tag or
HEAD belongs to, what a target's run plans (`invoke version --json` through the real CLI on a git
repository), and the branch-build decision."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from image_release.core.context import Context, GitFacts
from image_release.core.targets import (
    Target, change_decision, git_tag_of, head_facts, own_tags, owner_of, owner_or_error, target_context,
)
from image_release.errors import ConfigError
from image_release.pipeline.run import RunRequest, runs_for
from image_release.target_settings import parse_targets
from tests.fixtures.gitrepo import GitRepo
from tests.fixtures.project import clean_env

API = Target("api", "api/", ("api",))
WEB = Target("web", "web-", ("web", "shared"))
API2 = Target("api2", "api/v2/", ("api2",))

TARGETS = {
    "api": {"images": ["reg.example/acme/api"], "build": {"context": "api"}, "tag_prefix": "api/"},
    "web": {"images": ["reg.example/acme/web"], "build": {"context": "web"}, "tag_prefix": "web-",
            "paths": ["shared"]},
}


# -- core ------------------------------------------------------------------------------------------------


def test_a_tag_belongs_to_the_longest_prefix_it_starts_with():
    targets = (API, WEB, API2)
    assert owner_of(targets, "api/v1.2.0") is API
    assert owner_of(targets, "api/v2/v2.0.0") is API2
    assert owner_of(targets, "web-v0.3.0") is WEB
    assert owner_of(targets, "v1.0.0") is None
    with pytest.raises(ConfigError) as e:
        owner_or_error(targets, "v1.0.0")
    assert "api ('api/')" in e.value.message and "--tag api/v1.2.3" in e.value.hint


def test_a_target_context_strips_the_prefix_and_keeps_the_git_tag():
    ctx = Context(event="tag", ref="refs/tags/api/v1.2.0", tag="api/v1.2.0", sha="a" * 40, source="cli")
    got = target_context(ctx, API)
    assert got.tag == "v1.2.0" and got.ref == "refs/tags/api/v1.2.0" and got.ref_name == "api/v1.2.0"
    assert git_tag_of(got) == "api/v1.2.0" and git_tag_of(ctx) == "api/v1.2.0"
    branch = Context(event="branch", ref="refs/heads/main", branch="main")
    assert target_context(branch, API) is branch and git_tag_of(branch) is None
    other = Context(event="tag", ref="refs/tags/web-v1.0.0", tag="web-v1.0.0", source="github")
    assert target_context(other, API) is other  # another target's tag: as it is (`invoke clean` in its job)


def test_head_facts_keep_the_targets_own_highest_tag():
    facts = GitFacts(sha="a" * 40, exact_tags=("web-v0.3.0", "api/v1.2.0", "api/v1.10.0", "api/v2/v2.0.0"),
                     branch="main")
    targets = (API, WEB, API2)
    assert head_facts(facts, API, targets).exact_tags == ("v1.10.0",)  # the version tag: detection takes it
    assert head_facts(facts, WEB, targets).exact_tags == ("v0.3.0",)
    assert head_facts(facts, API2, targets).exact_tags == ("v2.0.0",)
    assert head_facts(GitFacts(exact_tags=("v1.0.0",)), API, targets).exact_tags == ()
    from_head = Context(event="tag", ref="refs/tags/v1.10.0", tag="v1.10.0", source="git")
    assert target_context(from_head, API).ref_name == "api/v1.10.0"  # the prefix back in the ref only
    assert target_context(from_head, API).tag == "v1.10.0"


def test_known_versions_are_the_targets_own_tags():
    tags = ["v9.0.0", "api/v1.0.0", "api/v1.1.0", "web-v3.0.0", "api/v2/v2.0.0"]
    assert own_tags(tags, API, (API, WEB, API2)) == ["v1.0.0", "v1.1.0"]
    assert own_tags(tags, WEB, (API, WEB, API2)) == ["v3.0.0"]
    assert own_tags(tags, None) == tags


def test_change_decision():
    head = "b" * 40
    unknown = change_decision(API, "r/api:latest", None, "r/api:latest does not exist yet", None, head)
    assert unknown.build and "does not exist yet" in unknown.reason
    no_git = change_decision(API, "r/api:latest", "c" * 40, "git cannot compare", None, head)
    assert no_git.build
    changed = change_decision(API, "r/api:latest", "c" * 40, None, ["x", "y"], head)
    assert changed.build and "2 commits touch api since cccccccccccc" in changed.reason
    same = change_decision(API, "r/api:latest", "c" * 40, None, [], head)
    assert not same.build and "no commit touches api" in same.reason and "r/api:latest" in same.reason


# -- settings --------------------------------------------------------------------------------------------


def test_targets_inherit_release_and_merge_mappings():
    raw = {"images": ["reg.example/acme/app"], "build": {"args": {"A": "1"}, "dockerfile": "Containerfile"},
           "notes": {"requirements": ["x"]}, "targets": {
               "api": {"images": ["reg.example/acme/api"], "build": {"context": "api", "args": {"B": "2"}},
                       "tags": ["type=semver,pattern={{version}}"]},
               "web": {"images": ["reg.example/acme/web"], "build": {"context": "web", "dockerfile": "../docker/web"},
                       "tag_prefix": "web-", "paths": ["shared", "shared"]}}}
    api, web = parse_targets(raw)
    assert api.target == Target("api", "api/", ("api",))  # the default prefix: <name>/
    assert api.settings.images == ("reg.example/acme/api",)
    assert dict(api.settings.build.args) == {"A": "1", "B": "2"}
    assert api.settings.build.dockerfile == "Containerfile" and api.settings.notes.requirements == ("x",)
    assert api.settings.tags == ("type=semver,pattern={{version}}",)
    assert web.settings.tags == parse_targets({"targets": {"x": {}}})[0].settings.tags  # the default rules
    assert web.target.paths == ("web", "docker/web", "shared")  # a Dockerfile outside the context counts
    assert "targets" not in api.raw and "tag_prefix" not in api.raw
    assert parse_targets({"images": ["a/b"]}) == () and parse_targets(None) == ()


@pytest.mark.parametrize("targets, message", [
    ({"api": {"imagez": []}}, "unknown setting release.targets.api.imagez"),
    ({"api": {"tag": "v1"}}, "unknown setting release.targets.api.tag"),
    ({"api": {"build": {"pull": "maybe"}}}, "release.targets.api: release.build.pull"),
    ({"api": 5}, "release.targets.api must be a mapping"),
    ({"1api": {}}, "not a plain name"),
    ({"api": {"tag_prefix": "a b"}}, "cannot start a git tag"),
    ({"api": {"paths": ["../x"]}}, "outside the project"),
    ({"api": {"paths": 3}}, "paths must be a list"),
    ({"api": {"images": ["r/x"], "tag_prefix": "p-"}, "web": {"images": ["r/y"], "tag_prefix": "p-"}},
     "the same tag prefix"),
    ({"api": {"images": ["r/X"]}, "web": {"images": ["name=r/x,enable=false"]}}, "both publish to r/x"),
    ({"api": {}, "web": {}}, "name no images"),
])
def test_bad_targets_are_config_errors_naming_the_target(targets, message):
    with pytest.raises(ConfigError) as e:
        parse_targets({"targets": targets})
    assert message in e.value.message and e.value.hint


def test_release_targets_must_be_a_mapping_and_the_base_is_checked_as_itself():
    with pytest.raises(ConfigError) as e:
        parse_targets({"targets": ["api"]})
    assert "release.targets must be a mapping" in e.value.message
    with pytest.raises(ConfigError) as e:
        parse_targets({"retry": {"attempts": 0}, "targets": {"api": {}}})
    assert e.value.message.startswith("release.retry.attempts")


def test_one_target_may_take_the_ci_default_image():
    (only,) = parse_targets({"targets": {"api": {"build": {"context": "api"}}}})
    assert only.settings.images == ()


# -- runs ------------------------------------------------------------------------------------------------


def _repo(tmp_path: Path) -> GitRepo:
    repo = GitRepo(tmp_path)
    repo.git("init", "-q", "-b", "main")
    repo.commit("feat(api): api", {"api/Dockerfile": "FROM scratch\n"})
    repo.commit("feat(web): web", {"web/Dockerfile": "FROM scratch\n"})
    return repo


def _runs(tmp_path, steps=("plan",), tag=None, options=None, raw=None):
    request = RunRequest(steps=steps, requested=steps, flags={"tag": tag} if tag else {}, options=options or {})
    raw = raw or {"known_versions": {"registry": False}, "targets": TARGETS}
    return runs_for(raw, request, root=tmp_path, env=clean_env())


def test_runs_for_a_tag_is_the_owner_alone(tmp_path):
    _repo(tmp_path)
    (run,) = _runs(tmp_path, tag="web-v0.3.0")
    assert run.target.name == "web" and run.context.tag == "v0.3.0" and run.git_tag == "web-v0.3.0"
    assert run.settings.images == ("reg.example/acme/web",)
    with pytest.raises(ConfigError):
        _runs(tmp_path, tag="v0.3.0")
    with pytest.raises(ConfigError) as e:
        _runs(tmp_path, ("plan", "build"), tag="web-v0.3.0", options={"build": {"target": "api"}})
    assert "is web's" in e.value.message


def test_runs_for_clean_is_every_target_or_the_named_one(tmp_path):
    _repo(tmp_path)
    assert [r.target.name for r in _runs(tmp_path, ("retention",))] == ["api", "web"]
    in_a_tag_job = _runs(tmp_path, ("retention",), tag="api/v1.2.0")
    assert [(r.target.name, r.context.tag) for r in in_a_tag_job] == [("api", "v1.2.0"), ("web", "api/v1.2.0")]
    named = _runs(tmp_path, ("retention",), options={"retention": {"target": "web"}})
    assert [r.target.name for r in named] == ["web"]
    with pytest.raises(ConfigError) as e:
        _runs(tmp_path, ("retention",), options={"retention": {"target": "nope"}})
    assert "the targets are api, web" in e.value.hint


def test_runs_for_head_tags_are_each_targets_own(tmp_path):
    repo = _repo(tmp_path)
    repo.tag("api/v1.2.0")
    repo.tag("web-v0.3.0")
    runs = _runs(tmp_path)
    assert [(r.target.name, r.context.tag, r.git_tag) for r in runs] == [
        ("api", "v1.2.0", "api/v1.2.0"), ("web", "v0.3.0", "web-v0.3.0")]
    repo.git("tag", "-d", "web-v0.3.0")
    assert [r.target.name for r in _runs(tmp_path)] == ["api"]


def test_runs_for_named_target_on_a_branch_is_built_without_looking(tmp_path):
    _repo(tmp_path)
    (run,) = _runs(tmp_path, ("plan", "build"), options={"build": {"target": "api"}})
    assert run.target.name == "api" and run.context.event == "branch"


def test_without_targets_the_one_run_is_as_before(tmp_path):
    _repo(tmp_path)
    (run,) = runs_for({"images": ["reg.example/acme/app"]}, RunRequest(steps=("plan",)), root=tmp_path,
                      env=clean_env())
    assert run.target is None and run.targets == ()


def _invoke(path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "invoke", *args], cwd=path, env=clean_env(), capture_output=True,
                          text=True, timeout=120)


def _cli_project(tmp_path: Path) -> GitRepo:
    repo = _repo(tmp_path)
    (tmp_path / "tasks.py").write_text("from image_release.tasks import ns  # noqa: F401\n")
    (tmp_path / "invoke.yaml").write_text(
        "tasks:\n  executor_class: image_release.tasks.ReleaseExecutor\n"
        "release:\n  forge: {type: none}\n  known_versions: {registry: false}\n  targets:\n"
        "    api: {images: [reg.example/acme/api], build: {context: api}, tag_prefix: api/}\n"
        "    web: {images: [reg.example/acme/web], build: {context: web}, tag_prefix: web-}\n")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "chore: tasks")
    return repo


def test_version_json_shows_the_target_and_its_own_guard(tmp_path):
    repo = _cli_project(tmp_path)
    repo.tag("web-v9.0.0")  # another target's higher version: no business of api's floating tags
    repo.tag("api/v1.3.0", "HEAD~1")
    repo.tag("v9.5.0")  # a tag of no target: no version of web's either
    out = _invoke(tmp_path, "version", "--tag", "api/v1.2.0", "--json")
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    assert plan["target"] == {"name": "api", "tag_prefix": "api/", "paths": ["api"], "git_tag": "api/v1.2.0"}
    assert plan["version"] == "1.2.0" and plan["ref"] == "refs/tags/api/v1.2.0"
    moved = {d["tag"]: d["move"] for d in plan["decisions"]}
    assert moved == {"1.2.0": True, "1.2": True, "1": False, "latest": False}  # api/v1.3.0 is higher
    assert plan["images"] == ["reg.example/acme/api"] and not plan["make_latest"]
    text = _invoke(tmp_path, "version", "--tag", "web-v9.1.0").stdout
    assert "target web (tag prefix 'web-', paths web, git tag web-v9.1.0)" in text
    assert "move latest" in text and "reg.example/acme/api" not in text


def test_version_of_a_tag_of_no_target_is_refused(tmp_path):
    _cli_project(tmp_path)
    out = _invoke(tmp_path, "version", "--tag", "v1.0.0")
    assert out.returncode == 2
    assert "belongs to no target" in out.stderr and "hint:" in out.stderr


def test_build_target_flag_is_checked_and_documented(tmp_path):
    _cli_project(tmp_path)
    out = _invoke(tmp_path, "build", "--target", "nope", "--dry-run")
    assert out.returncode == 2 and "--target nope: no such target" in out.stderr
    assert "--target=STRING" in _invoke(tmp_path, "--help", "build").stdout
    assert "--target=STRING" in _invoke(tmp_path, "--help", "clean").stdout
