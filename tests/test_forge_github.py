"""GitHubForge: the real PyGithub against the loopback GitHub fake."""

from __future__ import annotations

import json

import pytest

from image_release.adapters.forge_github import GITHUB_BODY_LIMIT, UPLOAD_SUFFIX, GitHubForge
from image_release.adapters.http_retry import NO_RETRY, RetryPolicy
from image_release.core.release_spec import Asset, ReleaseSpec
from image_release.errors import AuthError, ConfigError, ForgeError
from tests.fakes.github_api import FakeGitHub
from tests.fixtures.forge_fakes import github_repo, unreachable_url

REPO = "acme/app"
TOKEN = "ghp_fake_secret_value_123"


@pytest.fixture
def gh(fake_github):
    return github_repo(fake_github, REPO, TOKEN, login="release-bot")


def fast(attempts: int) -> RetryPolicy:
    return RetryPolicy(attempts=attempts, base_delay=0, jitter=False)


def make_forge(gh: FakeGitHub, token: str = TOKEN, **kw) -> GitHubForge:
    kw.setdefault("retry", fast(3))
    return GitHubForge(REPO, token, api_url=gh.url, seconds_between_requests=0, seconds_between_writes=0, **kw)


@pytest.fixture
def forge(gh):
    return make_forge(gh)


def spec(tag="v1.2.3", body="notes", prerelease=False, make_latest=True, assets=(), replace=False, **kw):
    return ReleaseSpec(tag=tag, name=f"Release {tag.lstrip('v')}", body=body, prerelease=prerelease,
                       make_latest=make_latest, assets=tuple(assets), replace_assets=replace, **kw)


def digests(content: bytes = b"ghcr.io/acme/app:1.2.3@sha256:aaa\n") -> Asset:
    return Asset("digests.txt", content, "text/plain")


def sent(gh: FakeGitHub, method: str, path: str) -> list[dict]:
    return [json.loads(r.body) for r in gh.calls(method, path) if r.body and not r.injected]


# -- create / update ------------------------------------------------------------------------

def test_new_release_without_assets_is_created_published_and_latest(gh, forge):
    result = forge.publish_release(spec(target_commitish="0123abc"))

    [rel] = gh.releases_for(REPO)
    assert result.created is True
    assert result.id == str(rel["id"])
    assert result.url.endswith("/acme/app/releases/tag/v1.2.3")
    assert (rel["draft"], rel["prerelease"], rel["name"], rel["body"]) == (False, False, "Release 1.2.3", "notes")
    assert rel["target_commitish"] == "0123abc"
    assert gh.latest_release(REPO)["id"] == rel["id"]
    [create] = sent(gh, "POST", r"/releases$")
    assert create["make_latest"] == "true" and create["draft"] is False


def test_rerun_updates_the_same_release_never_a_second(gh, forge):
    first = forge.publish_release(spec(body="first"))
    second = forge.publish_release(spec(body="second"))

    [rel] = gh.releases_for(REPO)
    assert first.id == second.id == str(rel["id"])
    assert second.created is False
    assert rel["body"] == "second"
    assert len(gh.calls("POST", r"/releases$")) == 1


def test_new_release_with_assets_stays_draft_until_assets_are_uploaded(gh, forge):
    result = forge.publish_release(spec(assets=[digests(), Asset("sbom.json", b"{}", "application/json")]))

    [rel] = gh.releases_for(REPO)
    assert rel["draft"] is False and result.created is True
    assert gh.asset_files(rel["id"]) == {"digests.txt": b"ghcr.io/acme/app:1.2.3@sha256:aaa\n", "sbom.json": b"{}"}
    assert result.assets == ("digests.txt", "sbom.json")
    # order of the writes: create as draft, upload both, then publish with every field
    writes = [r for r in gh.requests if r.method in ("POST", "PATCH")]
    assert [r.method for r in writes] == ["POST", "POST", "POST", "PATCH"]
    assert json.loads(writes[0].body)["draft"] is True
    assert [r.query["name"][0] for r in writes[1:3]] == ["digests.txt", "sbom.json"]
    publish = json.loads(writes[3].body)
    assert publish["draft"] is False and publish["make_latest"] == "true" and publish["prerelease"] is False
    assert publish["name"] == "Release 1.2.3" and publish["body"] == "notes"
    assert result.url.endswith("/releases/tag/v1.2.3")  # the published URL, not the draft's untagged one
    assert gh.latest_release(REPO)["id"] == rel["id"]


