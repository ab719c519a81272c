"""GhcrPackages: PyGithub's requester against the loopback GitHub fake (Packages API)."""

from __future__ import annotations

import pytest

from image_release.adapters.ghcr_packages import GhcrPackages, PackageVersion
from image_release.adapters.http_retry import NO_RETRY, RetryPolicy
from image_release.errors import AuthError, DeleteRefused, RegistryError, RegistryUnreachable
from tests.fakes.github_api import FakeGitHub
from tests.fixtures.forge_fakes import unreachable_url

TOKEN = "ghp_packages_secret_456"


@pytest.fixture
def gh(fake_github):
    fake_github.add_token(TOKEN, login="octo")
    fake_github.add_package("octo", "app", owner_type="user", versions=[
        ("sha256:1111", ["1.0.0"]),
        ("sha256:2222", ["1.1.0", "1.1", "1", "latest"]),
        ("sha256:3333", []),  # an untagged platform manifest
    ])
    fake_github.add_package("acme", "tools/web", owner_type="org", versions=[
        ("sha256:aaaa", ["2.0.0"]),
        ("sha256:bbbb", ["2.1.0", "2.1.0-amd64"]),
    ])
    return fake_github


def fast(attempts: int) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, base_delay=0, jitter=False)


def make(gh: FakeGitHub, token: str = TOKEN, **kw) -> GhcrPackages:
    kw.setdefault("retry", fast(3))
    return GhcrPackages(token, api_url=gh.url, seconds_between_requests=0, seconds_between_writes=0, **kw)


@pytest.fixture
def packages(gh):
    return make(gh)


def digests(gh: FakeGitHub, owner: str, name: str) -> set[str]:
    return {v.name for v in gh.packages[(owner, name)].versions.values()}


def test_list_versions_of_a_user_package_falls_back_from_the_org_path(gh, packages):
    versions = packages.list_versions("octo", "app")

    assert [v.name for v in versions] == ["sha256:3333", "sha256:2222", "sha256:1111"]
    assert versions[1].tags == ("1.1.0", "1.1", "1", "latest") and versions[0].tags == ()
    assert [(r.path.split("/")[1], r.status) for r in gh.requests] == [("orgs", 404), ("users", 200)]
    packages.list_versions("octo", "app")  # the owner's kind is remembered
    assert gh.requests[-1].path.startswith("/users/")
    assert len(gh.requests) == 3


def test_org_package_with_a_slash_in_its_name_is_url_encoded(gh, packages):
    versions = packages.list_versions("acme", "tools/web")

    assert {v.name for v in versions} == {"sha256:aaaa", "sha256:bbbb"}
    assert gh.requests[0].path == "/orgs/acme/packages/container/tools%2Fweb/versions"
    assert gh.requests[0].status == 200


def test_list_follows_pagination(gh):
    gh.add_package("acme", "many", owner_type="org", versions=[(f"sha256:{i:04d}", [f"0.{i}.0"]) for i in range(7)])
    versions = make(gh, per_page=3).list_versions("acme", "many")
    assert len(versions) == 7 and len({v.id for v in versions}) == 7
    assert len(gh.calls("GET", "/many/versions")) == 3


def test_delete_version_for_user_and_org(gh, packages):
    user_v = next(v for v in packages.list_versions("octo", "app") if v.name == "sha256:1111")
    org_v = next(v for v in packages.list_versions("acme", "tools/web") if v.name == "sha256:aaaa")

    packages.delete_version("octo", "app", user_v.id)
    packages.delete_version("acme", "tools/web", org_v.id)

    assert digests(gh, "octo", "app") == {"sha256:2222", "sha256:3333"}
    assert digests(gh, "acme", "tools/web") == {"sha256:bbbb"}
    assert gh.calls("DELETE", r"^/users/octo/packages/container/app/versions/\d+$")[0].status == 204
    assert gh.calls("DELETE", r"^/orgs/acme/packages/container/tools%2Fweb/versions/\d+$")[0].status == 204


def version_with(packages: GhcrPackages, owner: str, name: str, digest: str) -> PackageVersion:
    return next(v for v in packages.list_versions(owner, name) if v.name == digest)


def test_delete_version_takes_its_tags_and_nothing_else(gh, packages):
    packages.delete_version("octo", "app", version_with(packages, "octo", "app", "sha256:1111").id)

    assert digests(gh, "octo", "app") == {"sha256:2222", "sha256:3333"}  # untagged one untouched
    left = {v.name: v.tags for v in packages.list_versions("octo", "app")}
    assert left == {"sha256:2222": ("1.1.0", "1.1", "1", "latest"), "sha256:3333": ()}


def test_delete_version_takes_every_tag_of_the_version(gh, packages):
    packages.delete_version("acme", "tools/web", version_with(packages, "acme", "tools/web", "sha256:bbbb").id)
    assert digests(gh, "acme", "tools/web") == {"sha256:aaaa"}


def test_listing_deletes_nothing(gh, packages):
    packages.list_versions("octo", "app")
    packages.list_versions("acme", "tools/web")
    assert not gh.calls("DELETE")
    assert digests(gh, "octo", "app") == {"sha256:1111", "sha256:2222", "sha256:3333"}


