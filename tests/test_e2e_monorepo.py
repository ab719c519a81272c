"""A two-target repository (release.targets) end to end: the real `invoke` command line, the real engine
and registry, skopeo checking what landed. `api/v1.2.0`, `web-v0.3.0`, a backport `api/v1.1.5` and pushes
to the default branch each touch their own target only, and each changelog lists only its paths."""

from __future__ import annotations

import json
import subprocess

import pytest

from tests.fixtures.forge_fakes import github_repo
from tests.fixtures.project import Project, clean_env, digests
from tests.fixtures.services import skopeo_digest, skopeo_tags
from tests.test_e2e_ci import read_github_output

pytestmark = pytest.mark.services

REPO = "acme/mono"
GH_TOKEN = "ghs_monorepo_secret_token_value_0123456789"


def skopeo_labels(ref: str) -> dict[str, str]:
    out = subprocess.run(["skopeo", "inspect", "--tls-verify=false", f"docker://{ref}"], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout).get("Labels") or {}


def write_monorepo(path, registry_repo: str, forge: str = "none") -> Project:
    """api/ and web/ with a Dockerfile each; web's paths also name shared/."""
    path.mkdir(parents=True)
    (path / "tasks.py").write_text("from image_release.tasks import ns  # noqa: F401\n")
    (path / "invoke.yaml").write_text(
        "tasks:\n  executor_class: image_release.tasks.ReleaseExecutor\n"
        "release:\n"
        "  build: {network: host}\n"
        f"  forge: {{type: {forge}}}\n"
        "  targets:\n"
        f"    api: {{images: ['{registry_repo}-api'], build: {{context: api}}, tag_prefix: api/}}\n"
        f"    web: {{images: ['{registry_repo}-web'], build: {{context: web}}, tag_prefix: web-, paths: [shared]}}\n")
    for part in ("api", "web"):
        (path / part).mkdir()
        (path / part / "Dockerfile").write_text("FROM scratch\nCOPY payload.txt /payload.txt\n")
        (path / part / "payload.txt").write_text(f"{part} first\n")
    (path / "shared").mkdir()
    (path / "shared" / "common.txt").write_text("common\n")
    (path / "README.md").write_text("# mono\n")
    repo = Project(path, registry_repo)
    repo.git("init", "-q", "-b", "main")
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "chore: the monorepo")
    return repo


@pytest.fixture
def mono(tmp_path, registry_repo):
    return write_monorepo(tmp_path / "mono", registry_repo)


def github_branch_env(project, tmp_path, ref="refs/heads/main", **extra) -> dict:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"repository": {"default_branch": "main", "full_name": REPO}}))
    (tmp_path / "output").write_text("")
    return clean_env(CI="true", GITHUB_ACTIONS="true", GITHUB_EVENT_NAME="push", GITHUB_REF=ref,
                     GITHUB_SHA=project.head(), GITHUB_REPOSITORY=REPO, GITHUB_EVENT_PATH=str(event),
                     GITHUB_SERVER_URL="https://github.com", GITHUB_OUTPUT=str(tmp_path / "output"), **extra)