def test_same_named_asset_is_kept_unless_replacement_is_asked(gh, forge):
    forge.publish_release(spec(assets=[digests(b"old\n")]))
    [rel] = gh.releases_for(REPO)

    kept = forge.publish_release(spec(assets=[digests(b"new\n")]))
    assert gh.asset_files(rel["id"]) == {"digests.txt": b"old\n"}
    assert kept.kept_assets == ("digests.txt",)

    replaced = forge.publish_release(spec(assets=[digests(b"new\n")], replace=True))
    assert gh.asset_files(rel["id"]) == {"digests.txt": b"new\n"}
    assert replaced.kept_assets == () and replaced.assets == ("digests.txt",)
    assert len(gh.releases_for(REPO)) == 1


def test_replacement_never_leaves_a_published_release_without_the_asset(gh, forge):
    forge.publish_release(spec(assets=[digests(b"old\n")]))
    [rel] = gh.releases_for(REPO)
    seen: list[set[str]] = []
    gh.before("DELETE", r"/releases/assets/\d+$", lambda: seen.append(set(gh.asset_files(rel["id"]))))
    gh.before("PATCH", r"/releases/assets/\d+$", lambda: seen.append(set(gh.asset_files(rel["id"]))))

    forge.publish_release(spec(assets=[digests(b"new\n")], replace=True))

    # before the old one goes, the new one is already there under a temporary name
    assert seen[0] == {"digests.txt", "digests.txt" + UPLOAD_SUFFIX}
    assert gh.asset_files(rel["id"]) == {"digests.txt": b"new\n"}


def test_leftovers_of_an_interrupted_upload_are_cleaned(gh, forge):
    forge.publish_release(spec(assets=[digests(b"old\n")]))
    [rel] = gh.releases_for(REPO)
    asset = next(a for a in gh.assets.values() if a["release_id"] == rel["id"])
    asset["state"] = "open"  # an upload that never finished
    forge.publish_release(spec(assets=[digests(b"fresh\n")]))  # replace not asked: broken ones go anyway
    assert gh.asset_files(rel["id"]) == {"digests.txt": b"fresh\n"}


def test_prerelease_is_marked_and_never_made_latest(gh, forge):
    forge.publish_release(spec("v1.0.0"))
    forge.publish_release(spec("v2.0.0-rc.1", prerelease=True, make_latest=True, assets=[digests()]))

    rc = gh.releases_for(REPO, "v2.0.0-rc.1")[0]
    assert rc["prerelease"] is True and rc["draft"] is False
    assert gh.latest_release(REPO)["tag_name"] == "v1.0.0"
    assert all(body["make_latest"] == "false" for body in sent(gh, "PATCH", r"/releases/\d+$"))


def test_backport_does_not_become_latest(gh, forge):
    forge.publish_release(spec("v1.2.0"))
    forge.publish_release(spec("v1.1.5", make_latest=False))
    forge.publish_release(spec("v1.1.5", make_latest=False, body="re-run"))  # and not on a re-run either

    assert gh.latest_release(REPO)["tag_name"] == "v1.2.0"
    assert [b["make_latest"] for b in sent(gh, "POST", r"/releases$")] == ["true", "false"]


def test_update_keeps_fields_pygithub_would_reset(gh, forge):
    existing = gh.add_release(REPO, "v2.0.0-rc.1", prerelease=True, target_commitish="abc123", body="old")
    result = forge.publish_release(spec("v2.0.0-rc.1", prerelease=True, make_latest=False, body="new"))

    rel = gh.releases_for(REPO, "v2.0.0-rc.1")[0]
    assert result.id == str(existing["id"]) and result.created is False
    assert rel["prerelease"] is True  # update_release's default (False) would have cleared it
    assert rel["target_commitish"] == "abc123"  # not sent, so kept
    assert rel["draft"] is False and rel["body"] == "new"
    [patch] = sent(gh, "PATCH", r"/releases/\d+$")
    assert {"name", "body", "draft", "prerelease", "make_latest", "tag_name"} <= set(patch)
    assert "target_commitish" not in patch


def test_a_leftover_draft_is_found_and_published_not_duplicated(gh, forge):
    draft = gh.add_release(REPO, "v1.2.3", draft=True, body="from a crashed run")
    result = forge.publish_release(spec())

    [rel] = gh.releases_for(REPO)
    assert rel["id"] == draft["id"] and rel["draft"] is False and rel["body"] == "notes"
    assert result.created is False
    assert not gh.calls("POST", r"/releases$")


def test_a_draft_on_a_later_page_is_updated_not_duplicated(gh):
    forge = make_forge(gh, per_page=2)
    for i in range(5):
        gh.add_release(REPO, f"v0.{i}.0")
    draft = gh.add_release(REPO, "v0.0.1", draft=True)
    for i in range(5, 8):
        gh.add_release(REPO, f"v0.{i}.0")

    found = forge.publish_release(spec(tag="v0.0.1"))
    assert found.id == str(draft["id"]) and found.created is False  # the draft on page 3 is updated
    assert not gh.calls("POST", r"/releases$")
    assert len(gh.calls("GET", r"/releases$")) >= 3  # paginated


