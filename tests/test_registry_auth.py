"""Registry credentials: resolution (settings env, CI variables, Docker config and credential helpers) and the
auth flows against real registries: htpasswd basic auth, and token auth backed by a token server in the test."""

from __future__ import annotations

import base64
import json
import os
import stat
import uuid
from pathlib import Path

import pytest

from image_release.adapters.http_retry import RetryPolicy
from image_release.adapters.registry import RegistryClient
from image_release.adapters.registry_auth import (
    Credentials,
    docker_auth_config,
    docker_config_path,
    resolve_credentials,
)
from image_release.errors import AuthError, ConfigError
from tests.fixtures.registry_extra import (
    IDENTITY_TOKEN,
    PASSWORD,
    READER,
    READER_PASSWORD,
    SERVICE,
    USER,
)


FAST = RetryPolicy(attempts=2, base_delay=0.0, jitter=False)
HELPER_SECRET = "helper-Secret-" + uuid.uuid4().hex


# -- Credentials and resolution -----------------------------------------------------------------------------


def test_credentials_hide_the_password():
    creds = Credentials("bob", "hunter2-very-secret", source="env A/B")
    for text in (repr(creds), str(creds), f"{creds}", repr([creds]), repr(RegistryClient("127.0.0.1:1", creds))):
        assert "hunter2-very-secret" not in text
    assert "bob" in repr(creds) and "***" in repr(creds)
    assert docker_auth_config(creds) == {"username": "bob", "password": "hunter2-very-secret"}
    assert docker_auth_config(None) is None
    assert Credentials("a", "x", source="one") == Credentials("a", "x", source="other")


def test_env_names_from_settings():
    env = {"REG_USER": "ci-bot", "REG_PASS": "pw-1"}
    creds = resolve_credentials("registry.example.com", env, ("REG_USER", "REG_PASS"))
    assert (creds.username, creds.password) == ("ci-bot", "pw-1")
    assert "REG_USER/REG_PASS" in creds.source


@pytest.mark.parametrize("env", [{"REG_USER": "u"}, {"REG_PASS": "Secret-Value-42"}, {"REG_USER": "u", "REG_PASS": ""}])
def test_half_a_pair_is_a_config_error(env):
    with pytest.raises(ConfigError) as info:
        resolve_credentials("registry.example.com", env, ("REG_USER", "REG_PASS"))
    assert "REG_USER and REG_PASS" in info.value.hint
    assert "is not set" in info.value.message
    assert "Secret-Value-42" not in str(info.value)


@pytest.mark.parametrize("names", [("ONLY",), ("A", ""), ("A", "B", "C")])
def test_bad_env_names_are_a_config_error(names):
    with pytest.raises(ConfigError):
        resolve_credentials("ghcr.io", {}, names)  # type: ignore[arg-type]


