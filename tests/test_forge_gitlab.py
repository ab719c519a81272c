"""GitLabForge: the real python-gitlab client against the loopback GitLab API fake."""

from __future__ import annotations

import pytest

from image_release.adapters.forge_gitlab import GitLabForge, display_name
from image_release.adapters.http_retry import RetryPolicy
from image_release.core.release_spec import Asset, Link, ReleaseSpec
from image_release.errors import AuthError, ConfigError, ForgeError
from tests.fakes.gitlab_api import DEVELOPER, REPORTER, FakeGitLab
from tests.fixtures.forge_fakes import gitlab_project, unreachable_url

TOKEN = "glpat-secret-private-token-123"
JOB_TOKEN = "glcbt-secret-job-token-456"
RELEASES = r"/projects/[^/]+/releases$"


@pytest.fixture
def fake(fake_gitlab):
    return fake_gitlab


@pytest.fixture
def project(fake):
    return gitlab_project(
        fake, TOKEN, JOB_TOKEN,
        git_tags={"v1.0.0": "a" * 40, "v1.1.5": "b" * 40, "v1.2.0": "c" * 40, "v2.0.0-rc.1": "d" * 40},
    )


def fast(attempts: int) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, base_delay=0, jitter=False)


def forge(fake, *, token=TOKEN, job_token=None, project="group/proj", attempts=4):
    return GitLabForge(fake.url, project, token=token, job_token=job_token, timeout=5, retry=fast(attempts))


def spec(tag="v1.0.0", *, body="notes", make_latest=True, prerelease=False, links=None, **kw):
    if links is None:
        links = (Link("image", f"https://registry.example.com/group/proj:{tag.lstrip('v')}"),)
    return ReleaseSpec(
        tag=tag, name=f"Release {tag}", body=body, prerelease=prerelease,
        make_latest=make_latest, links=tuple(links), **kw,
    )


# ----------------------------------------------------------------------------- create


def test_creates_release_with_image_link(fake, project):
    result = forge(fake).publish_release(spec())

    assert result.created is True
    assert result.id == "v1.0.0"
    assert result.url == f"{fake.url}/group/proj/-/releases/v1.0.0"
    assert result.links == ("image",)
    rel = project.releases["v1.0.0"]
    assert rel["name"] == "Release v1.0.0"
    assert rel["description"] == "notes"
    assert [(l["name"], l["url"], l["link_type"]) for l in rel["links"]] == [
        ("image", "https://registry.example.com/group/proj:1.0.0", "image")
    ]
    # the project path went URL-encoded, with the private token header
    posts = fake.calls("POST", RELEASES)
    assert [c.path for c in posts] == ["/api/v4/projects/group%2Fproj/releases"]
    assert {c.auth for c in fake.requests} == {"private"}
    assert posts[0].body == {"tag_name": "v1.0.0", "name": "Release v1.0.0", "description": "notes"}


def test_numeric_project_id_works(fake, project):
    result = forge(fake, project=7).publish_release(spec())
    assert result.url == f"{fake.url}/group/proj/-/releases/v1.0.0"
    assert fake.calls("POST", RELEASES)[0].path == "/api/v4/projects/7/releases"


def test_api_v4_url_and_string_project_id_are_accepted(fake, project):
    gl = GitLabForge(fake.url + "/api/v4/", "7", token=TOKEN, timeout=5)
    gl.preflight()
    assert gl.publish_release(spec()).url == f"{fake.url}/group/proj/-/releases/v1.0.0"
    assert fake.calls("POST", RELEASES)[0].path == "/api/v4/projects/7/releases"


def test_rerun_updates_the_same_release_without_duplicates(fake, project):
    gl = forge(fake)
    first = gl.publish_release(spec(body="first"))
    second = gl.publish_release(
        spec(body="second", links=(Link("image", "https://registry.example.com/group/proj@sha256:abc"),))
    )

    assert first.created is True and second.created is False
    assert second.url == first.url
    assert list(project.releases) == ["v1.0.0"]
    rel = project.releases["v1.0.0"]
    assert rel["description"] == "second"
    assert [(l["name"], l["url"]) for l in rel["links"]] == [
        ("image", "https://registry.example.com/group/proj@sha256:abc")
    ]
    assert len(fake.calls("POST", RELEASES)) == 1
    assert len(fake.calls("PUT", r"/releases/v1\.0\.0$")) == 1
    assert len(fake.calls("POST", r"/assets/links$")) == 1
    assert len(fake.calls("PUT", r"/assets/links/\d+$")) == 1


def test_identical_rerun_changes_no_links(fake, project):
    gl = forge(fake)
    gl.publish_release(spec())
    gl.publish_release(spec())
    assert len(project.releases["v1.0.0"]["links"]) == 1
    assert fake.calls("PUT", r"/assets/links/") == []
    assert len(fake.calls("POST", r"/assets/links$")) == 1


