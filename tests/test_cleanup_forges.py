"""Cleanup on ghcr.io and GitLab: the real PyGithub / python-gitlab clients against the loopback fakes,
including their 403, 404, 405 and 429 answers."""

from __future__ import annotations

import pytest

from image_release.adapters.deleters import GhcrDeleter, GitLabDeleter, deleter_for
from image_release.adapters.ghcr_packages import GhcrPackages
from image_release.adapters.http_retry import RetryPolicy
from image_release.adapters.gitlab_registry import GitLabRegistry
from image_release.core.retention import plan_replacement, plan_retention
from image_release.errors import AuthError, ConfigError, DeleteRefused, RegistryError
from tests.fakes.github_api import FakeGitHub
from tests.fixtures.cleanup_runs import apply_retention, replace_old_digest, schedule_bulk
from tests.fixtures.forge_fakes import gitlab_project

GH_TOKEN = "ghp_cleanup_secret_789"
GL_TOKEN = "glpat-cleanup-secret-321"
JOB_TOKEN = "glcbt-cleanup-job-654"


def d(ch: str) -> str:
    return "sha256:" + ch * 64


# ============================================================================================ GHCR


@pytest.fixture
def gh(fake_github):
    fake_github.add_token(GH_TOKEN, login="octo")
    fake_github.add_package("acme", "app", owner_type="org", versions=[
        (d("1"), ["1.0.0"]),
        (d("2"), ["1.1.0", "1.1"]),
        (d("3"), ["1.2.0"]),
        (d("4"), ["2.0.0-rc.1"]),
        (d("5"), ["2.0.0", "2.0", "2", "latest"]),
        (d("6"), []),  # an untagged platform manifest of some index
    ])
    return fake_github


def ghcr(gh: FakeGitHub, token: str = GH_TOKEN) -> GhcrDeleter:
    packages = GhcrPackages(token, api_url=gh.url, retry=RetryPolicy(attempts=3, base_delay=0),
                            seconds_between_requests=0, seconds_between_writes=0)
    return GhcrDeleter(packages, "acme", "app")


def versions(gh: FakeGitHub) -> dict[str, list[str]]:
    return {v.name: sorted(v.tags) for v in gh.packages[("acme", "app")].versions.values()}


def test_ghcr_tags_by_digest_lists_tagged_versions_only(gh):
    assert ghcr(gh).tags_by_digest() == {
        d("1"): ["1.0.0"], d("2"): ["1.1", "1.1.0"], d("3"): ["1.2.0"], d("4"): ["2.0.0-rc.1"],
        d("5"): ["2", "2.0", "2.0.0", "latest"],
    }


def test_ghcr_retention_deletes_whole_versions_and_reports_a_shared_tag_as_left_behind(gh):
    deleter = ghcr(gh)
    plan = plan_retention(deleter.tags_by_digest(), keep=1, keep_prereleases=0)
    report = apply_retention(deleter, plan, dry_run=False)

    after = versions(gh)
    assert d("1") not in after and d("3") not in after and d("4") not in after  # whole versions gone
    assert after[d("2")] == ["1.1", "1.1.0"]  # 1.1.0 shares its version with the floating 1.1
    assert after[d("5")] == ["2", "2.0", "2.0.0", "latest"]
    assert d("6") in after  # untagged versions are never touched
    assert [i.what.split(" (")[0] for i in report.left_behind] == ["tag 1.1.0"]
    assert "also carries 1.1" in report.left_behind[0].detail
    assert not report.ok
    text = "\n".join(report.lines())
    assert "WARNING: left behind tag 1.1.0" in text
    deletes = gh.calls("DELETE")
    assert len(deletes) == 3 and all(r.status == 204 for r in deletes)


def test_ghcr_shared_tag_fails_with_fail_on_refused(gh):
    deleter = ghcr(gh)
    plan = plan_retention(deleter.tags_by_digest(), keep=1, keep_prereleases=0)
    with pytest.raises(DeleteRefused) as exc:
        apply_retention(deleter, plan, dry_run=False, fail_on_refused=True)
    assert "tag 1.1.0" in exc.value.message and exc.value.hint
    assert len(exc.value.report.deleted) == 3  # what could go, went


