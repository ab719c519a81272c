"""GitLabRegistry: the real python-gitlab client against the loopback GitLab API fake."""

from __future__ import annotations

from datetime import timedelta

import pytest

from image_release.adapters.gitlab_registry import GitLabRegistry, _split_image
from image_release.adapters.http_retry import RetryPolicy
from image_release.errors import AuthError, DeleteRefused, RegistryError, RegistryUnreachable
from tests.fakes.gitlab_api import DEVELOPER, REPORTER, FakeGitLab
from tests.fixtures.forge_fakes import gitlab_project, unreachable_url

TOKEN = "glpat-registry-secret-789"
JOB_TOKEN = "glcbt-registry-job-012"
TAGS = r"/registry/repositories/\d+/tags$"


@pytest.fixture
def fake(fake_gitlab):
    return fake_gitlab


@pytest.fixture
def project(fake):
    return gitlab_project(fake, TOKEN, JOB_TOKEN)


@pytest.fixture
def repos(fake, project):
    root = fake.add_repository(project)
    sub = fake.add_repository(project, "sub")
    now = fake.clock()
    digest_a = "sha256:" + "a" * 64
    for i, name in enumerate(["1.2.3", "1.2", "1", "latest"]):
        fake.add_registry_tag(sub, name, digest=digest_a, created_at=now - timedelta(days=1, minutes=i))
    for i, name in enumerate(["1.2.2", "1.2.1", "1.2.0", "1.1.0"]):
        fake.add_registry_tag(sub, name, created_at=now - timedelta(days=10 + i))
    return root, sub


def fast(attempts: int) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, base_delay=0, jitter=False)


def registry(fake, *, token=TOKEN, job_token=None, attempts=4):
    return GitLabRegistry(fake.url, "group/proj", token=token, job_token=job_token, timeout=5, retry=fast(attempts))


# ------------------------------------------------------------------------------ lookups


@pytest.mark.parametrize(
    "image, expected",
    [
        ("registry.example.com/group/proj/sub", "sub"),
        ("registry.example.com/group/proj/sub:1.2.3", "sub"),
        ("registry.example.com/group/proj/sub@sha256:" + "f" * 64, "sub"),
        ("registry.example.com/group/proj", "root"),
        ("group/proj/sub", "sub"),
        ("group/proj", "root"),
    ],
)
def test_find_repository_by_location_or_path(fake, repos, image, expected):
    root, sub = repos
    want = {"root": root.id, "sub": sub.id}[expected]
    assert registry(fake).find_repository(image) == want


def test_find_repository_with_registry_port():
    assert _split_image("localhost:5000/group/proj:1") == ("localhost:5000", "group/proj")
    assert _split_image("gitlab.example.com:5050/g/p/sub") == ("gitlab.example.com:5050", "g/p/sub")


def test_find_repository_unknown_lists_what_exists(fake, repos):
    with pytest.raises(RegistryError) as err:
        registry(fake).find_repository("registry.example.com/group/proj/nope")
    assert err.value.status == 404
    assert "registry.example.com/group/proj/sub" in err.value.hint


def test_list_tags_follows_pagination(fake, project):
    repo = fake.add_repository(project, "many")
    names = [f"0.0.{i}" for i in range(45)]  # the fake pages by 20, like GitLab's default
    for name in names:
        fake.add_registry_tag(repo, name)
    assert registry(fake).list_tags(repo.id) == sorted(names)
    pages = fake.calls("GET", TAGS)
    assert len(pages) == 3


def test_tag_digest(fake, repos):
    _, sub = repos
    reg = registry(fake)
    assert reg.tag_digest(sub.id, "1.2.3") == "sha256:" + "a" * 64
    assert reg.tag_digest(sub.id, "9.9.9") is None


# ------------------------------------------------------------------------------ deletes


def test_delete_tag_leaves_the_siblings_on_the_same_digest(fake, repos):
    _, sub = repos
    reg = registry(fake)
    reg.delete_tag(sub.id, "1.2.3")
    assert "1.2.3" not in sub.tags
    assert {"1.2", "1", "latest"} <= set(sub.tags)
    assert reg.list_tags(sub.id) == sorted(["1", "1.2", "1.1.0", "1.2.0", "1.2.1", "1.2.2", "latest"])
    assert [c.path for c in fake.calls("DELETE")] == [
        f"/api/v4/projects/group%2Fproj/registry/repositories/{sub.id}/tags/1.2.3"
    ]


def test_job_token_deletes_a_tag_without_reading_the_project(fake, repos):
    _, sub = repos
    reg = registry(fake, token=None, job_token=JOB_TOKEN)
    assert reg.find_repository("registry.example.com/group/proj/sub") == sub.id
    reg.delete_tag(sub.id, "1.2.2")
    assert "1.2.2" not in sub.tags
    assert {c.auth for c in fake.requests} == {"job"}
    assert fake.calls("GET", r"/projects/[^/]+$") == []


def test_bulk_delete_sends_the_parameters_and_does_not_wait(fake, repos):
    _, sub = repos
    message = registry(fake).bulk_delete(
        sub.id, r"1\.2\..*", keep_n=1, name_regex_keep=r".*-keep", older_than="7d"
    )

    (call,) = fake.calls("DELETE", TAGS)
    assert {k: v[-1] for k, v in call.query.items()} == {
        "name_regex_delete": r"1\.2\..*", "keep_n": "1", "name_regex_keep": ".*-keep", "older_than": "7d",
    }
    assert "asynchronous" in message
    assert "at most once an hour" in message
    assert "never deletes the tag 'latest'" in message
    # scheduled, not done: everything is still there until GitLab's worker runs
    assert len(sub.tags) == 8
    fake.run_scheduled_cleanups()
    # 1.2.3 is the newest match (keep_n=1); the older matches go; "1.2" does not match
    assert sorted(sub.tags) == ["1", "1.1.0", "1.2", "1.2.3", "latest"]


