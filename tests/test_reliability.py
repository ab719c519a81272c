"""Issue 14's defects of the publish protocol, each through the real `invoke` CLI on the real engine and
registry: runs that exited 0 with a wrong registry, replacements that deleted too much or too little, and
bad input accepted before anything was built."""

from __future__ import annotations

import subprocess

import pytest

from tests.fixtures import trials
from tests.fixtures.project import clean_env, write_project
from tests.fixtures.services import skopeo_digest, skopeo_tags

pytestmark = pytest.mark.services


def _not_built(ref: str) -> bool:
    return subprocess.run(["/usr/bin/docker", "image", "inspect", ref], capture_output=True,
                          env=clean_env()).returncode != 0


def test_a_release_without_a_version_tag_never_deletes_another_versions_image(tmp_path, registry_repo):
    """With `tags: [type=raw,value=stable]` only, releasing v1.1.0 deleted v1.0.0's image (still pulled by
    digest). Only the version's own tag says what the old image of a version is."""
    proj = write_project(tmp_path / "app", registry_repo, "  tags: ['type=raw,value=stable']\n")
    proj.invoke("release", "--tag", "v1.0.0")
    first = skopeo_digest(f"{registry_repo}:stable")
    proj.content("1.1.0")
    out = proj.invoke("release", "--tag", "v1.1.0")
    assert skopeo_digest(f"{registry_repo}:stable") != first
    assert skopeo_digest(f"{registry_repo}@{first}") == first, "v1.0.0's image is still there"
    assert "replace" not in out.stdout


def test_a_version_the_rules_cannot_render_is_an_error_before_building(tmp_path, registry_repo):
    proj = write_project(tmp_path / "app", registry_repo)
    out = proj.invoke("release", "--tag", "v99999999999999999999.0.0", check=False)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "no tag to publish" in out.stderr and "hint:" in out.stderr
    assert skopeo_tags(registry_repo) == []
    assert _not_built(f"{registry_repo}:99999999999999999999.0.0")


@pytest.mark.parametrize("args, env", [
    (("release", "--tag", ""), {}),
    (("release", "--tag="), {}),
    (("release", "--tag", "  "), {}),
    (("release",), {"INVOKE_RELEASE_TAG": ""}),
], ids=["empty", "equals", "blank", "env-empty"])
def test_an_empty_tag_is_an_error_not_a_branch_build(tmp_path, registry_repo, args, env):
    """In CI, `--tag "$TAG"` with TAG unset fell back to the branch build and moved `latest`."""
    proj = write_project(tmp_path / "app", registry_repo)
    out = proj.invoke(*args, env=clean_env(**env), check=False)
    assert out.returncode == 2, out.stdout + out.stderr
    assert "empty" in out.stderr and "hint:" in out.stderr
    assert skopeo_tags(registry_repo) == []


@pytest.mark.parametrize("extra, prepare, want", [
    ("  notes:\n    template: notes.j2\n", {"notes.j2": "{% if %}\n"}, "notes.j2, line 1"),
    ("  notes:\n    template: notes.j2\n", {"notes.j2": "Hello {{ nope }}\n"}, "nope"),
    ("  notes:\n    assets: ['file:missing.txt']\n", {}, "missing.txt"),
], ids=["template-syntax", "template-variable", "asset-file"])
def test_release_inputs_are_checked_before_anything_is_built(tmp_path, registry_repo, extra, prepare, want):
    proj = write_project(tmp_path / "app", registry_repo, extra)
    for name, text in prepare.items():
        (proj.path / name).write_text(text)
    proj.git("add", "-A")
    proj.git("commit", "-q", "--allow-empty", "-m", "chore: notes settings")
    out = proj.invoke("release", "--tag", "v1.0.0", check=False)
    assert out.returncode != 0 and want in out.stderr, out.stderr
    assert skopeo_tags(registry_repo) == [] and _not_built(f"{registry_repo}:1.0.0")


def test_a_repository_with_no_commits_is_refused_before_building(tmp_path, registry_repo):
    proj = write_project(tmp_path / "app", registry_repo)
    subprocess.run(["rm", "-rf", str(proj.path / ".git")], check=True)
    proj.git("init", "-q", "-b", "main")
    out = proj.invoke("release", "--tag", "v1.0.0", check=False)
    assert out.returncode != 0 and "error:" in out.stderr and "hint:" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert skopeo_tags(registry_repo) == [] and _not_built(f"{registry_repo}:1.0.0")


def test_a_rerelease_killed_after_marking_is_finished_by_the_next_run(tmp_path, services):
    """The old image of a re-released version stayed forever, untagged, after a kill: the record left on it
    (sha256-<hex>.replaced) lets the re-run delete it."""
    duration = trials.normal_duration(tmp_path / "timing", services.registry)
    problems = trials.kill_trial(tmp_path / "kill", services.registry, 0.7, duration)
    assert problems == []


def test_invoke_clean_finishes_a_replacement_left_marked(tmp_path, registry_repo):
    from image_release.adapters.registry import RegistryClient
    from image_release.core.publish import replaced_tag

    proj = write_project(tmp_path / "app", registry_repo, "  clean:\n    keep: 10\n")
    proj.invoke("release", "--tag", "v1.2.3")
    old = skopeo_digest(f"{registry_repo}:1.2.3")
    host, _, repo = registry_repo.partition("/")
    client = RegistryClient(host)
    client.put_manifest(repo, replaced_tag(old), client.get_manifest(repo, old))  # what a killed run leaves
    proj.content("new")
    proj.invoke("push", "--tag", "v1.2.3", "--dry-run")  # a dry run deletes nothing
    assert skopeo_digest(f"{registry_repo}@{old}") == old
    # the version tag moves on by hand (as a run killed before deleting leaves it)
    other = skopeo_digest(f"{registry_repo}:1.2")
    assert other == old
    dry = proj.invoke("clean", "--dry-run")
    assert "marked replaced" not in dry.stdout  # still tagged 1.2.3, 1.2, 1, latest: not finished yet
    proj.invoke("release", "--tag", "v1.2.3")
    assert skopeo_digest(f"{registry_repo}@{old}") is None
    assert trials.untagged_images(registry_repo) == set()


def test_a_tag_that_is_not_a_version_on_head_leaves_a_branch_build(tmp_path, registry_repo):
    """`invoke build` failed on any commit that also carried a tag such as `deployed-prod`."""
    proj = write_project(tmp_path / "app", registry_repo)
    proj.tag("deployed-prod")
    out = proj.invoke("build")
    sha = proj.git("rev-parse", "--short=7", "HEAD")
    assert "release plan: branch main" in out.stdout
    assert not _not_built(f"{registry_repo}:main-{sha}")


@pytest.mark.slow
@pytest.mark.parametrize("offset", [0.0, 0.5])
def test_a_same_version_race_ends_with_every_tag_on_one_image(tmp_path, services, offset):
    """Two `invoke release --tag v1.2.3` at once from two clones with different content ended with `1.2.3`
    on one image and `1.2`/`1`/`latest` on another, both exiting 0."""
    assert trials.race_trial(tmp_path, services.registry, offset) == []