def test_ghcr_dry_run_deletes_nothing_and_says_what_would_stay(gh):
    deleter = ghcr(gh)
    before = versions(gh)
    plan = plan_retention(deleter.tags_by_digest(), keep=1, keep_prereleases=0)
    report = apply_retention(deleter, plan, dry_run=True, fail_on_refused=True)  # a dry run never fails
    assert versions(gh) == before
    assert not gh.calls("DELETE")
    text = "\n".join(report.lines())
    assert "dry run, nothing deleted" in text
    assert f"would delete manifest sha256:{'1' * 12} (tags 1.0.0)" in text
    assert "left behind tag 1.1.0" in text


def test_ghcr_replacement_deletes_the_old_untagged_version(gh):
    # the release pushed 2.0.0 again with changed content: GHCR moved the tags to a new version
    pkg = gh.packages[("acme", "app")]
    old = next(v for v in pkg.versions.values() if v.name == d("5"))
    old.tags = []
    pkg.versions[9999] = type(old)(id=9999, name=d("n"), tags=["2.0.0", "2.0", "2", "latest"])
    deleter = ghcr(gh)
    plan = plan_replacement("2.0.0", d("5"), d("n"), deleter.tags_by_digest())
    report = replace_old_digest(deleter, plan, dry_run=False)
    assert d("5") not in versions(gh) and versions(gh)[d("n")] == ["2", "2.0", "2.0.0", "latest"]
    assert report.deleted and "untagged" in report.deleted[0].detail


def test_ghcr_replacement_refuses_when_the_old_version_gained_a_tag(gh):
    deleter = ghcr(gh)
    plan = plan_replacement("1.2.0", d("3"), d("5"), {d("5"): ["1.2.0"]})  # planned on a stale read
    report = replace_old_digest(deleter, plan, dry_run=False)
    assert d("3") in versions(gh)  # 1.2.0 is still on it in the registry: not deleted
    assert "would remove those tags too" in report.left_behind[0].detail


@pytest.mark.parametrize("status, error", [(403, AuthError), (429, RegistryError)])
def test_ghcr_errors_stop_the_cleanup_and_say_what_was_done(gh, status, error):
    deleter = ghcr(gh)
    plan = plan_retention(deleter.tags_by_digest(), keep=1, keep_prereleases=0)
    gh.fail("DELETE", r"/versions/\d+$", status, times=10, headers={"Retry-After": "0"})
    with pytest.raises(error) as exc:
        apply_retention(deleter, plan, dry_run=False)
    assert "stopped; deleted so far: nothing" in exc.value.message
    assert exc.value.hint
    assert GH_TOKEN not in str(exc.value)


def test_ghcr_405_leaves_everything_and_warns(gh):
    deleter = ghcr(gh)
    plan = plan_retention(deleter.tags_by_digest(), keep=1, keep_prereleases=0)
    gh.fail("DELETE", r"/versions/\d+$", 405, times=10)
    report = apply_retention(deleter, plan, dry_run=False)
    assert report.deleted == []
    assert len(report.left_behind) == 4  # three versions and the shared tag
    assert sum("not attempted" in i.detail for i in report.left_behind) == 3
    assert len(gh.calls("DELETE")) == 1  # a registry-wide refusal is not asked again


def test_ghcr_404_on_delete_counts_as_already_gone(gh):
    deleter = ghcr(gh)
    plan = plan_retention(deleter.tags_by_digest(), keep=2, keep_prereleases=1)
    gh.fail("DELETE", r"/versions/\d+$", 404)
    report = apply_retention(deleter, plan, dry_run=False)
    assert [i.detail for i in report.deleted] == ["already gone"]


def test_ghcr_unknown_package_is_a_404_registry_error(gh):
    packages = GhcrPackages(GH_TOKEN, api_url=gh.url, retry=RetryPolicy(attempts=1), seconds_between_requests=0,
                            seconds_between_writes=0)
    with pytest.raises(RegistryError) as exc:
        GhcrDeleter(packages, "acme", "nope").tags_by_digest()
    assert exc.value.status == 404