def test_bulk_delete_older_than_keeps_recent_tags(fake, repos):
    _, sub = repos
    registry(fake).bulk_delete(sub.id, ".*", older_than="7d")
    fake.run_scheduled_cleanups()
    assert sorted(sub.tags) == ["1", "1.2", "1.2.3", "latest"]


def test_bulk_delete_only_regex(fake, repos):
    _, sub = repos
    registry(fake).bulk_delete(sub.id, ".*")
    (call,) = fake.calls("DELETE", TAGS)
    assert {k: v[-1] for k, v in call.query.items()} == {"name_regex_delete": ".*"}
    fake.run_scheduled_cleanups()
    assert list(sub.tags) == ["latest"]


def test_bulk_delete_twice_within_the_hour(fake, repos):
    _, sub = repos
    reg = registry(fake)
    reg.bulk_delete(sub.id, ".*", keep_n=5)
    with pytest.raises(RegistryError) as err:
        reg.bulk_delete(sub.id, ".*", keep_n=5)
    assert err.value.status == 400
    assert "one bulk delete per repository per hour" in err.value.hint
    fake.expire_cleanup_leases()
    reg.bulk_delete(sub.id, ".*", keep_n=5)


def test_bulk_delete_needs_a_regex(fake, repos):
    _, sub = repos
    with pytest.raises(RegistryError):
        registry(fake).bulk_delete(sub.id, "")
    assert fake.requests == []


# ------------------------------------------------------------------------------- errors


def test_protected_tag_is_403(fake, repos):
    _, sub = repos
    sub.tags["1.2.3"].protected = True
    with pytest.raises(RegistryError) as err:
        registry(fake).delete_tag(sub.id, "1.2.3")
    assert err.value.status == 403
    assert "protected" in err.value.hint
    assert "1.2.3" in sub.tags


def test_reporter_cannot_delete(fake, project, repos):
    _, sub = repos
    fake.add_private_token("reporter", access={project.id: REPORTER})
    with pytest.raises(RegistryError) as err:
        registry(fake, token="reporter").bulk_delete(sub.id, ".*")
    assert err.value.status == 403
    assert "Developer" in err.value.hint


def test_read_api_token_is_an_auth_error(fake, project, repos):
    _, sub = repos
    fake.add_private_token("read-only", access={project.id: DEVELOPER}, scopes=("read_api",))
    with pytest.raises(AuthError) as err:
        registry(fake, token="read-only").delete_tag(sub.id, "1.2.3")
    assert "`api` scope" in err.value.hint


def test_unknown_tag_is_404(fake, repos):
    _, sub = repos
    with pytest.raises(RegistryError) as err:
        registry(fake).delete_tag(sub.id, "9.9.9")
    assert err.value.status == 404


def test_unknown_project_is_404(fake, repos):
    reg = GitLabRegistry(fake.url, "group/missing", token=TOKEN, timeout=5)
    with pytest.raises(RegistryError) as err:
        reg.find_repository("registry.example.com/group/missing")
    assert err.value.status == 404


def test_405_is_delete_refused(fake, repos):
    _, sub = repos
    fake.inject("DELETE", r"/tags/1\.2\.3$", 405)
    with pytest.raises(DeleteRefused) as err:
        registry(fake).delete_tag(sub.id, "1.2.3")
    assert err.value.status == 405
    assert "1.2.3" in sub.tags


def test_429_with_retry_after_is_retried(fake, repos):
    _, sub = repos
    fake.inject("DELETE", TAGS, 429, headers={"Retry-After": "0"})
    message = registry(fake).bulk_delete(sub.id, ".*")
    assert "asynchronous" in message
    assert len(fake.calls("DELETE", TAGS)) == 2


def test_429_that_persists_is_reported(fake, repos):
    _, sub = repos
    fake.inject("DELETE", r"/tags/1\.2\.3$", 429, times=10, headers={"Retry-After": "0"})
    with pytest.raises(RegistryError) as err:
        registry(fake, attempts=3).delete_tag(sub.id, "1.2.3")
    assert err.value.status == 429
    assert "Retry-After" in err.value.hint
    assert len(fake.calls("DELETE", r"/tags/1\.2\.3$")) == 3


def test_5xx_once_is_retried(fake, repos):
    _, sub = repos
    fake.inject("GET", r"/registry/repositories$", 502)
    assert registry(fake).find_repository("group/proj/sub") == sub.id


def test_bad_token_is_auth_error(fake, repos):
    _, sub = repos
    reg = registry(fake, token="glpat-nope-nope")
    with pytest.raises(AuthError) as err:
        reg.list_tags(sub.id)
    assert "CI_JOB_TOKEN" in err.value.hint
    assert "glpat-nope-nope" not in str(err.value) and "glpat-nope-nope" not in repr(reg)


def test_unreachable(fake):
    url = unreachable_url(FakeGitLab)
    with pytest.raises(RegistryUnreachable):
        GitLabRegistry(url, "group/proj", token=TOKEN, timeout=2, retry=fast(2)).list_tags(1)
