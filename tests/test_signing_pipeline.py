"""The signing wiring without the engine: settings, the sign actions and what a dry run says about them, what
goes with a deleted image (core decisions, the guard, the three deleters on their fakes), the redactor's forms
of the key, the notes' Verify section, the cosign argv (a fake cosign on PATH records it), the source date of
the ``created`` label, and the verify task's input errors."""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import subprocess
import sys
from datetime import datetime, timezone
from urllib.parse import quote

import pytest

from image_release.adapters import cosign_cli, keys
from image_release.adapters.deleters import GhcrDeleter, GitLabDeleter
from image_release.adapters.ghcr_packages import GhcrPackages
from image_release.adapters.gitlab_registry import GitLabRegistry
from image_release.adapters.http_retry import RetryPolicy
from image_release.core import attestation as att
from image_release.core.actions import Attest, DeleteAttached, DeleteManifest, DeleteTag, Sign
from image_release.core.cleanup import attached_actions, attached_owners, children_to_read
from image_release.core.notes import NotesInput, render_notes
from image_release.core.provenance import BuildFacts
from image_release.core.retention import plan_retention
from image_release.core.signing import split_attached
from image_release.core.signing_plan import (
    SigningInputs, keyless_identity, sbom_asset_name, signed_note, signing_actions, verify_command,
)
from image_release.errors import ConfigError, DeleteRefused
from image_release.pipeline.attached import AttachedGuard
from image_release.pipeline.redact import Redactor
from image_release.pipeline.run import Run, RunRequest
from image_release.pipeline.steps.cleaning import retain
from image_release.settings import parse_settings
from tests.fixtures.forge_fakes import gitlab_project

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
IMAGE = "registry.example.com/team/app"
SIGN = {"sign": {"key_env": "COSIGN_KEY", "password_env": "COSIGN_PASSWORD"}}


def d(ch: str) -> str:
    return "sha256:" + (ch * 64)[:64]


def sig(digest: str, suffix: str = ".sig") -> str:
    return digest.replace(":", "-") + suffix


# -- settings ------------------------------------------------------------------------------------------------


def test_signing_is_off_by_default_and_on_with_a_key_or_cosign():
    s = parse_settings({})
    assert not s.sign.enabled and s.sbom is None and s.provenance is False
    on = parse_settings({**SIGN, "sbom": True, "provenance": True})
    assert on.sign.enabled and on.sign.mode == "key" and on.sbom == "cyclonedx" and on.provenance
    assert parse_settings({**SIGN, "sbom": {"format": "spdx"}}).sbom == "spdx"
    assert parse_settings({**SIGN, "sbom": {"format": "SPDX-json"}}).sbom == "spdx"
    assert parse_settings({"sign": {"mode": "cosign"}, "sbom": "yes"}).sign.enabled  # keyless
    assert parse_settings({**SIGN, "sbom": "0"}).sbom is None


@pytest.mark.parametrize("raw, words", [
    ({"sbom": True}, "release.sbom makes a signed attestation, but signing is off"),
    ({"provenance": True}, "release.provenance makes a signed attestation"),
    ({"sign": {"mode": "sigstore"}}, "release.sign.mode must be one of key, cosign"),
    ({**SIGN, "sbom": {"format": "syft"}}, "release.sbom.format must be one of cyclonedx, spdx"),
    ({**SIGN, "sbom": {"fmt": "spdx"}}, "unknown setting release.sbom.fmt"),
    # a key pasted where its variable's name belongs is refused without being shown (issue 14)
    ({"sign": {"key_env": "-----BEGIN EC PRIVATE KEY-----"}}, "must name an environment variable"),
    ({"sign": {"keyenv": "X"}}, "unknown setting release.sign.keyenv"),
])
def test_bad_signing_settings_are_config_errors(raw, words):
    with pytest.raises(ConfigError) as info:
        parse_settings(raw)
    assert words in info.value.message and info.value.hint


# -- the actions ----------------------------------------------------------------------------------------------


FACTS = BuildFacts("https://github.com/acme/app", "c" * 40, "refs/tags/v1.2.3")


def test_each_image_is_attested_then_signed_and_the_signature_lists_the_attestations():
    inputs = SigningInputs(sbom="cyclonedx", provenance=FACTS)
    actions = signing_actions([IMAGE, "ghcr.io/acme/app"], "1.2.3", inputs, {IMAGE: d("a")})
    assert [type(a) for a in actions] == [Attest, Sign, Attest, Sign]
    assert actions[1].attestations == (att.CYCLONEDX, att.SLSA_PROVENANCE_V1) == actions[0].predicate_types
    assert actions[0].digest == d("a") and actions[2].digest is None
    assert [type(a) for a in signing_actions([IMAGE], "1.2.3", SigningInputs())] == [Sign]
    assert signing_actions([IMAGE], None, inputs) == []  # nothing published, nothing signed