# ========================================================================================== GitLab


@pytest.fixture
def gl(fake_gitlab):
    return fake_gitlab


@pytest.fixture
def glrepo(gl):
    project = gitlab_project(gl, GL_TOKEN, JOB_TOKEN, reporter_token="glpat-reporter")
    repo = gl.add_repository(project)
    for digest, tags in [(d("1"), ["1.0.0"]), (d("2"), ["1.1.0", "1.1"]), (d("3"), ["1.2.0"]),
                         (d("4"), ["2.0.0-rc.1"]), (d("5"), ["2.0.0", "2.0", "2", "latest"])]:
        for tag in tags:
            gl.add_registry_tag(repo, tag, digest=digest)
    return repo


def gitlab(gl, repo, token=GL_TOKEN, job_token=None) -> GitLabDeleter:
    registry = GitLabRegistry(gl.url, 7, token=token if job_token is None else None, job_token=job_token,
                              timeout=5, retry=RetryPolicy(attempts=3, base_delay=0))
    return GitLabDeleter(registry, repo.id, image="registry.example.com/group/proj")


def test_gitlab_retention_deletes_single_tags_and_keeps_floating_ones(gl, glrepo):
    deleter = gitlab(gl, glrepo)
    plan = plan_retention(deleter.tags_by_digest(), keep=1, keep_prereleases=0)
    report = apply_retention(deleter, plan, dry_run=False)
    assert sorted(glrepo.tags) == ["1.1", "2", "2.0", "2.0.0", "latest"]
    assert report.ok
    assert {i.what.split(" (")[0] for i in report.deleted} == {
        f"manifest sha256:{'1' * 12}", f"manifest sha256:{'3' * 12}", f"manifest sha256:{'4' * 12}", "tag 1.1.0"}
    assert any("garbage collection" in i.detail for i in report.deleted)


def test_gitlab_job_token_can_clean_its_own_project(gl, glrepo):
    deleter = gitlab(gl, glrepo, job_token=JOB_TOKEN)
    plan = plan_retention(deleter.tags_by_digest(), keep=2, keep_prereleases=0)
    apply_retention(deleter, plan, dry_run=False)
    assert sorted(glrepo.tags) == ["1.1", "1.2.0", "2", "2.0", "2.0.0", "latest"]
    assert all(r.auth == "job" for r in gl.requests)


def test_gitlab_dry_run_deletes_nothing(gl, glrepo):
    deleter = gitlab(gl, glrepo)
    before = sorted(glrepo.tags)
    plan = plan_retention(deleter.tags_by_digest(), keep=1, keep_prereleases=0)
    report = apply_retention(deleter, plan, dry_run=True)
    assert sorted(glrepo.tags) == before
    assert not gl.calls("DELETE")
    assert len(report.deleted) == 4 and report.ok


def test_gitlab_replacement_of_an_untagged_old_digest_leaves_it_to_garbage_collection(gl, glrepo):
    deleter = gitlab(gl, glrepo)
    for tag in ("2.0.0", "2.0", "2", "latest"):
        gl.add_registry_tag(glrepo, tag, digest=d("n"))  # the re-release moved every tag
    plan = plan_replacement("2.0.0", d("5"), d("n"), deleter.tags_by_digest())
    report = replace_old_digest(deleter, plan, dry_run=False)
    assert plan.delete_digest == d("5")
    assert "garbage collection" in report.deleted[0].detail
    assert not gl.calls("DELETE")


def test_gitlab_protected_tag_403_is_left_behind_and_the_rest_goes(gl, glrepo):
    glrepo.tags["1.0.0"].protected = True
    deleter = gitlab(gl, glrepo)
    plan = plan_retention(deleter.tags_by_digest(), keep=1, keep_prereleases=0)
    report = apply_retention(deleter, plan, dry_run=False)
    assert "1.0.0" in glrepo.tags and "1.2.0" not in glrepo.tags and "1.1.0" not in glrepo.tags
    assert [i.what.split(" (")[0] for i in report.left_behind] == [f"manifest sha256:{'1' * 12}"]
    assert "403" in report.left_behind[0].detail