# -- races ----------------------------------------------------------------------------------

def test_concurrent_run_publishing_first_gives_422_and_we_update_its_release(gh, forge):
    other = {}
    gh.before("POST", r"/releases$", lambda: other.update(gh.add_release(REPO, "v1.2.3", body="theirs")))

    result = forge.publish_release(spec(body="ours"))

    [create] = [r for r in gh.calls("POST", r"/releases$")]
    assert create.status == 422 and create.response["errors"][0]["code"] == "already_exists"
    [rel] = gh.releases_for(REPO)
    assert rel["id"] == other["id"] and rel["body"] == "ours"
    assert result.id == str(other["id"]) and result.created is False


def test_losing_the_publish_race_deletes_our_draft_and_joins_the_winner(gh, forge):
    other = {}
    gh.before("PATCH", r"/releases/\d+$", lambda: other.update(gh.add_release(REPO, "v1.2.3", body="theirs")))

    result = forge.publish_release(spec(body="ours", assets=[digests()]))

    [rel] = gh.releases_for(REPO)  # our draft is gone
    assert rel["id"] == other["id"] and result.id == str(other["id"])
    assert rel["body"] == "ours" and rel["draft"] is False
    assert gh.asset_files(rel["id"]) == {"digests.txt": digests().content}
    assert any(r.status == 422 for r in gh.calls("PATCH", r"/releases/\d+$"))


def test_an_older_concurrent_draft_is_joined(gh, forge):
    other = {}
    gh.before("POST", r"/releases$", lambda: other.update(gh.add_release(REPO, "v1.2.3", draft=True)))

    result = forge.publish_release(spec(assets=[digests()]))

    [rel] = gh.releases_for(REPO)
    assert rel["id"] == other["id"] and rel["draft"] is False
    assert result.id == str(other["id"])
    assert gh.calls("DELETE", r"/releases/\d+$")  # ours was created, then removed


def test_5xx_is_retried(gh, forge):
    gh.fail("POST", r"/releases$", 502)
    gh.fail("POST", r"/assets$", 500)
    gh.fail("PATCH", r"/releases/\d+$", 503)

    forge.publish_release(spec(assets=[digests()]))

    [rel] = gh.releases_for(REPO)
    assert rel["draft"] is False
    assert gh.asset_files(rel["id"]) == {"digests.txt": digests().content}  # body re-sent intact


def test_create_that_succeeded_but_whose_answer_was_lost(gh, forge):
    gh.fail("POST", r"/releases$", 502,
            action=lambda: gh.add_release(REPO, "v1.2.3", body="ours", author="release-bot"))
    result = forge.publish_release(spec(body="ours"))

    assert len(gh.releases_for(REPO)) == 1  # the retry's 422 already_exists joined it
    assert result.created is False


def test_upload_that_succeeded_but_whose_answer_was_lost(gh, forge):
    def upload_then_lose_answer():
        [rel] = gh.releases_for(REPO)
        gh.add_asset(rel["id"], "digests.txt", digests().content)

    gh.fail("POST", r"/assets$", 502, action=upload_then_lose_answer)
    result = forge.publish_release(spec(assets=[digests()]))

    [rel] = gh.releases_for(REPO)
    assert gh.asset_files(rel["id"]) == {"digests.txt": digests().content}
    assert result.assets == ("digests.txt",) and rel["draft"] is False
    assert [r.status for r in gh.calls("POST", r"/assets$")] == [502, 422]


def test_github_enterprise_api_path(gh):
    with FakeGitHub(prefix="/api/v3") as ghes:
        ghes.add_token(TOKEN, login="release-bot")
        ghes.add_repo(REPO)
        assert ghes.url.endswith("/api/v3")
        forge = GitHubForge(REPO, TOKEN, api_url=ghes.url + "/", retry=fast(4), seconds_between_requests=0,
                            seconds_between_writes=0)
        forge.preflight()
        forge.publish_release(spec(assets=[digests()]))
        [rel] = ghes.releases_for(REPO)
        assert rel["draft"] is False and ghes.asset_files(rel["id"])
        assert all(r.status < 400 or r.path.endswith("/tags/v1.2.3") for r in ghes.requests)


def test_429_with_retry_after_is_retried(gh, forge):
    gh.fail("GET", r"/releases/tags/", 429, headers={"Retry-After": "1"})
    forge.publish_release(spec())
    assert len(gh.releases_for(REPO)) == 1