def test_the_dry_run_says_what_would_be_signed_and_attested_and_under_which_tags():
    inputs = SigningInputs(sbom="spdx", provenance=FACTS)
    attest, sign = signing_actions([IMAGE], "1.2.3", inputs)
    assert attest.describe() == (f"attest {IMAGE}:1.2.3 with an SBOM (spdx JSON, made by syft from the registry) and "
                                 "SLSA provenance v1, signed, under sha256-<digest of 1.2.3>.att")
    assert "sign registry.example.com/team/app:1.2.3 with the key of release.sign.key_env" in sign.describe()
    assert "sha256-<digest of 1.2.3>.sig" in sign.describe() and att.SPDX in sign.describe()
    (known,) = signing_actions([IMAGE], "1.2.3", SigningInputs(mode="cosign", keyless=True), {IMAGE: d("b")})
    assert sig(d("b")) in known.describe() and "keyless" in known.describe()


# -- what goes with a deleted image ---------------------------------------------------------------------------


def repository() -> dict[str, list[str]]:
    """Three images (one an index with two signed platform manifests), their objects, one copied object."""
    return {
        d("1"): ["1.0.0"], d("2"): ["1.1.0"], d("3"): ["1.2.0", "latest"],
        d("a"): [sig(d("1"))], d("b"): [sig(d("1"), ".att")], d("c"): [sig(d("2"))],
        d("e"): [sig(d("e1"))], d("f"): [sig(d("e2"))],  # the platform manifests e1, e2 of the index 1
        d("g"): [sig(d("3")), sig(d("2"), ".att")],  # one object copied under two images' tags
    }


def test_attached_objects_are_never_versions():
    images, attached = split_attached(repository())
    plan = plan_retention(images, keep=1, keep_prereleases=0)
    assert not any(t.tag.startswith("sha256-") for t in plan.tags)
    assert attached[d("1")] == sorted([sig(d("1")), sig(d("1"), ".att")])


def test_a_deleted_manifest_takes_its_objects_and_those_of_its_platform_manifests():
    tags = repository()
    assert children_to_read([d("1")], tags) == [d("1")]  # e1, e2 have no tag of their own: maybe children
    owners = attached_owners([d("1"), d("2")], {d("1"): [d("e1"), d("e2")]})
    actions = attached_actions(IMAGE, owners, tags)
    whole = {a.digest: (a.tags, a.subject) for a in actions if isinstance(a, DeleteAttached)}
    assert whole == {d("a"): ((sig(d("1")),), d("1")), d("b"): ((sig(d("1"), ".att"),), d("1")),
                     d("c"): ((sig(d("2")),), d("2")), d("e"): ((sig(d("e1")),), d("1")),
                     d("f"): ((sig(d("e2")),), d("1"))}
    lone = [a for a in actions if isinstance(a, DeleteTag)]
    assert [(a.tag, a.digest) for a in lone] == [(sig(d("2"), ".att"), d("g"))]  # the copy stays for 3
    assert "signatures of sha256:e1e1e1e1e1e1" in next(a for a in actions if a.digest == d("e")).what
    assert attached_actions(IMAGE, attached_owners([d("3")]), {d("3"): ["1.2.0"]}) == []


def test_no_manifest_is_read_when_every_attached_object_belongs_to_a_tagged_image():
    tags = {d("1"): ["1.0.0"], d("a"): [sig(d("1"))]}
    assert children_to_read([d("1")], tags) == []


class MemoryDeleter:
    """An OCI repository in memory: deleting a digest removes its tags; ``refuse`` digests answer DeleteRefused."""

    kind = "OCI registry"
    image = IMAGE
    supports_single_tag = True
    supports_bulk = False

    def __init__(self, tags: dict[str, list[str]], refuse: tuple[str, ...] = ()):
        self.tags = {k: list(v) for k, v in tags.items()}
        self.refuse = refuse
        self.calls: list[str] = []

    def tags_by_digest(self):
        return {k: sorted(v) for k, v in self.tags.items() if v}

    def delete_digest(self, digest, tags=()):
        self.calls.append(digest)
        if digest in self.refuse:
            raise DeleteRefused(f"{digest} is protected", hint="ask an admin")
        return "manifest deleted" if self.tags.pop(digest, None) is not None else "already gone"

    def delete_tag(self, tag):
        self.calls.append(tag)
        for tags in self.tags.values():
            if tag in tags:
                tags.remove(tag)
        return "tag deleted"