def test_gitlab_protected_tag_fails_with_fail_on_refused(gl, glrepo):
    glrepo.tags["1.0.0"].protected = True
    deleter = gitlab(gl, glrepo)
    plan = plan_retention(deleter.tags_by_digest(), keep=1, keep_prereleases=0)
    with pytest.raises(DeleteRefused) as exc:
        apply_retention(deleter, plan, dry_run=False, fail_on_refused=True)
    assert "left images behind: manifest sha256:111111111111" in exc.value.message
    assert "1.2.0" not in glrepo.tags  # the others were still deleted


def test_gitlab_405_is_a_warning_naming_what_was_left(gl, glrepo):
    deleter = gitlab(gl, glrepo)
    plan = plan_retention(deleter.tags_by_digest(), keep=1, keep_prereleases=0)
    gl.inject("DELETE", r"/tags/", 405, times=10)
    report = apply_retention(deleter, plan, dry_run=False)
    assert not report.deleted and len(report.left_behind) == 4
    assert len(gl.calls("DELETE")) == 1
    assert "refused deletion" in "\n".join(report.lines())
    with pytest.raises(DeleteRefused) as exc:
        gl.inject("DELETE", r"/tags/", 405, times=10)
        apply_retention(deleter, plan, dry_run=False, fail_on_refused=True)
    assert "left images behind" in exc.value.message and exc.value.hint


def test_gitlab_404_counts_as_already_gone(gl, glrepo):
    deleter = gitlab(gl, glrepo)
    plan = plan_retention(deleter.tags_by_digest(), keep=2, keep_prereleases=1)
    del glrepo.tags["1.0.0"]  # someone deleted it meanwhile
    report = apply_retention(deleter, plan, dry_run=False)
    assert report.ok and len(report.deleted) == 2
    assert report.deleted[0].what.startswith(f"manifest sha256:{'1' * 12}")
    assert report.deleted[0].detail.startswith("its tags were already gone")


def test_gitlab_429_that_persists_stops_with_progress(gl, glrepo):
    deleter = gitlab(gl, glrepo)
    plan = plan_retention(deleter.tags_by_digest(), keep=1, keep_prereleases=0)
    gl.inject("DELETE", r"/tags/1\.2\.0$", 429, times=10, headers={"Retry-After": "0"})
    with pytest.raises(RegistryError) as exc:
        apply_retention(deleter, plan, dry_run=False)
    assert exc.value.status == 429
    assert "deleted so far: manifest" in exc.value.message and "not done:" in exc.value.message
    assert GL_TOKEN not in str(exc.value)


def test_gitlab_reporter_is_forbidden_and_left_behind(gl, glrepo):
    deleter = gitlab(gl, glrepo, token="glpat-reporter")
    plan = plan_retention(deleter.tags_by_digest(), keep=2, keep_prereleases=1)
    report = apply_retention(deleter, plan, dry_run=False)
    assert "1.0.0" in glrepo.tags and report.left_behind


def test_gitlab_bulk_delete_is_scheduled_and_reported_not_awaited(gl, glrepo):
    deleter = gitlab(gl, glrepo)
    report = schedule_bulk(deleter, r"\d+\.\d+\.\d+.*", keep_n=2, older_than="1d")
    text = "\n".join(report.lines())
    assert "asynchronously" in text and "once an hour" in text and "latest" in text
    assert sorted(glrepo.tags)[0] == "1.0.0"  # nothing deleted yet: it runs in the background
    assert glrepo.scheduled
    with pytest.raises(RegistryError, match="within the last hour"):
        schedule_bulk(deleter, ".*")


def test_gitlab_bulk_dry_run_schedules_nothing(gl, glrepo):
    report = schedule_bulk(gitlab(gl, glrepo), ".*", keep_n=3, dry_run=True)
    assert not glrepo.scheduled and "would schedule" in report.lines()[-1]