def test_tags_backport_and_branch_pushes_each_touch_their_own_target(mono, tmp_path):
    api, web = f"{mono.image}-api", f"{mono.image}-web"
    mono.commit("feat(api): api one", {"api/payload.txt": "api 1.1\n"})
    mono.commit("feat(web): web one", {"web/payload.txt": "web 1\n"})
    mono.tag("api/v1.1.0")
    mono.invoke("release", "--tag", "api/v1.1.0")
    assert skopeo_tags(web) == [], "web is not built or touched by api's release"
    v110 = skopeo_digest(f"{api}:1.1.0")
    base = mono.head()

    # api/v1.2.0: api's tags only; its changelog lists api's commits since api/v1.1.0, nothing of web's
    mono.commit("feat(api): api two", {"api/payload.txt": "api 1.2\n"})
    mono.commit("feat(web): web two", {"web/payload.txt": "web 2\n"})
    mono.commit("fix(shared): shared fix", {"shared/common.txt": "common 2\n"})
    mono.commit("docs: readme", {"README.md": "# mono, documented\n"})
    mono.tag("api/v1.2.0")
    out = mono.invoke("release", "--tag", "api/v1.2.0")
    tags = digests(api)
    assert sorted(tags) == ["1", "1.1", "1.1.0", "1.2", "1.2.0", "latest"]
    assert tags["1.2.0"] == tags["1.2"] == tags["1"] == tags["latest"] != v110
    assert tags["1.1.0"] == tags["1.1"] == v110
    assert skopeo_tags(web) == []
    assert "target api (tag prefix 'api/', paths api, git tag api/v1.2.0)" in out.stdout
    notes = (mono.path / "dist" / "release-notes-api-1.2.0.md").read_text()
    assert "api two" in notes and "api/v1.1.0" in notes and "from tag `api/v1.2.0`" in notes
    assert "api one" not in notes and "web" not in notes.split("## Changelog")[1]
    assert "shared fix" not in notes and "readme" not in notes

    # web-v0.3.0: web's tags only (no `0` major), api's untouched; web's changelog: web/ and shared/ only
    mono.tag("web-v0.3.0")
    mono.invoke("release", "--tag", "web-v0.3.0")
    assert sorted(skopeo_tags(web)) == ["0.3", "0.3.0", "latest"]
    assert digests(api) == tags
    notes = (mono.path / "dist" / "release-notes-web-0.3.0.md").read_text()
    changelog = notes.split("## Changelog")[1]
    assert "web one" in changelog and "web two" in changelog and "shared fix" in changelog
    assert "api" not in changelog and "readme" not in changelog and "the monorepo" in changelog

    # a backport api/v1.1.5 on a maintenance branch: 1.1.5 and 1.1 move; 1 and latest stay on 1.2.0
    mono.checkout("-b", "release-1.1", base)
    mono.commit("fix(api): backported fix", {"api/payload.txt": "api 1.1.5\n"})
    mono.tag("api/v1.1.5")
    out = mono.invoke("release", "--tag", "api/v1.1.5")
    after = digests(api)
    assert after["1"] == after["latest"] == tags["1.2.0"]
    assert after["1.1"] == after["1.1.5"] != v110
    assert "floating tags never move backwards" in out.stdout
    notes = (mono.path / "dist" / "release-notes-api-1.1.5.md").read_text()
    assert "backported fix" in notes and "api/v1.1.0" in notes and "api two" not in notes
    assert sorted(skopeo_tags(web)) == ["0.3", "0.3.0", "latest"]

    # the default branch: web changed since its last build (web-v0.3.0's commit), api did not
    mono.checkout("main")
    web_before, api_before = digests(web), digests(api)
    assert skopeo_labels(f"{api}:latest")["org.opencontainers.image.revision"] == mono.git("rev-list", "-n1",
                                                                                            "api/v1.2.0")
    mono.commit("feat(web): web three", {"web/payload.txt": "web 3\n"})
    out = mono.invoke("release", env=github_branch_env(mono, tmp_path))
    assert "target api: not built - no commit touches api since" in out.stdout
    assert "target web: built - 1 commit touches web, shared since" in out.stdout
    assert digests(api) == api_before
    now = digests(web)
    assert now["latest"] != web_before["latest"] and now["0.3.0"] == web_before["0.3.0"]
    assert skopeo_labels(f"{web}:latest")["org.opencontainers.image.revision"] == mono.head()
    outputs = read_github_output(tmp_path / "output")
    assert outputs["web-tags"] == f"{web}:latest" and "api-tags" not in outputs

    # the same push again: nothing changed since the last builds, nothing is built
    out = mono.invoke("release", env=github_branch_env(mono, tmp_path))
    assert "no target changed since its last build: nothing to build" in out.stdout
    assert "==> build" not in out.stdout and digests(web) == now

    # a change under shared/ is web's too; a change under api/ is api's
    mono.commit("fix(shared): shared again", {"shared/common.txt": "common 3\n"})
    mono.commit("feat(api): api on main", {"api/payload.txt": "api main\n"})
    out = mono.invoke("release", env=github_branch_env(mono, tmp_path))
    assert "target api: built - 1 commit touches api since" in out.stdout
    assert "target web: built - 1 commit touches web, shared since" in out.stdout
    assert digests(api)["latest"] != api_before["latest"] and digests(api)["1.2.0"] == api_before["1.2.0"]


