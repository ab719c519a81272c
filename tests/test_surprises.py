"""Issue 18's silent surprises, through the real `invoke` CLI: what a newcomer saw succeed or say
something untrue."""

from __future__ import annotations

import pytest

from tests.fixtures.project import clean_env, write_project
from tests.fixtures.services import skopeo_tags

pytestmark = pytest.mark.services


def test_outside_ci_a_branch_build_publishes_only_when_asked(tmp_path, registry_repo):
    """`invoke release` on main with no tag on HEAD pushed `latest` from a developer's dev build."""
    proj = write_project(tmp_path / "app", registry_repo)
    out = proj.invoke("release")
    assert "push: skipped" in out.stdout and "release.publish.outside_ci" in out.stdout
    assert skopeo_tags(registry_repo) == []
    proj.invoke("release", env=clean_env(INVOKE_RELEASE_PUBLISH_OUTSIDE_CI="1"))
    assert skopeo_tags(registry_repo) == ["latest"]


def test_the_plan_of_a_build_says_it_pushes_nothing_in_this_run(tmp_path, registry_repo):
    proj = write_project(tmp_path / "app", registry_repo)
    out = proj.invoke("build", "--tag", "v1.0.0")
    assert "push: yes" not in out.stdout and "release: yes" not in out.stdout
    assert "push: not in this run" in out.stdout and "release: not in this run" in out.stdout
    full = proj.invoke("version", "--tag", "v1.0.0")
    assert "push: yes" in full.stdout and "release: yes" in full.stdout


def test_a_prerelease_plan_says_why_the_floating_tags_stay(tmp_path, registry_repo):
    proj = write_project(tmp_path / "app", registry_repo)
    out = proj.invoke("version", "--tag", "v2.0.0-rc.1")
    for tag in ("2.0", "2", "latest"):
        assert any(line.split()[:2] == ["keep", tag] and "prerelease never moves floating tags" in line
                   for line in out.stdout.splitlines()), (tag, out.stdout)


def test_a_misspelt_release_key_is_an_error_with_a_hint(tmp_path, registry_repo):
    """With `relase:` as the top-level key, `invoke release --tag v1.4.0` built local/<folder>:1.4.0,
    pushed nothing and exited 0."""
    proj = write_project(tmp_path / "app", registry_repo)
    text = (proj.path / "invoke.yaml").read_text().replace("release:\n", "relase:\n")
    (proj.path / "invoke.yaml").write_text(text)
    proj.git("commit", "-qam", "chore: a typo")
    out = proj.invoke("release", "--tag", "v1.4.0", check=False)
    assert out.returncode == 2
    assert "relase" in out.stderr and "release.images" in out.stderr and "hint:" in out.stderr


def test_no_invoke_yaml_is_an_error_naming_where_to_set_the_image(tmp_path, registry_repo):
    proj = write_project(tmp_path / "app", registry_repo)
    proj.git("rm", "-q", "invoke.yaml")
    proj.git("commit", "-qm", "chore: no settings")
    out = proj.invoke("release", "--tag", "v1.4.0", check=False)
    assert out.returncode == 2 and "release.images" in out.stderr, out.stderr


def test_with_the_engine_down_the_error_says_how_to_start_it(tmp_path, registry_repo):
    proj = write_project(tmp_path / "app", registry_repo)
    env = clean_env(DOCKER_HOST=f"unix://{tmp_path}/no-such.sock")
    out = proj.invoke("release", "--tag", "v1.0.0", env=env, check=False)
    assert out.returncode == 1
    assert "Docker engine" in out.stderr and "services.sh start" in out.stderr
    assert "Dockerfile" not in out.stderr
    assert skopeo_tags(registry_repo) == []


@pytest.mark.parametrize("rules, want", [
    (None, "newest stable release or main build, whichever was published last"),
    ("  tags: ['type=semver,pattern={{version}}', 'type=ref,event=branch']\n", "newest stable release"),
], ids=["default-rules", "releases-only"])
def test_the_notes_say_what_latest_is_under_the_rules_in_force(tmp_path, registry_repo, rules, want):
    proj = write_project(tmp_path / "app", registry_repo, rules or "")
    proj.invoke("release", "--tag", "v1.0.0")
    notes = (proj.path / "dist" / "release-notes-1.0.0.md").read_text()
    line = next(ln for ln in notes.splitlines() if ln.startswith(f"docker pull {registry_repo}:latest"))
    assert want in line and (rules is None or "main build" not in line), line