def test_bulk_is_gitlabs_only(gh):
    with pytest.raises(ConfigError, match="no bulk delete"):
        schedule_bulk(ghcr(gh), ".*")


# ===================================================================================== deleter_for


def test_deleter_for_ghcr_uses_the_release_token(gh):
    deleter = deleter_for("ghcr.io/acme/app:1.0.0", {"GITHUB_TOKEN": GH_TOKEN, "GITHUB_API_URL": gh.url})
    assert isinstance(deleter, GhcrDeleter) and deleter.image == "ghcr.io/acme/app"
    assert GH_TOKEN not in repr(deleter)


def test_deleter_for_ghcr_without_token_is_an_auth_error():
    with pytest.raises(AuthError, match="GITHUB_TOKEN"):
        deleter_for("ghcr.io/acme/app", {})


def test_deleter_for_gitlab_ci_registry_finds_the_repository(gl, glrepo):
    env = {"CI_REGISTRY": "registry.example.com", "CI_SERVER_URL": gl.url, "CI_PROJECT_ID": "7",
           "CI_JOB_TOKEN": JOB_TOKEN}
    deleter = deleter_for("registry.example.com/group/proj", env)
    assert isinstance(deleter, GitLabDeleter) and deleter.repo_id == glrepo.id
    assert JOB_TOKEN not in repr(deleter)


def test_deleter_for_a_configured_gitlab_host(gl, glrepo):
    deleter = deleter_for("registry.example.com/group/proj", {"GITLAB_TOKEN": GL_TOKEN},
                          gitlab_registry_host="registry.example.com", gitlab_url=gl.url, gitlab_project="group/proj")
    assert isinstance(deleter, GitLabDeleter)


def test_deleter_for_gitlab_without_project_is_a_config_error():
    with pytest.raises(ConfigError, match="project"):
        deleter_for("registry.example.com/g/p", {"CI_REGISTRY": "registry.example.com",
                                                 "CI_SERVER_URL": "http://127.0.0.1:9"})


def test_deleter_for_any_other_host_is_oci():
    from image_release.adapters.deleters import OciDeleter

    deleter = deleter_for("127.0.0.1:5999/team/app:1.0.0", {})
    assert isinstance(deleter, OciDeleter) and deleter.repo == "team/app"


# ============================================================= GHCR: one tag alone, via a throwaway manifest


@pytest.fixture
def ghcr_oci(fake_github):
    from tests.fakes.cleanup_fakes import FakeGhcrRegistry

    fake_github.add_token(GH_TOKEN, login="octo")
    oci = FakeGhcrRegistry(fake_github, "acme", "svc")
    oci.digests = oci.seed([["1.0.0"], ["1.1.0", "1.1"], ["1.2.0", "1.2", "1", "latest"]])
    return oci


def ghcr_with_push(oci) -> GhcrDeleter:
    packages = GhcrPackages(GH_TOKEN, api_url=oci.gh.url, retry=RetryPolicy(attempts=1),
                            seconds_between_requests=0, seconds_between_writes=0)
    return GhcrDeleter(packages, "acme", "svc", client=oci)


def svc_versions(oci) -> dict[str, list[str]]:
    return {v.name: sorted(v.tags) for v in oci.gh.packages[("acme", "svc")].versions.values()}


def test_ghcr_removes_one_tag_alone_through_a_throwaway_version(ghcr_oci):
    deleter = ghcr_with_push(ghcr_oci)
    a, b, c = ghcr_oci.digests
    plan = plan_retention(deleter.tags_by_digest(), keep=1)
    report = apply_retention(deleter, plan, dry_run=False)

    assert report.ok
    assert svc_versions(ghcr_oci) == {b: ["1.1"], c: ["1", "1.2", "1.2.0", "latest"]}  # nothing else exists
    lone = next(i for i in report.deleted if i.what.startswith("tag 1.1.0"))
    assert "throwaway" in lone.detail and "1.1 untouched" in lone.detail
    assert [m for m, _ in ghcr_oci.calls] == ["GET", "PUT"]