def quiet_run(dry_run: bool = False) -> Run:
    return Run({"dry_run": dry_run}, RunRequest(steps=("retention",)), env={}, out=io.StringIO(), err=io.StringIO())


def test_retention_deletes_the_objects_after_their_image_and_the_dry_run_lists_them():
    tags = {d("1"): ["1.0.0"], d("2"): ["1.1.0"], d("a"): [sig(d("1"))], d("b"): [sig(d("1"), ".att")],
            d("c"): [sig(d("2"))]}
    deleter = MemoryDeleter(tags)
    plan = plan_retention(split_attached(tags)[0], keep=1, keep_prereleases=0)
    dry = retain(quiet_run(True), deleter, plan, deleter.tags_by_digest())
    text = "\n".join(dry.lines())
    assert "would delete manifest sha256:111111111111 (tags 1.0.0)" in text
    assert f"{sig(d('1'))}: signatures of sha256:111111111111): its image sha256:111111111111 is deleted" in text
    assert deleter.calls == []
    report = retain(quiet_run(), deleter, plan, deleter.tags_by_digest())
    assert deleter.calls == [d("1"), d("a"), d("b")] and report.ok
    assert deleter.tags_by_digest() == {d("2"): ["1.1.0"], d("c"): [sig(d("2"))]}


def test_an_image_the_registry_keeps_keeps_its_signature():
    tags = {d("1"): ["1.0.0"], d("2"): ["1.1.0"], d("a"): [sig(d("1"))]}
    deleter = MemoryDeleter(tags, refuse=(d("1"),))
    plan = plan_retention(split_attached(tags)[0], keep=1, keep_prereleases=0)
    report = retain(quiet_run(), deleter, plan, deleter.tags_by_digest())
    assert deleter.calls == [d("1")]  # the signature's delete was never sent
    assert [i.detail for i in report.left_behind] == [f"{d('1')} is protected",
                                                      "kept with its image sha256:111111111111, which was not deleted"]
    assert d("a") in deleter.tags_by_digest()


def test_the_guard_passes_everything_else_through():
    inner = MemoryDeleter({d("1"): ["x"]})
    guard = AttachedGuard(inner, {}, [])
    assert guard.kind == "OCI registry" and guard.image == IMAGE and guard.delete_digest(d("1")) == "manifest deleted"


GH_TOKEN = "ghp_signing_cleanup_123"


def test_ghcr_deletes_the_signature_versions_with_the_image(fake_github):
    fake_github.add_token(GH_TOKEN, login="octo")
    fake_github.add_package("acme", "app", owner_type="org", versions=[
        (d("1"), ["1.0.0"]), (d("2"), ["1.1.0", "1.1", "latest"]), (d("a"), [sig(d("1"))]),
        (d("b"), [sig(d("1"), ".att")]), (d("c"), [sig(d("2"))]),
    ])
    packages = GhcrPackages(GH_TOKEN, api_url=fake_github.url, retry=RetryPolicy(attempts=2, base_delay=0, jitter=False),
                            seconds_between_requests=0, seconds_between_writes=0)
    deleter = GhcrDeleter(packages, "acme", "app")
    tags = deleter.tags_by_digest()
    retain(quiet_run(), deleter, plan_retention(split_attached(tags)[0], keep=1, keep_prereleases=0), tags)
    left = {v.name: sorted(v.tags) for v in fake_github.packages[("acme", "app")].versions.values()}
    assert left == {d("2"): ["1.1", "1.1.0", "latest"], d("c"): [sig(d("2"))]}


def test_gitlab_deletes_the_signature_tags_with_the_image(fake_gitlab):
    project = gitlab_project(fake_gitlab, "glpat-signing-123", "glcbt-signing-456")
    repo = fake_gitlab.add_repository(project, "app")
    for digest, names in {d("1"): ["1.0.0"], d("2"): ["1.1.0"], d("a"): [sig(d("1"))], d("c"): [sig(d("2"))]}.items():
        for name in names:
            fake_gitlab.add_registry_tag(repo, name, digest=digest)
    registry = GitLabRegistry(fake_gitlab.url, "group/proj", token="glpat-signing-123", timeout=5,
                              retry=RetryPolicy(attempts=2, base_delay=0, jitter=False))
    deleter = GitLabDeleter(registry, repo.id)
    tags = deleter.tags_by_digest()
    retain(quiet_run(), deleter, plan_retention(split_attached(tags)[0], keep=1, keep_prereleases=0), tags)
    assert sorted(repo.tags) == sorted(["1.1.0", sig(d("2"))])