def test_link_with_same_url_under_another_name_is_renamed_not_duplicated(fake, project):
    gl = forge(fake)
    url = "https://registry.example.com/group/proj:1.0.0"
    gl.publish_release(spec(links=(Link("old name", url),)))
    gl.publish_release(spec(links=(Link("image 1.0.0", url),)))
    assert [(l["name"], l["url"]) for l in project.releases["v1.0.0"]["links"]] == [("image 1.0.0", url)]


def test_links_the_spec_does_not_name_are_kept(fake, project):
    gl = forge(fake)
    gl.publish_release(spec(links=(Link("docs", "https://docs.example.com/", "other"),)))
    gl.publish_release(spec())
    assert sorted(l["name"] for l in project.releases["v1.0.0"]["links"]) == ["docs", "image"]


def test_missing_tag_needs_a_ref(fake, project):
    with pytest.raises(ForgeError) as err:
        forge(fake).publish_release(spec("v9.9.9"))
    assert err.value.status == 422
    assert "v9.9.9" in err.value.hint and "push" in err.value.hint

    result = forge(fake).publish_release(spec("v9.9.9", target_commitish="main"))
    assert result.created is True
    assert fake.calls("POST", RELEASES)[-1].body["ref"] == "main"


def test_prerelease_is_marked_in_the_name(fake, project):
    forge(fake).publish_release(spec("v2.0.0-rc.1", prerelease=True, make_latest=False))
    assert project.releases["v2.0.0-rc.1"]["name"] == "Release v2.0.0-rc.1 (pre-release)"
    already = ReleaseSpec(tag="v2", name="2.0 Prerelease", body="", prerelease=True, make_latest=False)
    assert display_name(already) == "2.0 Prerelease"


# ------------------------------------------------------------------------ latest / backport


def test_backport_does_not_become_gitlabs_latest(fake, project):
    gl = forge(fake)
    gl.publish_release(spec("v1.2.0"))
    gl.publish_release(spec("v1.1.5", make_latest=False))

    latest = project.releases["v1.2.0"]["released_at"]
    backport = project.releases["v1.1.5"]["released_at"]
    assert backport < latest
    # GitLab's latest = newest released_at: ask the fake the way the permalink does
    import gitlab

    client = gitlab.Gitlab(fake.url, private_token=TOKEN)
    newest = client.projects.get(7, lazy=True).releases.list(order_by="released_at", sort="desc", per_page=1, get_all=False)
    assert newest[0].tag_name == "v1.2.0"
    assert newest[0].historical_release is False

    # a re-run of the backport keeps it below, and a later stable release is latest again
    gl.publish_release(spec("v1.1.5", make_latest=False, body="again"))
    assert project.releases["v1.1.5"]["released_at"] < project.releases["v1.2.0"]["released_at"]
    gl.publish_release(spec("v2.0.0-rc.1", prerelease=True, make_latest=False))
    assert max(project.releases.values(), key=lambda r: r["released_at"])["tag_name"] == "v1.2.0"


def test_latest_release_keeps_gitlabs_own_released_at(fake, project):
    gl = forge(fake)
    gl.publish_release(spec("v1.1.5"))
    gl.publish_release(spec("v1.2.0"))
    for call in fake.calls("POST", RELEASES):
        assert "released_at" not in call.body
    gl.publish_release(spec("v1.2.0", body="edited"))
    assert "released_at" not in fake.calls("PUT", r"/releases/v1\.2\.0$")[-1].body


def test_first_release_with_make_latest_false_needs_no_date(fake, project):
    forge(fake).publish_release(spec("v1.1.5", make_latest=False))
    assert "released_at" not in fake.calls("POST", RELEASES)[0].body


# ---------------------------------------------------------------------------- job token


def test_job_token_publishes_without_reading_the_project(fake, project):
    gl = forge(fake, token=None, job_token=JOB_TOKEN)
    gl.preflight()
    result = gl.publish_release(spec())

    assert result.created is True
    assert {c.auth for c in fake.requests} == {"job"}
    assert fake.calls("GET", r"/projects/[^/]+$") == []


def test_fake_refuses_the_job_token_on_get_project_like_gitlab(fake, project):
    import gitlab

    client = gitlab.Gitlab(fake.url, job_token=JOB_TOKEN)
    with pytest.raises(gitlab.exceptions.GitlabGetError) as err:
        client.projects.get("group/proj")
    assert err.value.response_code == 404


def test_job_token_of_another_project_is_not_found(fake, project):
    other = fake.add_project("group/other")
    fake.add_job_token("other-job-token", project=other)
    with pytest.raises(ForgeError) as err:
        forge(fake, token=None, job_token="other-job-token").preflight()
    assert err.value.status == 404
    assert "job token" in err.value.hint