def test_ghcr_dry_run_with_push_access_lists_the_lone_tag_as_going(ghcr_oci):
    deleter = ghcr_with_push(ghcr_oci)
    before = svc_versions(ghcr_oci)
    report = apply_retention(deleter, plan_retention(deleter.tags_by_digest(), keep=1), dry_run=True)
    assert report.ok and any(i.what.startswith("tag 1.1.0") for i in report.deleted)
    assert svc_versions(ghcr_oci) == before and not ghcr_oci.calls


def test_ghcr_refused_push_leaves_the_tag_where_it_was(ghcr_oci):
    ghcr_oci.refuse_push = 403
    deleter = ghcr_with_push(ghcr_oci)
    _, b, _ = ghcr_oci.digests
    report = apply_retention(deleter, plan_retention(deleter.tags_by_digest(), keep=1), dry_run=False)
    assert svc_versions(ghcr_oci)[b] == ["1.1", "1.1.0"]
    assert [i.what.split(" (")[0] for i in report.left_behind] == ["tag 1.1.0"]
    assert "refused the throwaway manifest" in report.left_behind[0].detail


def test_ghcr_refused_version_delete_puts_the_tag_back(ghcr_oci):
    deleter = ghcr_with_push(ghcr_oci)
    _, b, _ = ghcr_oci.digests
    plan = plan_retention(deleter.tags_by_digest(), keep=1)
    ghcr_oci.gh.fail("DELETE", r"/versions/5\d+$", 422, times=10)  # e.g. a version GitHub will not delete
    report = apply_retention(deleter, plan, dry_run=False)
    versions_now = svc_versions(ghcr_oci)
    assert versions_now[b] == ["1.1", "1.1.0"]  # the tag is back on its image
    assert any(i.what.startswith("tag 1.1.0") for i in report.left_behind)


def test_ghcr_rate_limit_during_a_lone_tag_delete_puts_the_tag_back_and_stops(ghcr_oci):
    deleter = ghcr_with_push(ghcr_oci)
    _, b, _ = ghcr_oci.digests
    plan = plan_retention(deleter.tags_by_digest(), keep=1)
    # the whole-version deletes (they come first) go through; then GitHub rate-limits
    ghcr_oci.gh.before("DELETE", r"/versions/\d+$", lambda: None, times=len(plan.deleted_digests))
    ghcr_oci.gh.fail("DELETE", r"/versions/\d+$", 429, times=10, headers={"Retry-After": "0"})
    with pytest.raises(RegistryError) as exc:
        apply_retention(deleter, plan, dry_run=False)
    assert exc.value.status == 429 and "not done: tag 1.1.0" in exc.value.message
    assert svc_versions(ghcr_oci)[b] == ["1.1", "1.1.0"]


def test_deleter_for_ghcr_pushes_with_the_release_token_without_showing_it(gh):
    deleter = deleter_for("ghcr.io/acme/app", {"GITHUB_TOKEN": GH_TOKEN, "GITHUB_API_URL": gh.url,
                                                "GITHUB_ACTOR": "octo"})
    assert deleter.supports_single_tag and deleter.client.credentials.username == "octo"
    assert GH_TOKEN not in repr(deleter.client)
    off = deleter_for("ghcr.io/acme/app", {"GITHUB_TOKEN": GH_TOKEN, "GITHUB_API_URL": gh.url},
                      ghcr_single_tags=False)
    assert not off.supports_single_tag


def test_deleter_from_settings_reads_the_forge_settings(gl, glrepo):
    from image_release.adapters.deleters import deleter_from_settings
    from image_release.settings import parse_settings

    settings = parse_settings({"forge": {"gitlab": {"url": gl.url, "project": "7", "token_env": "MY_GL"}},
                               "retry": {"attempts": 2}})
    deleter = deleter_from_settings("registry.example.com/group/proj", settings, {"MY_GL": GL_TOKEN},
                                    gitlab_registry_host="registry.example.com")
    assert isinstance(deleter, GitLabDeleter) and deleter.repo_id == glrepo.id
    assert len([t for tags in deleter.tags_by_digest().values() for t in tags]) == 9