def test_a_version_already_gone_is_a_404(gh, packages):
    target = version_with(packages, "octo", "app", "sha256:1111")
    gh.before("DELETE", r"/versions/\d+$", lambda: gh.packages[("octo", "app")].versions.pop(target.id))
    # GhcrDeleter counts a 404 on delete as "already gone"
    with pytest.raises(RegistryError) as err:
        packages.delete_version("octo", "app", target.id)
    assert err.value.status == 404
    assert target.id not in gh.packages[("octo", "app")].versions


def test_403_without_delete_scope_names_the_scopes(gh):
    gh.add_token("ghp_readonly", login="octo", packages="read")
    packages = make(gh, "ghp_readonly")
    assert packages.list_versions("octo", "app")
    with pytest.raises(AuthError) as err:
        packages.delete_version("octo", "app", version_with(packages, "octo", "app", "sha256:1111").id)
    assert "403" in err.value.message
    assert "delete:packages" in err.value.hint and "packages: write" in err.value.hint


def test_401_bad_token(gh):
    with pytest.raises(AuthError) as err:
        make(gh, "nope").list_versions("octo", "app")
    assert "401" in err.value.message and "GITHUB_TOKEN" in err.value.hint
    assert TOKEN not in str(err.value)


def test_404_unknown_package(gh, packages):
    with pytest.raises(RegistryError) as err:
        packages.list_versions("octo", "nothing")
    assert err.value.status == 404
    assert "package name" in err.value.hint
    # both owner kinds were tried
    assert [r.path.split("/")[1] for r in gh.requests] == ["orgs", "users"]


def test_405_is_a_delete_refusal(gh, packages):
    gh.fail("DELETE", r"/versions/\d+$", 405)
    with pytest.raises(DeleteRefused) as err:
        packages.delete_version("octo", "app", version_with(packages, "octo", "app", "sha256:1111").id)
    assert err.value.status == 405
    assert "sha256:1111" in digests(gh, "octo", "app")


def test_429_with_retry_after_is_retried(gh, packages):
    gh.fail("GET", r"/versions$", 429, headers={"Retry-After": "1"})
    assert len(packages.list_versions("acme", "tools/web")) == 2
    assert [r.status for r in gh.requests] == [429, 200]


def test_persistent_429_is_a_registry_error(gh):
    gh.fail("*", r"/versions", 429, headers={"Retry-After": "0"}, times=10)
    with pytest.raises(RegistryError) as err:
        make(gh, retry=fast(2)).list_versions("acme", "tools/web")
    assert err.value.status == 429 and "rate limit" in err.value.message
    assert "re-run" in err.value.hint


def test_5xx_on_delete_is_retried(gh, packages):
    gh.fail("DELETE", r"/versions/\d+$", 502)
    packages.delete_version("acme", "tools/web", version_with(packages, "acme", "tools/web", "sha256:aaaa").id)
    assert [r.status for r in gh.calls("DELETE")] == [502, 204]
    assert digests(gh, "acme", "tools/web") == {"sha256:bbbb"}


def test_a_refusal_part_way_leaves_what_was_deleted_deleted(gh, packages):
    gh.add_package("acme", "two", owner_type="org", versions=[("sha256:a1", ["1.0.0"]), ("sha256:b2", ["1.0.1"])])
    # faults are matched in order: the first DELETE passes the no-op 'before', the second meets the 403
    gh.before("DELETE", r"/versions/\d+$", lambda: None)
    gh.fail("DELETE", r"/versions/\d+$", 403, body={"message": "Forbidden"})
    first, second = packages.list_versions("acme", "two")
    packages.delete_version("acme", "two", first.id)
    with pytest.raises(AuthError) as err:
        packages.delete_version("acme", "two", second.id)
    assert "403" in err.value.message and f"deleting version {second.id}" in err.value.message
    assert digests(gh, "acme", "two") == {second.name}


def test_unreachable_api(gh):
    url = unreachable_url(FakeGitHub)
    with pytest.raises(RegistryUnreachable):
        GhcrPackages(TOKEN, api_url=url, retry=NO_RETRY, seconds_between_requests=0).list_versions("octo", "app")


def test_no_token(gh):
    with pytest.raises(AuthError):
        make(gh, "").list_versions("octo", "app")
    assert gh.requests == []
    assert TOKEN not in repr(make(gh))


def test_a_version_list_that_never_ends_is_a_clear_error(monkeypatch):
    from image_release.adapters import ghcr_packages
    from tests.fakes.scripted_registry import ScriptedRegistry

    monkeypatch.setattr(ghcr_packages, "MAX_PAGES", 5)
    with ScriptedRegistry() as api:
        api.on("GET", r"/versions", lambda req: (
            200, {"Link": f'<http://{api.address}/orgs/acme/packages/container/app/versions?page={len(api.seen)}>; '
                          'rel="next"'}, [{"id": len(api.seen), "name": "sha256:11", "metadata": {}}]))
        packages = GhcrPackages(TOKEN, api_url=f"http://{api.address}", retry=NO_RETRY, seconds_between_requests=0)
        with pytest.raises(RegistryError) as err:
            packages.list_versions("acme", "app")
    assert "did not end within 5 pages" in err.value.message
    assert api.count("GET") == 5