def test_settings_env_wins_over_ci_variables():
    env = {"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "octo", "GITHUB_TOKEN": "ghs_x", "U": "me", "P": "mine"}
    assert resolve_credentials("ghcr.io", env, ("U", "P")).username == "me"
    assert resolve_credentials("ghcr.io", env).username == "octo"


def test_github_actions_for_ghcr_only(tmp_path):
    env = {"GITHUB_ACTIONS": "true", "GITHUB_ACTOR": "octocat", "GITHUB_TOKEN": "ghs_abc", "HOME": str(tmp_path)}
    creds = resolve_credentials("ghcr.io", env)
    assert (creds.username, creds.password) == ("octocat", "ghs_abc")
    assert resolve_credentials("registry.example.com", env) is None
    assert resolve_credentials("ghcr.io", {**env, "GITHUB_ACTIONS": ""}) is None
    assert resolve_credentials("ghcr.io", {**env, "GITHUB_TOKEN": ""}) is None


def test_gitlab_ci_for_its_registry_only(tmp_path):
    env = {"GITLAB_CI": "true", "CI_REGISTRY": "gitlab.example.com:5050", "CI_REGISTRY_USER": "gitlab-ci-token",
           "CI_REGISTRY_PASSWORD": "job-token", "HOME": str(tmp_path)}
    creds = resolve_credentials("gitlab.example.com:5050", env)
    assert (creds.username, creds.password) == ("gitlab-ci-token", "job-token")
    assert resolve_credentials("GitLab.example.com:5050", env) is not None
    assert resolve_credentials("gitlab.example.com", env) is None
    assert resolve_credentials("ghcr.io", env) is None


def write_config(directory: Path, doc: dict) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "config.json"
    path.write_text(json.dumps(doc))
    return path


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_docker_config_auths_via_docker_config_env(tmp_path):
    conf = tmp_path / "dockercfg"
    write_config(conf, {"auths": {"127.0.0.1:5999": {"auth": b64("cfg-user:cfg-pass")},
                                  "https://index.docker.io/v1/": {"auth": b64("hub-user:hub-pass")}}})
    env = {"DOCKER_CONFIG": str(conf), "HOME": str(tmp_path / "nohome")}
    creds = resolve_credentials("127.0.0.1:5999", env)
    assert (creds.username, creds.password) == ("cfg-user", "cfg-pass")
    assert str(conf) in creds.source
    assert resolve_credentials("docker.io", env).username == "hub-user"
    assert resolve_credentials("index.docker.io", env).username == "hub-user"
    assert resolve_credentials("127.0.0.1:6000", env) is None


def test_docker_config_from_home_when_no_docker_config(tmp_path):
    write_config(tmp_path / ".docker", {"auths": {"ghcr.io": {"auth": b64("h:p")}}})
    env = {"HOME": str(tmp_path)}
    assert docker_config_path(env) == tmp_path / ".docker" / "config.json"
    assert resolve_credentials("ghcr.io", env).username == "h"
    assert resolve_credentials("ghcr.io", {"HOME": str(tmp_path / "empty")}) is None


def test_identity_token_entry(tmp_path):
    conf = tmp_path / "c"
    write_config(conf, {"auths": {"myreg.example.com": {"identitytoken": "refresh-xyz"}}})
    creds = resolve_credentials("myreg.example.com", {"DOCKER_CONFIG": str(conf)})
    assert creds.is_identity_token and creds.password == "refresh-xyz"
    assert docker_auth_config(creds) == {"identitytoken": "refresh-xyz"}


@pytest.fixture
def helper_bin(tmp_path, monkeypatch):
    """docker-credential-irtest (knows 127.0.0.1 registries) and docker-credential-irbroken (always fails)
    on PATH, as the docker SDK finds helpers through PATH."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    good = bindir / "docker-credential-irtest"
    good.write_text(f"""#!/bin/sh
read server
[ "$1" = get ] || exit 1
case "$server" in
  127.0.0.1:*) printf '{{"ServerURL":"%s","Username":"helper-user","Secret":"{HELPER_SECRET}"}}' "$server" ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