def test_build_and_clean_one_target(mono):
    out = mono.invoke("build", "web")  # the target as a positional (invoke build web)
    assert "release plan of web" in out.stdout and "release plan of api" not in out.stdout
    local = subprocess.run(["docker", "image", "ls", "--format", "{{.Repository}}", f"{mono.image}-web"],
                           capture_output=True, text=True, check=True).stdout
    assert f"{mono.image}-web" in local
    api = f"{mono.image}-api"
    for version in ("1.0.0", "1.1.0"):
        mono.commit(f"feat(api): {version}", {"api/payload.txt": f"api {version}\n"})
        mono.commit(f"feat(web): {version}", {"web/payload.txt": f"web {version}\n"})
        mono.tag(f"api/v{version}")
        mono.tag(f"web-v{version}")
        mono.invoke("release", "--tag", f"api/v{version}")
        mono.invoke("release", "--tag", f"web-v{version}")
    web_tags = skopeo_tags(f"{mono.image}-web")
    mono.invoke("clean", "--keep", "1", "--target", "api")
    assert "1.0.0" not in skopeo_tags(api) and "1.1.0" in skopeo_tags(api)
    assert skopeo_tags(f"{mono.image}-web") == web_tags
    out = mono.invoke("clean", "--keep", "1", "--dry-run")
    assert f"retention for {mono.image}-api" in out.stdout and f"retention for {mono.image}-web" in out.stdout
    assert "1.0.0" in skopeo_tags(f"{mono.image}-web")


def test_github_tag_push_releases_the_target_with_its_git_tag_and_name(tmp_path, registry_repo, fake_github):
    github = github_repo(fake_github, REPO, GH_TOKEN, login="github-actions[bot]")
    mono = write_monorepo(tmp_path / "mono", registry_repo, forge="auto")
    mono.commit("feat(api): api one", {"api/payload.txt": "api 1\n"})
    mono.tag("api/v1.2.0")
    env = github_branch_env(mono, tmp_path, ref="refs/tags/api/v1.2.0", GITHUB_API_URL=github.url,
                            GITHUB_TOKEN=GH_TOKEN, GITHUB_ENV=str(tmp_path / "env"))
    out = mono.invoke("release", env=env)
    (release,) = github.releases_for(REPO)
    assert release["tag_name"] == "api/v1.2.0" and release["name"] == "Release api 1.2.0"
    assert skopeo_digest(f"{registry_repo}-api:1.2.0") in release["body"]
    assert skopeo_tags(f"{registry_repo}-web") == []
    outputs = read_github_output(tmp_path / "output")
    assert outputs["version"] == outputs["api-version"] == "1.2.0"
    assert outputs["api-digest"] == outputs["digest"] == skopeo_digest(f"{registry_repo}-api:1.2.0")
    assert outputs["release-url"].endswith(f"/{REPO}/releases/tag/api%2Fv1.2.0")  # the forge's html_url
    variables = read_github_output(tmp_path / "env")
    assert variables["DOCKER_METADATA_OUTPUT_VERSION"] == "1.2.0"
    assert GH_TOKEN not in out.stdout.replace(f"::add-mask::{GH_TOKEN}", "") + out.stderr
    mono.invoke("release", env=env)  # a re-run updates the same release
    assert len(github.releases_for(REPO)) == 1