# ---------------------------------------------------------------------------- preflight


def test_preflight_passes_for_a_developer_token(fake, project):
    forge(fake).preflight()
    assert fake.calls("POST") == [] and fake.calls("PUT") == []


@pytest.mark.parametrize("status", [403, 404])
def test_preflight_without_token_introspection_still_checks_access(fake, project, status):
    fake.inject("GET", r"/personal_access_tokens/self$", status)
    forge(fake).preflight()
    fake.add_private_token("reporter", access={project.id: REPORTER})
    fake.inject("GET", r"/personal_access_tokens/self$", status)
    with pytest.raises(ForgeError):
        forge(fake, token="reporter").preflight()


def test_preflight_bad_token_is_auth_error(fake, project):
    with pytest.raises(AuthError) as err:
        forge(fake, token="wrong").preflight()
    assert "401" in err.value.message
    assert "CI_JOB_TOKEN" in err.value.hint and "`api`" in err.value.hint


def test_preflight_bad_job_token_is_auth_error(fake, project):
    with pytest.raises(AuthError):
        forge(fake, token=None, job_token="wrong").preflight()


def test_preflight_without_token(fake, project):
    with pytest.raises(AuthError) as err:
        forge(fake, token=None).preflight()
    assert "CI_JOB_TOKEN" in err.value.hint
    assert fake.requests == []


def test_both_tokens_is_a_config_error(fake, project):
    with pytest.raises(ConfigError):
        forge(fake, token=TOKEN, job_token=JOB_TOKEN).preflight()


def test_preflight_read_api_scope_is_refused(fake, project):
    fake.add_private_token("read-only", access={project.id: DEVELOPER}, scopes=("read_api",))
    with pytest.raises(AuthError) as err:
        forge(fake, token="read-only").preflight()
    assert "read_api" in err.value.message
    assert "`api` scope" in err.value.hint


def test_preflight_reporter_is_refused_before_anything_is_built(fake, project):
    fake.add_private_token("reporter", access={project.id: REPORTER})
    with pytest.raises(ForgeError) as err:
        forge(fake, token="reporter").preflight()
    assert err.value.status == 403
    assert "Developer" in err.value.hint


def test_preflight_unknown_project_is_404(fake, project):
    with pytest.raises(ForgeError) as err:
        forge(fake, project="group/nope").preflight()
    assert err.value.status == 404
    assert "group/nope" in err.value.message
    assert "project path" in err.value.hint


def test_preflight_403_on_releases_for_job_token(fake, project):
    fake.inject("GET", RELEASES, 403)
    with pytest.raises(ForgeError) as err:
        forge(fake, token=None, job_token=JOB_TOKEN).preflight()
    assert err.value.status == 403
    assert "Developer" in err.value.hint


def test_publish_as_reporter_is_forbidden(fake, project):
    fake.add_private_token("reporter", access={project.id: REPORTER})
    with pytest.raises(ForgeError) as err:
        forge(fake, token="reporter").publish_release(spec())
    assert err.value.status == 403


# ------------------------------------------------------------------- races and retries


def test_concurrent_create_conflict_updates_instead(fake, project):
    def other_job_creates_it(f: FakeGitLab) -> None:
        project.releases["v1.0.0"] = {
            "tag_name": "v1.0.0", "name": "other job", "description": "other", "links": [],
            "created_at": f.clock(), "released_at": f.clock(), "author": "ci", "author_id": 1,
        }

    fake.before("POST", RELEASES, other_job_creates_it)
    result = forge(fake).publish_release(spec(body="ours"))

    assert result.created is False
    assert [c.path for c in fake.calls("POST", RELEASES)] == ["/api/v4/projects/group%2Fproj/releases"]
    assert list(project.releases) == ["v1.0.0"]
    assert project.releases["v1.0.0"]["description"] == "ours"
    assert len(project.releases["v1.0.0"]["links"]) == 1


def test_concurrent_link_create_updates_the_other_jobs_link(fake, project):
    gl = forge(fake)
    gl.publish_release(spec(links=()))

    def other_job_adds_link(f: FakeGitLab) -> None:
        project.releases["v1.0.0"]["links"].append(
            {"id": f.new_id(), "name": "image", "url": "https://registry.example.com/x", "link_type": "other"}
        )

    fake.before("POST", r"/assets/links$", other_job_adds_link)
    gl.publish_release(spec())
    links = project.releases["v1.0.0"]["links"]
    assert [(l["name"], l["url"], l["link_type"]) for l in links] == [
        ("image", "https://registry.example.com/group/proj:1.0.0", "image")
    ]