""")
    broken = bindir / "docker-credential-irbroken"
    broken.write_text("#!/bin/sh\necho 'keychain locked: cannot read secrets' >&2\nexit 3\n")
    for script in (good, broken):
        script.chmod(script.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return bindir


def test_cred_helpers_per_registry(tmp_path, helper_bin):
    conf = tmp_path / "c"
    write_config(conf, {"credHelpers": {"127.0.0.1:5999": "irtest"},
                        "auths": {"ghcr.io": {"auth": b64("plain:pw")}}})
    env = {"DOCKER_CONFIG": str(conf)}
    creds = resolve_credentials("127.0.0.1:5999", env)
    assert (creds.username, creds.password) == ("helper-user", HELPER_SECRET)
    assert resolve_credentials("ghcr.io", env).username == "plain"  # no helper for it: auths
    assert resolve_credentials("127.0.0.1:6000", env) is None


def test_creds_store_for_every_registry(tmp_path, helper_bin):
    conf = tmp_path / "c"
    write_config(conf, {"credsStore": "irtest"})
    env = {"DOCKER_CONFIG": str(conf)}
    assert resolve_credentials("127.0.0.1:7000", env).password == HELPER_SECRET
    assert resolve_credentials("registry.example.com", env) is None  # helper: not found


def test_failing_helper_is_an_auth_error(tmp_path, helper_bin):
    conf = tmp_path / "c"
    write_config(conf, {"credHelpers": {"127.0.0.1:5999": "irbroken"}})
    with pytest.raises(AuthError) as info:
        resolve_credentials("127.0.0.1:5999", {"DOCKER_CONFIG": str(conf)})
    assert "127.0.0.1:5999" in info.value.message
    assert "docker login 127.0.0.1:5999" in info.value.hint


def test_missing_helper_is_an_auth_error(tmp_path):
    conf = tmp_path / "c"
    write_config(conf, {"credsStore": "not-installed-anywhere"})
    with pytest.warns(UserWarning), pytest.raises(AuthError) as info:
        resolve_credentials("127.0.0.1:5999", {"DOCKER_CONFIG": str(conf)})
    assert "installed" in info.value.hint


# -- basic auth against a real registry (htpasswd, bcrypt) ---------------------------------------------------


@pytest.fixture
def basic_repo(pushed_image, basic_registry):
    repo = f"t/{uuid.uuid4().hex[:12]}"
    basic_registry.copy_in(pushed_image.ref, f"{repo}:1.0.0", USER, PASSWORD)
    return basic_registry, repo, pushed_image.digest


@pytest.mark.services
def test_basic_auth_reads_and_writes(basic_repo):
    registry, repo, digest = basic_repo
    reg = RegistryClient(registry.host, Credentials(USER, PASSWORD), retry=FAST)
    assert reg.ping() == "basic"
    assert reg.head_manifest(repo, "1.0.0").digest == digest
    reg.stats.reset()
    reg.put_manifest(repo, "latest", reg.get_manifest(repo, "1.0.0"))
    # once the registry asked for Basic, the credentials go with every request: no 401 round trips
    assert reg.stats.by_kind == {"GET manifests": 1, "PUT manifests": 1}
    assert sorted(reg.list_tags(repo)) == ["1.0.0", "latest"]
    assert registry.skopeo_digest(f"{repo}:latest") == digest
    assert reg.delete_tag(repo, "latest") == "throwaway"
    assert reg.list_tags(repo) == ["1.0.0"]
    assert registry.skopeo_tags(repo) == ["1.0.0"]


@pytest.mark.services
def test_basic_auth_credentials_from_a_credential_helper(basic_repo, tmp_path, helper_bin):
    registry, repo, digest = basic_repo
    # the helper answers for 127.0.0.1:* with helper-user: register that user's password in the helper script
    helper = helper_bin / "docker-credential-irtest"
    helper.write_text(helper.read_text().replace('"helper-user"', f'"{USER}"').replace(HELPER_SECRET, PASSWORD))
    conf = tmp_path / "c"
    write_config(conf, {"credHelpers": {registry.host: "irtest"}})
    creds = resolve_credentials(registry.host, {"DOCKER_CONFIG": str(conf)})
    reg = RegistryClient(registry.host, creds, retry=FAST)
    assert reg.head_manifest(repo, "1.0.0").digest == digest


@pytest.mark.services
@pytest.mark.parametrize("creds", [None, Credentials(USER, "wrong-Password-123"), Credentials("mallory", PASSWORD)])
def test_basic_auth_refused(basic_repo, creds):
    registry, repo, _ = basic_repo
    reg = RegistryClient(registry.host, creds, retry=FAST)
    with pytest.raises(AuthError) as info:
        reg.head_manifest(repo, "1.0.0")
    text = str(info.value)
    assert registry.host in info.value.message
    assert f"docker login {registry.host}" in info.value.hint
    assert PASSWORD not in text and "wrong-Password-123" not in text
    if creds is None:
        assert "anonymous" in info.value.message
    else:
        assert repr(creds.username) in info.value.message


# -- token auth against a real registry (auth: token, JWTs signed by the test's token server) ----------------


@pytest.fixture
def token_repo(pushed_image, token_registry):
    repo = f"t/{uuid.uuid4().hex[:12]}"
    token_registry.copy_in(pushed_image.ref, f"{repo}:1.0.0", USER, PASSWORD)
    token_registry.token_server.reset()
    return token_registry, repo, pushed_image.digest


def scopes_asked(server) -> list[list[str]]:
    return [r["scopes"] for r in server.requests]


@pytest.mark.services
def test_bearer_flow_scopes_per_operation_and_cache(token_repo):
    registry, repo, digest = token_repo
    tokens = registry.token_server
    reg = RegistryClient(registry.host, Credentials(USER, PASSWORD), retry=FAST)

    assert reg.head_manifest(repo, "1.0.0").digest == digest
    assert reg.get_manifest(repo, "1.0.0").digest == digest  # same scope: the cached token
    assert scopes_asked(tokens) == [[f"repository:{repo}:pull"]]
    assert tokens.requests[0]["user"] == USER and tokens.requests[0]["service"] == SERVICE

    manifest = reg.get_manifest(repo, "1.0.0")
    reg.put_manifest(repo, "latest", manifest)
    reg.put_manifest(repo, "1.0", manifest)
    assert scopes_asked(tokens)[1:] == [[f"repository:{repo}:pull,push"]]

    assert sorted(reg.list_tags(repo)) == ["1.0", "1.0.0", "latest"]
    assert reg.delete_tag(repo, "1.0") == "throwaway"
    assert scopes_asked(tokens)[2:] == [[f"repository:{repo}:delete"]]
    assert len(tokens.requests) == 3  # one token per scope, then cached
    assert reg.stats.of("token") == 3

    assert sorted(reg.list_tags(repo)) == ["1.0.0", "latest"]
    assert reg.tags_by_digest(repo) == {digest: ["1.0.0", "latest"]}
    assert reg.ping() == "bearer"
    # the independent client agrees
    assert registry.skopeo_tags(repo) == ["1.0.0", "latest"]
    assert registry.skopeo_digest(f"{repo}:latest") == digest


@pytest.mark.services
def test_bearer_reader_may_pull_but_not_push(token_repo):
    registry, repo, digest = token_repo
    reg = RegistryClient(registry.host, Credentials(READER, READER_PASSWORD), retry=FAST)
    manifest = reg.get_manifest(repo, "1.0.0")
    assert manifest.digest == digest
    with pytest.raises(AuthError) as info:
        reg.put_manifest(repo, "latest", manifest)
    assert repr(READER) in info.value.message and "PUT" in info.value.message
    assert "denied" in info.value.message and "permission" in info.value.hint
    assert READER_PASSWORD not in str(info.value)


@pytest.mark.services
def test_bearer_wrong_password_refused_at_token_endpoint(token_repo):
    registry, repo, _ = token_repo
    secret = "wrong-" + uuid.uuid4().hex
    reg = RegistryClient(registry.host, Credentials(USER, secret), retry=FAST)
    with pytest.raises(AuthError) as info:
        reg.head_manifest(repo, "1.0.0")
    assert secret not in str(info.value) and secret not in repr(reg)
    assert f"docker login {registry.host}" in info.value.hint
    assert registry.token_server.requests[-1] == {"user": USER, "scopes": [f"repository:{repo}:pull"],
                                                  "authorized": False}
    with pytest.raises(AuthError):
        reg.ping()


@pytest.mark.services
def test_bearer_anonymous_gets_no_access(token_repo):
    registry, repo, _ = token_repo
    reg = RegistryClient(registry.host, retry=FAST)
    assert reg.ping() == "bearer"  # reachable; asks for a token
    with pytest.raises(AuthError) as info:
        reg.list_tags(repo)
    assert "anonymous" in info.value.message
    assert registry.token_server.requests[-1]["user"] is None


@pytest.mark.services
def test_bearer_identity_token_is_traded_at_the_token_endpoint(token_repo):
    registry, repo, digest = token_repo
    reg = RegistryClient(registry.host, Credentials("<token>", IDENTITY_TOKEN), retry=FAST)
    assert reg.head_manifest(repo, "1.0.0").digest == digest
    last = registry.token_server.requests[-1]
    assert last["grant"] == "refresh_token" and last["user"] == USER


@pytest.mark.services
def test_expired_token_is_refreshed(token_repo):
    registry, repo, digest = token_repo
    reg = RegistryClient(registry.host, Credentials(USER, PASSWORD), retry=FAST)
    reg.head_manifest(repo, "1.0.0")
    # a cached token the registry no longer accepts (as after expiry): the client asks for a new one
    scope = f"repository:{repo}:pull"
    reg._tokens[scope] = ("not-a-valid-token", reg._tokens[scope][1])
    assert reg.head_manifest(repo, "1.0.0").digest == digest
    assert len(registry.token_server.requests) == 2


@pytest.mark.services
def test_secrets_never_in_logs_errors_or_tracebacks(token_repo, basic_repo, caplog):
    import logging
    import traceback

    planted = "PLANTED-" + uuid.uuid4().hex
    lines: list[str] = []
    texts: list[str] = []
    with caplog.at_level(logging.DEBUG):  # urllib3 logs every request line at DEBUG
        for registry, repo, _ in (token_repo, basic_repo):
            for creds in (Credentials(USER, planted), Credentials("<token>", planted)):
                reg = RegistryClient(registry.host, creds, retry=FAST, log=lines.append)
                for call in (reg.ping, lambda: reg.head_manifest(repo, "1.0.0"), lambda: reg.list_tags(repo)):
                    try:
                        call()
                    except Exception as exc:  # noqa: BLE001 - every error text is scanned
                        texts.append(str(exc))
                        texts.append("".join(traceback.format_exception(exc)))
                texts.append(repr(reg))
    assert texts and all(planted not in t for t in texts)
    assert planted not in caplog.text and all(planted not in line for line in lines)