# -- secrets --------------------------------------------------------------------------------------------------


def test_the_redactor_hides_the_key_in_every_form_it_takes():
    pair = keys.generate_key_pair("a-Password-1")
    pem, password = pair.private_pem.decode(), "a-Password-1"
    settings = parse_settings(SIGN)
    for stored in (pem, base64.b64encode(pem.encode()).decode()):
        red = Redactor.from_env({"COSIGN_KEY": stored, "COSIGN_PASSWORD": password}, settings)
        body_lines = [ln for ln in pem.splitlines() if not ln.startswith("-----")]
        for leak in [pem, quote(pem, safe=""), base64.b64encode(pem.encode()).decode(), password,
                     quote(password, safe=""), base64.b64encode(password.encode()).decode(), *body_lines[:-1]]:
            assert "***" in red(f"x {leak} y") and leak not in red(f"x {leak} y")
    assert Redactor.from_env({"COSIGN_KEY": pem}).values == ()  # not named: COSIGN_KEY matches no suffix


# -- the notes ------------------------------------------------------------------------------------------------


def notes(signed) -> str:
    return render_notes(NotesInput(project="app", version="1.2.3", tag="v1.2.3", images=(IMAGE,),
                                   published=(f"{IMAGE}:1.2.3",), digest=d("7"), signed=signed))


def test_the_notes_say_the_image_is_signed_and_how_to_verify_it():
    inputs = SigningInputs(sbom="cyclonedx", provenance=FACTS)
    note = signed_note(IMAGE, d("7"), "1.2.3", inputs, sbom_asset=sbom_asset_name("cyclonedx", "1.2.3"))
    text = notes(note)
    assert "## Verify" in text and "The image is signed in cosign's format" in text
    assert f"image-release verify {IMAGE}@{d('7')} --key cosign.pub" in text
    assert "SBOM (CycloneDX JSON), SLSA provenance v1" in text and "`sbom-1.2.3.cdx.json`" in text
    assert "## Verify" not in notes(None)
    dry = signed_note(IMAGE, None, "1.2.3", SigningInputs())
    assert dry.command == f"image-release verify {IMAGE}:1.2.3 --key cosign.pub"


def test_a_keyless_signature_is_verified_with_cosign_and_the_ci_identity():
    identity = keyless_identity("github", "https://github.com", "acme/app", {})
    assert identity == ("^https://github\\.com/acme/app/", "https://token.actions.githubusercontent.com")
    command = verify_command(IMAGE, f"@{d('7')}", SigningInputs(mode="cosign", keyless=True), identity)
    assert command == (f"cosign verify {IMAGE}@{d('7')} --certificate-identity-regexp "
                       "'^https://github\\.com/acme/app/' --certificate-oidc-issuer "
                       "'https://token.actions.githubusercontent.com'")
    assert keyless_identity("gitlab", "https://gitlab.example.com", "g/p", {})[0] == "^https://gitlab\\.example\\.com/g/p//"
    assert "keyless with cosign" in notes(signed_note(IMAGE, d("7"), "1.2.3", SigningInputs(mode="cosign", keyless=True)))


# -- cosign ---------------------------------------------------------------------------------------------------


@pytest.fixture
def fake_cosign(tmp_path):
    """A `cosign` on PATH that records its argv, the names of the COSIGN_* variables it got and the predicate."""
    log = tmp_path / "cosign.log"
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "cosign"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        "pred = sys.argv[sys.argv.index('--predicate') + 1] if '--predicate' in sys.argv else None\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(json.dumps({'argv': sys.argv[1:], 'env': sorted(k for k in os.environ if k.startswith('COSIGN')),\n"
        "                        'password': os.environ.get('COSIGN_PASSWORD') == 'pw-PLANTED-1',\n"
        "                        'predicate': json.load(open(pred)) if pred else None}) + '\\n')\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return bindir, log