def test_409_without_a_release_is_reported(fake, project):
    fake.inject("POST", RELEASES, 409)
    with pytest.raises(ForgeError) as err:
        forge(fake).publish_release(spec())
    assert err.value.status == 409


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_once_is_retried(fake, project, status):
    fake.inject("POST", RELEASES, status)
    fake.inject("GET", r"/assets/links$", status)
    result = forge(fake).publish_release(spec())
    assert result.created is True
    assert len(fake.calls("POST", RELEASES)) == 2
    assert list(project.releases) == ["v1.0.0"]


def test_5xx_that_persists_fails_after_the_retries(fake, project):
    fake.inject("GET", r"/releases/v1\.0\.0$", 500, times=10)
    with pytest.raises(ForgeError) as err:
        forge(fake, attempts=3).publish_release(spec())
    assert err.value.status == 500
    assert "run again" in err.value.hint
    assert len(fake.calls("GET", r"/releases/v1\.0\.0$")) == 3


def test_429_with_retry_after_is_honoured(fake, project):
    fake.inject("POST", RELEASES, 429, headers={"Retry-After": "0"})
    assert forge(fake).publish_release(spec()).created is True
    assert len(fake.calls("POST", RELEASES)) == 2


def test_429_that_persists_is_reported(fake, project):
    fake.inject("GET", RELEASES, 429, times=10, headers={"Retry-After": "0"})
    with pytest.raises(ForgeError) as err:
        forge(fake, attempts=2).preflight()
    assert err.value.status == 429


def test_unreachable_gitlab(fake, project):
    url = unreachable_url(FakeGitLab)
    gl = GitLabForge(url, "group/proj", token=TOKEN, timeout=2, retry=fast(2))
    with pytest.raises(ForgeError) as err:
        gl.preflight()
    assert "Cannot reach GitLab" in err.value.message


# ------------------------------------------------------------------------------ assets


def test_assets_go_to_generic_packages_and_are_linked(fake, project):
    gl = forge(fake)
    s = spec(assets=(Asset("digests.txt", b"sha256:1"),))
    result = gl.publish_release(s)

    assert result.assets == ("digests.txt",)
    assert [p["file_name"] for p in project.packages] == ["digests.txt"]
    assert project.packages[0]["package_version"] == "v1.0.0"
    assert project.packages[0]["content"] == b"sha256:1"
    link = next(l for l in project.releases["v1.0.0"]["links"] if l["name"] == "digests.txt")
    assert link["url"].endswith("/packages/generic/release-assets/v1.0.0/digests.txt")
    assert link["link_type"] == "other"

    # re-run: kept, not uploaded again, unless replacing is asked for
    gl.publish_release(spec(assets=(Asset("digests.txt", b"sha256:2"),)))
    assert len(project.packages) == 1
    gl.publish_release(spec(assets=(Asset("digests.txt", b"sha256:2"),), replace_assets=True))
    assert [p["content"] for p in project.packages] == [b"sha256:1", b"sha256:2"]
    assert len(project.releases["v1.0.0"]["links"]) == 2


def test_job_token_uploads_assets(fake, project):
    forge(fake, token=None, job_token=JOB_TOKEN).publish_release(spec(assets=(Asset("a.txt", b"x"),)))
    assert [p["file_name"] for p in project.packages] == ["a.txt"]


# ------------------------------------------------------------------------------ secrets


def test_tokens_never_appear_in_reprs_errors_or_requests(fake, project):
    gl = forge(fake)
    assert TOKEN not in repr(gl)
    jg = forge(fake, token=None, job_token=JOB_TOKEN)
    assert JOB_TOKEN not in repr(jg)
    fake.inject("GET", RELEASES, 403)
    with pytest.raises(ForgeError) as err:
        gl.preflight()
    assert TOKEN not in str(err.value)
    bad = forge(fake, token="glpat-wrong-token-xyz")
    with pytest.raises(AuthError) as err2:
        bad.publish_release(spec())
    assert "glpat-wrong-token-xyz" not in str(err2.value)
    assert "glpat-wrong-token-xyz" not in repr(bad)
    assert all(TOKEN not in repr(r) for r in fake.requests)


def test_a_token_echoed_in_an_error_never_reaches_the_message(fake, project):
    import base64
    from urllib.parse import quote

    echoed = [TOKEN, quote(TOKEN, safe=""), base64.b64encode(f"oauth2:{TOKEN}".encode()).decode()]
    fake.inject("POST", RELEASES, 400, body={"message": "refused PRIVATE-TOKEN " + " / ".join(echoed)})
    with pytest.raises(ForgeError) as err:
        forge(fake).publish_release(spec())
    text = f"{err.value.message} {err.value.hint}"
    assert err.value.status == 400 and "***" in text
    assert not [form for form in echoed if form in text]
