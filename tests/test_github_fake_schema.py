"""The GitHub fake speaks GitHub's shapes: requests and answers checked against the official
OpenAPI description (a trimmed copy of npm ``@octokit/openapi``, see tests/fakes/github_openapi/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30Validator, oas30_format_checker

from image_release.adapters.forge_github import GitHubForge
from image_release.adapters.ghcr_packages import GhcrPackages
from image_release.adapters.http_retry import RetryPolicy
from image_release.core.release_spec import Asset, ReleaseSpec
from image_release.errors import ReleaseError
from tests.fakes.github_api import FakeGitHub
from tests.fixtures.forge_fakes import github_repo

SPEC = json.loads((Path(__file__).parent / "fakes" / "github_openapi" / "github-subset.json").read_text())
TOKEN = "ghp_schema_check"


def validator(schema: dict) -> OAS30Validator:
    # wrap so that "#/components/..." references resolve inside the subset
    return OAS30Validator({"allOf": [schema], "components": SPEC["components"]}, format_checker=oas30_format_checker)


def response_schema(template: str, method: str, status: int) -> tuple[dict | None, bool]:
    """(JSON schema of the answer, documented?) for an operation and status."""
    responses = SPEC["paths"][template][method]["responses"]
    resp = responses.get(str(status))
    documented = resp is not None
    if resp is None:  # undocumented error status: GitHub still answers its error shapes
        name = "validation-error" if status == 422 else "basic-error"
        return {"$ref": f"#/components/schemas/{name}"}, False
    if "$ref" in resp:
        resp = SPEC["components"]["responses"][resp["$ref"].rsplit("/", 1)[1]]
    content = resp.get("content", {}).get("application/json")
    return (content or {}).get("schema"), documented


def run_scenario(gh: FakeGitHub) -> None:
    """Drive every served operation, answers good and bad, through the real clients."""
    gh.add_token(TOKEN, login="release-bot")
    gh.add_token("ghs_app", login="github-actions[bot]", kind="app", contents="read")
    gh.add_repo("acme/app")
    gh.add_package("octo", "app", owner_type="user", versions=[("sha256:11", ["1.0.0"]), ("sha256:22", ["1.1.0"])])
    gh.add_package("acme", "tools/web", owner_type="org", versions=[("sha256:33", ["2.0.0"]), ("sha256:44", [])])
    fast = dict(seconds_between_requests=0, seconds_between_writes=0,
                retry=RetryPolicy(attempts=2, base_delay=0, jitter=False))

    forge = GitHubForge("acme/app", TOKEN, api_url=gh.url, **fast)
    forge.preflight()
    assets = (Asset("digests.txt", b"one\n", "text/plain"),)
    forge.publish_release(ReleaseSpec("v1.0.0", "Release 1.0.0", "notes", False, True, assets=assets))
    forge.publish_release(ReleaseSpec("v1.0.0", "Release 1.0.0", "again", False, True,
                                      assets=(Asset("digests.txt", b"two\n"),), replace_assets=True))
    gh.before("POST", r"/releases$", lambda: gh.add_release("acme/app", "v1.1.0"))
    forge.publish_release(ReleaseSpec("v1.1.0", "Release 1.1.0", "raced", False, True))  # 422 already_exists
    with pytest.raises(ReleaseError):
        GitHubForge("acme/app", "bad", api_url=gh.url, **fast).preflight()  # 401
    with pytest.raises(ReleaseError):
        GitHubForge("acme/nope", TOKEN, api_url=gh.url, **fast).preflight()  # 404
    with pytest.raises(ReleaseError):
        GitHubForge("acme/app", "ghs_app", api_url=gh.url, **fast).publish_release(
            ReleaseSpec("v9.0.0", "x", "x", False, True))  # 403 on create

    # operations the adapters do not need, called plainly
    s = requests.Session()
    s.headers["Authorization"] = f"token {TOKEN}"
    rel = gh.releases_for("acme/app", "v1.0.0")[0]
    api = f"{gh.url}/repos/acme/app/releases"
    s.get(f"{api}/latest")
    s.get(f"{api}/{rel['id']}")
    s.get(f"{api}/tags/v1.0.0")
    asset_id = rel["assets"][0]
    s.get(f"{api}/assets/{asset_id}")
    s.patch(f"{api}/assets/{asset_id}", json={"name": "digests.txt", "label": "image digests"})
    s.post(f"{api}/{rel['id']}/assets?name=digests.txt", data=b"dup",
           headers={"Content-Type": "text/plain"})  # 422
    s.delete(f"{api}/assets/{asset_id}")
    s.delete(f"{api}/{rel['id']}")
    s.get(f"{api}/{rel['id']}")  # 401-less 404
    s.get(f"{api}/latest")

    packages = GhcrPackages(TOKEN, api_url=gh.url, **fast)
    for owner, name, tag in (("octo", "app", "1.0.0"), ("acme", "tools/web", "2.0.0")):
        for version in packages.list_versions(owner, name):
            if tag in version.tags:
                packages.delete_version(owner, name, version.id)
    with pytest.raises(ReleaseError):
        packages.list_versions("octo", "missing")
    gh.add_token("ghp_noscope", login="octo", packages=None)
    with pytest.raises(ReleaseError):
        GhcrPackages("ghp_noscope", api_url=gh.url, **fast).list_versions("acme", "tools/web")  # 403
    with pytest.raises(ReleaseError):
        GhcrPackages("bad", api_url=gh.url, **fast).list_versions("acme", "tools/web")  # 401


def test_every_exchange_matches_the_openapi_description(fake_github):
    run_scenario(fake_github)
    exchanges = [r for r in fake_github.requests if r.operation is not None and not r.injected]

    covered: set[tuple[str, str, int]] = set()
    for rec in exchanges:
        template, method = rec.operation
        op = SPEC["paths"][template][method]
        body_spec = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body_spec and rec.body:
            validator(body_spec["schema"]).validate(json.loads(rec.body))
        schema, documented = response_schema(template, method, rec.status)
        if rec.response is None:
            assert schema is None, f"{method} {template} {rec.status}: the description expects a body"
        elif schema is not None:
            try:
                validator(schema).validate(rec.response)
            except ValidationError as exc:  # pragma: no cover - message for the failure
                pytest.fail(f"{method.upper()} {template} {rec.status}: {exc.message} at {list(exc.absolute_path)}")
        if documented:
            covered.add((template, method, rec.status))

    served = {(t, m) for t, ops in SPEC["paths"].items() for m in ops}
    assert {(t, m) for t, m, _ in covered} == served, "every operation answered at least once as documented"
    for needed in [
        ("/repos/{owner}/{repo}/releases", "post", 201),
        ("/repos/{owner}/{repo}/releases", "post", 422),
        ("/repos/{owner}/{repo}/releases/tags/{tag}", "get", 404),
        ("/repos/{owner}/{repo}", "get", 404),
        ("/users/{username}/packages/{package_type}/{package_name}/versions", "get", 404),
        ("/orgs/{org}/packages/{package_type}/{package_name}/versions", "get", 403),
        ("/orgs/{org}/packages/{package_type}/{package_name}/versions", "get", 401),
        ("/orgs/{org}/packages/{package_type}/{package_name}/versions/{package_version_id}", "delete", 204),
        ("/users/{username}/packages/{package_type}/{package_name}/versions/{package_version_id}", "delete", 204),
    ]:
        assert needed in covered, needed


def test_the_check_catches_a_wrong_shape(fake_github):
    gh = github_repo(fake_github, "acme/app", TOKEN, login="octocat")
    release = gh._release_json(gh.add_release("acme/app", "v1.0.0"))
    schema, _ = response_schema("/repos/{owner}/{repo}/releases", "post", 201)
    validator(schema).validate(release)
    broken = dict(release)
    del broken["upload_url"]
    with pytest.raises(ValidationError):
        validator(schema).validate(broken)
    with pytest.raises(ValidationError):
        validator(schema).validate({**release, "published_at": "yesterday"})