def test_cosign_gets_the_key_by_name_and_the_password_in_its_environment(fake_cosign):
    bindir, log = fake_cosign
    env = {"PATH": f"{bindir}:{os.environ['PATH']}", "RELEASE_KEY": "-----BEGIN PLANTED-----", "KEY_PW": "pw-PLANTED-1"}
    binary = cosign_cli.cosign_binary(env)
    ref = f"127.0.0.1:5000/t/app@{d('7')}"
    cosign_cli.sign(binary, ref, env=cosign_cli.cosign_env(env, "KEY_PW"), key_env="RELEASE_KEY",
                    annotations={"dev.image-release/attestations": att.CYCLONEDX}, plain_http=True)
    cosign_cli.attest(binary, ref, att.SLSA_PROVENANCE_V1, b'{"buildDefinition": {}}', env=env, plain_http=False)
    first, second = [json.loads(line) for line in log.read_text().splitlines()]
    assert first["argv"] == ["sign", "--yes", "--key", "env://RELEASE_KEY", "--allow-http-registry", "--recursive",
                             "-a", f"dev.image-release/attestations={att.CYCLONEDX}", ref]
    assert first["password"] and "COSIGN_PASSWORD" in first["env"]
    assert second["argv"][:5] == ["attest", "--yes", "--replace", "--type", "slsaprovenance1"]
    assert second["predicate"] == {"buildDefinition": {}} and second["argv"][-1] == ref
    assert "PLANTED" not in log.read_text().replace('"password": true', "")


def test_cosign_missing_or_failing_is_a_clear_error(tmp_path, fake_cosign):
    with pytest.raises(ConfigError) as info:
        cosign_cli.cosign_binary({"PATH": str(tmp_path)})
    assert "no cosign on PATH" in info.value.message and "cosign-installer" in info.value.hint
    failing = tmp_path / "bin" / "cosign"
    failing.write_text("#!/bin/sh\necho 'Error: signing: getting OIDC token: no token' >&2\nexit 1\n")
    from image_release.errors import SigningError

    with pytest.raises(SigningError) as info:
        cosign_cli.sign(str(failing), f"r/x@{d('7')}", env={})
    assert "getting OIDC token" in info.value.message and "id-token: write" in info.value.hint


# -- the created label ----------------------------------------------------------------------------------------


class _Ctx:
    commit_date = datetime(2024, 5, 6, 7, 8, 9, tzinfo=timezone.utc)
    sha = "c" * 40


class _Run:
    def __init__(self, env):
        self.env, self.context, self.root = env, _Ctx(), ROOT


def test_created_comes_from_source_date_epoch_else_the_commit_time():
    from image_release.pipeline.source_date import CREATED, source_date, with_created_label

    assert source_date(_Run({"SOURCE_DATE_EPOCH": "1700000000"})) == datetime(2023, 11, 14, 22, 13, 20, tzinfo=timezone.utc)
    assert source_date(_Run({})) == _Ctx.commit_date
    with pytest.raises(ConfigError):
        source_date(_Run({"SOURCE_DATE_EPOCH": "yesterday"}))
    labels = dict(with_created_label(_Run({}), parse_settings({})).build.labels)
    assert labels[CREATED] == "2024-05-06T07:08:09Z"
    own = parse_settings({"build": {"labels": {CREATED: "1999-01-01T00:00:00Z"}}})
    assert dict(with_created_label(_Run({}), own).build.labels)[CREATED] == "1999-01-01T00:00:00Z"


# -- the verify task's inputs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("args, words", [
    (["verify", "127.0.0.1:5000/t/app:1.0.0"], "verify needs the public key"),
    (["verify", "127.0.0.1:5000/t/app:1.0.0", "--key", "/nonexistent/cosign.pub"], "cannot read the public key"),
    (["verify", "127.0.0.1:5000/t/app", "--key", "x.pub"], "names no tag or digest to verify"),
    (["verify", "127.0.0.1:5000/T/app:1", "--key", "x.pub"], "invalid"),
])
def test_verify_input_errors_exit_2_with_a_hint(tmp_path, args, words):
    (tmp_path / "x.pub").write_text("not a key")
    proc = subprocess.run([sys.executable, "-m", "invoke", "--search-root", ROOT,
                           *args], cwd=tmp_path, capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if not k.startswith("INVOKE_")})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert words in proc.stderr and "hint:" in proc.stderr


def test_the_chain_signs_after_publishing_and_every_sign_action_has_a_handler():
    from image_release.core import actions as a
    from image_release.pipeline.runner import HANDLERS
    from image_release.pipeline.steps import CHAINS, chain_of

    assert CHAINS["release"] == ("plan", "build", "publish", "sign", "release")
    assert CHAINS["publish"][-2:] == ("publish", "sign") and "sign" not in CHAINS["tag"]
    assert chain_of(["retention", "release"]) == ("plan", "build", "publish", "sign", "release", "retention")
    assert {a.Attest, a.Sign} <= set(HANDLERS)
    assert issubclass(DeleteAttached, DeleteManifest)