def test_persistent_5xx_is_a_forge_error(gh):
    forge = make_forge(gh, retry=fast(2))
    gh.fail("*", r"/releases", 502, times=10)
    with pytest.raises(ForgeError) as err:
        forge.publish_release(spec())
    assert err.value.status == 502
    assert "re-run" in err.value.hint


# -- preflight and errors ----------------------------------------------------------------------

def test_preflight_accepts_a_token_with_push(gh, forge):
    forge.preflight()


def test_preflight_accepts_an_actions_token_without_permissions_block(gh):
    gh.add_token("ghs_actions", login="github-actions[bot]", kind="app", contents="write")
    make_forge(gh, "ghs_actions").preflight()


def test_preflight_401_names_the_token_fix(gh):
    forge = make_forge(gh, "wrong-token")
    with pytest.raises(AuthError) as err:
        forge.preflight()
    assert "401" in err.value.message
    assert "GITHUB_TOKEN" in err.value.hint and "contents: write" in err.value.hint


def test_preflight_read_only_token(gh):
    gh.add_token("ghp_read", login="reader", contents="read")
    with pytest.raises(AuthError) as err:
        make_forge(gh, "ghp_read").preflight()
    assert "push" in err.value.message and "contents: write" in err.value.hint


def test_preflight_403(gh, forge):
    gh.fail("GET", r"^/repos/acme/app$", 403, body={"message": "Resource not accessible by integration",
                                                   "documentation_url": "https://docs.github.com/rest"})
    with pytest.raises(AuthError) as err:
        forge.preflight()
    assert "403" in err.value.message and "contents: write" in err.value.hint


def test_preflight_404_names_repository_and_access(gh):
    forge = GitHubForge("acme/missing", TOKEN, api_url=gh.url, seconds_between_requests=0)
    with pytest.raises(ForgeError) as err:
        forge.preflight()
    assert err.value.status == 404
    assert "acme/missing" in err.value.message and "GITHUB_REPOSITORY" in err.value.hint


def test_preflight_archived_repository(gh):
    gh.add_repo("acme/old", archived=True)
    forge = GitHubForge("acme/old", TOKEN, api_url=gh.url, seconds_between_requests=0)
    with pytest.raises(ForgeError, match="archived"):
        forge.preflight()


def test_no_token_fails_before_any_request(gh):
    with pytest.raises(AuthError) as err:
        make_forge(gh, "").preflight()
    assert "GITHUB_TOKEN" in err.value.hint
    assert gh.requests == []


def test_actions_token_without_contents_write_gets_the_permissions_hint(gh):
    gh.add_token("ghs_ro", login="github-actions[bot]", kind="app", contents="read")
    forge = make_forge(gh, "ghs_ro")
    forge.preflight()  # GitHub cannot tell us in advance for app tokens (documented)
    with pytest.raises(AuthError) as err:
        forge.publish_release(spec())
    assert "Resource not accessible by integration" in err.value.message
    assert "permissions: contents: write" in err.value.hint


def test_token_never_appears_in_errors_or_repr(gh):
    forge = make_forge(gh, "wrong-" + TOKEN)
    with pytest.raises(AuthError) as err:
        forge.publish_release(spec())
    assert TOKEN not in str(err.value) and TOKEN not in repr(forge)
    assert TOKEN not in repr(err.value.__cause__ or "")


def test_unreachable_api(gh):
    url = unreachable_url(FakeGitHub)
    forge = GitHubForge(REPO, TOKEN, api_url=url, retry=NO_RETRY, seconds_between_requests=0)
    with pytest.raises(ForgeError, match="cannot reach"):
        forge.preflight()


def test_body_over_the_limit_is_refused_before_any_request(gh, forge):
    with pytest.raises(ForgeError, match="125000"):
        forge.publish_release(spec(body="x" * (GITHUB_BODY_LIMIT + 1)))
    assert gh.requests == []


@pytest.mark.parametrize("bad", ["", "acme", "acme/app/x", "/app"])
def test_repository_must_be_owner_slash_name(bad):
    with pytest.raises(ConfigError):
        GitHubForge(bad, TOKEN)


def test_a_token_echoed_in_an_error_never_reaches_the_message(gh, forge):
    import base64
    from urllib.parse import quote

    basic = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    echoed = [TOKEN, quote(TOKEN, safe=""), basic, base64.b64encode(TOKEN.encode()).decode()]
    gh.fail("POST", r"/releases$", 422, body={"message": "invalid request from " + " / ".join(echoed)})
    with pytest.raises(ForgeError) as err:
        forge.publish_release(spec())
    text = f"{err.value.message} {err.value.hint}"
    assert err.value.status == 422 and "***" in text
    assert not [form for form in echoed if form in text]
