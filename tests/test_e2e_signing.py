"""Signed releases end to end: the real `invoke` command line in a temp git repository, the real dockerd and
registry, a GitHub fake for the release; what landed is read back with skopeo and plain HTTP and checked by
other implementations than this tool's (``cryptography`` for the signature, securesystemslib for the DSSE
envelopes, in-toto-attestation for the statements). `invoke verify` passes, and fails with a clear reason for
a wrong key, a tag moved to another image, a removed attestation and an altered payload. A re-run of the same
commit writes nothing; a re-release and `invoke clean` leave no orphaned ``.sig``/``.att`` tag; the dry run
lists what would be signed; cosign mode hands the work to a cosign on PATH and never puts a secret on its argv.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from image_release.adapters import keys
from image_release.adapters import signatures as sigs
from image_release.adapters.registry import RegistryClient
from image_release.core import attestation as att
from image_release.core import signing
from image_release.core.signing import attached_subject
from tests.fakes.github_api import FakeGitHub
from tests.fixtures.project import Project, clean_env, digests, write_project
from tests.fixtures.registry_extra import build_and_push, remove_local
from tests.fixtures.services import skopeo_digest, skopeo_tags

pytestmark = pytest.mark.services

PASSWORD = "release-Key-PLANTED-pw"
GH_TOKEN = "ghp_PLANTEDsigningTOKEN0123456789abcdef"
ARG_VALUE = "planted-build-arg-value"
SIGNING = (
    "  sign:\n    key_env: COSIGN_KEY\n    password_env: COSIGN_PASSWORD\n"
    "  sbom: {format: cyclonedx}\n  provenance: true\n"
    f"  build:\n    network: host\n    args: {{GREETING: {ARG_VALUE}}}\n"
)


@pytest.fixture(scope="module")
def key_pair(tmp_path_factory):
    pair = keys.generate_key_pair(PASSWORD)
    folder = tmp_path_factory.mktemp("keys")
    (folder / "cosign.pub").write_bytes(pair.public_pem)
    other = keys.generate_key_pair("")
    (folder / "other.pub").write_bytes(other.public_pem)
    return pair, folder


class Signed(Project):
    """A project that signs, with its environment and keys."""

    env: dict
    keys: Path
    gh: FakeGitHub | None = None

    def run(self, *args: str, check: bool = True, **extra: str) -> subprocess.CompletedProcess:
        return self.invoke(*args, env={**self.env, **extra}, check=check)

    def verify(self, ref: str, key: str = "cosign.pub", cli: str = "invoke") -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "invoke"] if cli == "invoke" else ["image-release"]
        return subprocess.run([*cmd, "verify", ref, "--key", str(self.keys / key)], cwd=self.path, env=self.env,
                              capture_output=True, text=True, timeout=300)

    @property
    def host_repo(self) -> tuple[str, str]:
        host, repo = self.image.split("/", 1)
        return host, repo


def make_signed(path: Path, image: str, key_pair, forge: FakeGitHub | None = None, extra: str = "") -> Signed:
    pair, folder = key_pair
    yaml = SIGNING + extra
    if forge is not None:
        yaml += f"  forge:\n    type: github\n    github:\n      repository: acme/app\n      api_url: {forge.url}\n"
    proj = write_project(path, image, yaml)
    if forge is not None:
        text = (proj.path / "invoke.yaml").read_text().replace("  forge:\n    type: none\n", "")
        (proj.path / "invoke.yaml").write_text(text)
        proj.git("commit", "-qam", "chore: release on GitHub")
    proj.git("remote", "add", "origin", "https://github.com/acme/app.git")
    proj.__class__ = Signed
    proj.env = clean_env(COSIGN_KEY=pair.private_pem.decode(), COSIGN_PASSWORD=PASSWORD, GITHUB_TOKEN=GH_TOKEN)
    proj.keys = folder
    proj.gh = forge
    return proj


@pytest.fixture
def signed(tmp_path, registry_repo, key_pair):
    with FakeGitHub() as gh:
        gh.add_token(GH_TOKEN, login="release-bot")
        gh.add_repo("acme/app")
        yield make_signed(tmp_path / "app", registry_repo, key_pair, gh)


def _raw(ref: str) -> bytes:
    out = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
                         capture_output=True, check=True)
    return out.stdout


def _blob(image: str, digest: str) -> bytes:
    host, repo = image.split("/", 1)
    with urllib.request.urlopen(f"http://{host}/v2/{repo}/blobs/{digest}", timeout=30) as resp:
        return resp.read()


def object_tag(digest: str, suffix: str) -> str:
    return digest.replace(":", "-") + suffix


def orphans(image: str) -> list[str]:
    """Attached tags whose image has no tag of its own in the repository any more."""
    tags = digests(image)
    own = {d for t, d in tags.items() if attached_subject(t) is None}
    return sorted(t for t in tags if attached_subject(t) is not None and attached_subject(t) not in own)


def sslib_key(public_pem: bytes):
    from securesystemslib.signer import SSlibKey

    computed = SSlibKey.from_crypto(serialization.load_pem_public_key(public_pem), scheme="ecdsa-sha2-nistp256")
    return SSlibKey("", computed.keytype, computed.scheme, computed.keyval)


# -- the signed release -------------------------------------------------------------------------------------


def test_a_signed_release_with_sbom_and_provenance_verifies_with_other_implementations(signed, key_pair):
    from securesystemslib.dsse import Envelope

    pair, _folder = key_pair
    signed.tag("v1.0.0")
    out = signed.run("release")
    tags = digests(signed.image)
    digest = tags["1.0.0"]
    assert {tags[t] for t in ("1.0.0", "1.0", "1", "latest")} == {digest}
    assert object_tag(digest, ".sig") in tags and object_tag(digest, ".att") in tags
    assert f"signed {signed.image}@{digest[:19]}" in out.stdout and "attested" in out.stdout
    # the signature, as cosign writes it, checked with `cryptography` directly
    manifest = json.loads(_raw(f"{signed.image}:{object_tag(digest, '.sig')}"))
    (layer,) = manifest["layers"]
    assert layer["mediaType"] == "application/vnd.dev.cosign.simplesigning.v1+json"
    payload = _blob(signed.image, layer["digest"])
    doc = json.loads(payload)
    assert doc["critical"] == {"identity": {"docker-reference": signed.image},
                               "image": {"docker-manifest-digest": digest}, "type": "cosign container image signature"}
    assert doc["optional"] == {"dev.image-release/attestations": f"{att.CYCLONEDX},{att.SLSA_PROVENANCE_V1}"}
    serialization.load_pem_public_key(pair.public_pem).verify(
        base64.b64decode(layer["annotations"]["dev.cosignproject.cosign/signature"]), payload, ec.ECDSA(hashes.SHA256()))
    # the attestations: DSSE envelopes checked by securesystemslib, statements by in-toto-attestation
    att_manifest = json.loads(_raw(f"{signed.image}:{object_tag(digest, '.att')}"))
    statements = {}
    for desc in att_manifest["layers"]:
        envelope = Envelope.from_dict(json.loads(_blob(signed.image, desc["digest"])))
        envelope.verify([sslib_key(pair.public_pem)], 1)
        statement = json.loads(envelope.payload)
        _validate_statement(statement)
        assert statement["subject"] == [{"name": signed.image, "digest": {"sha256": digest.split(":")[1]}}]
        statements[desc["annotations"]["predicateType"]] = statement["predicate"]
    assert sorted(statements) == sorted([att.CYCLONEDX, att.SLSA_PROVENANCE_V1])
    assert statements[att.CYCLONEDX]["bomFormat"] == "CycloneDX"
    provenance = statements[att.SLSA_PROVENANCE_V1]
    params = provenance["buildDefinition"]["externalParameters"]
    assert params["buildArgs"] == ["GREETING"] and ARG_VALUE not in json.dumps(provenance)
    assert params["source"]["uri"] == "git+https://github.com/acme/app@refs/tags/v1.0.0"
    assert provenance["buildDefinition"]["resolvedDependencies"][0]["digest"] == {"gitCommit": signed.head()}
    # the release: the notes say it is signed and how to verify it; the SBOM is an asset
    (rel,) = signed.gh.releases_for("acme/app", "v1.0.0")
    assert "The image is signed in cosign's format" in rel["body"]
    assert f"image-release verify {signed.image}@{digest} --key cosign.pub" in rel["body"]
    assets = signed.gh.asset_files(rel["id"])
    assert json.loads(assets["sbom-1.0.0.cdx.json"]) == statements[att.CYCLONEDX]
    # and this tool's own verify, through both commands
    for cli in ("invoke", "image-release"):
        ok = signed.verify(f"{signed.image}:1.0.0", cli=cli)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert ok.stdout.count("  ok   ") == 3 and f"verified: {signed.image}:1.0.0 is {digest}" in ok.stdout


def _validate_statement(statement: dict) -> None:
    """in-toto-attestation's own Statement v1 validation (its protobuf bindings), independent of this tool."""
    from google.protobuf import json_format
    from in_toto_attestation.v1 import statement_pb2
    from in_toto_attestation.v1.statement import Statement

    Statement.copy_from_pb(json_format.ParseDict(statement, statement_pb2.Statement())).validate()


def test_verify_fails_for_a_wrong_key_a_moved_tag_a_removed_attestation_and_an_altered_payload(signed):
    signed.run("release", "--tag", "v1.0.0")
    ref = f"{signed.image}:1.0.0"
    host, repo = signed.host_repo
    client = RegistryClient(host)
    digest = skopeo_digest(ref)

    def failed(reason: str, key: str = "cosign.pub") -> str:
        proc = signed.verify(ref, key)
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert "does not verify" in proc.stderr and reason in proc.stderr and "hint:" in proc.stderr
        assert "FAIL" in proc.stdout
        return proc.stderr

    failed("signed by another key than the one given", key="other.pub")
    # an attestation removed: the .att object rewritten without the SBOM
    att_tag, sig_tag = object_tag(digest, ".att"), object_tag(digest, ".sig")
    original_att = client.get_manifest(repo, att_tag)
    obj = sigs.load_object(client, repo, att_tag)
    sigs.write_object(client, repo, att_tag,
                      signing.build_object([l for l in obj.layers if l.predicate_type == att.SLSA_PROVENANCE_V1]))
    failed(f"{att.CYCLONEDX}: the signature lists it, but {att_tag} has no such attestation: it was removed")
    client.put_manifest(repo, att_tag, original_att)
    assert signed.verify(ref).returncode == 0
    # the payload altered after signing
    original_sig = client.get_manifest(repo, sig_tag)
    layer = sigs.load_object(client, repo, sig_tag).layers[0]
    forged = signing.Layer(layer.data.replace(b'"optional":{', b'"optional":{"approved":"yes",'), layer.media_type,
                           layer.annotations)
    sigs.write_object(client, repo, sig_tag, signing.build_object([forged]))
    failed("the payload was altered after signing")
    client.put_manifest(repo, sig_tag, original_sig)
    assert signed.verify(ref).returncode == 0
    # the tag moved to another image
    other = build_and_push(signed.image, "other")
    try:
        client.put_manifest(repo, "1.0.0", client.get_manifest(repo, other))
        failed(f"{object_tag(other, '.sig')} does not exist: the image {other} was never signed")
    finally:
        remove_local(f"{signed.image}:other")


# -- lifecycle and re-runs ----------------------------------------------------------------------------------


@pytest.mark.parametrize("builder", ["on", "off"])  # BuildKit (the docker CLI), the classic builder (the SDK)
def test_a_rerun_of_the_same_commit_changes_nothing(signed, builder):
    yaml = signed.path / "invoke.yaml"
    yaml.write_text(yaml.read_text().replace("    network: host\n", f"    network: host\n    buildkit: '{builder}'\n"))
    signed.git("commit", "-qam", f"chore: buildkit {builder}")
    signed.run("release", "--tag", "v1.0.0")
    before = digests(signed.image)
    config = json.loads(subprocess.run(["skopeo", "inspect", "--config", "--tls-verify=false",
                                        f"docker://{signed.image}:1.0.0"], capture_output=True, check=True).stdout)
    committed = signed.git("log", "-1", "--format=%ct")
    created = config["config"]["Labels"]["org.opencontainers.image.created"]
    assert created == datetime.fromtimestamp(int(committed), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    again = signed.run("release", "--tag", "v1.0.0")
    assert digests(signed.image) == before  # same digest, same .sig and .att objects, no new tag
    assert "is signed by this key already" in again.stdout and "nothing written" in again.stdout
    assert "making the cyclonedx SBOM" not in again.stdout  # the attested SBOM is reused
    assert "deleted" not in again.stdout
    (rel,) = signed.gh.releases_for("acme/app", "v1.0.0")
    assert "sbom-1.0.0.cdx.json" in signed.gh.asset_files(rel["id"])


def test_a_rerelease_and_clean_leave_no_orphaned_signatures(signed):
    signed.run("release", "--tag", "v1.0.0")
    signed.content("1.0.1")
    signed.run("release", "--tag", "v1.0.1")  # 1.0, 1 and latest move on: 1.0.0 keeps its own tag only
    first = skopeo_digest(f"{signed.image}:1.0.1")
    signed.content("1.0.1 again, changed")
    out = signed.run("release", "--tag", "v1.0.1")
    tags = digests(signed.image)
    assert tags["1.0.1"] != first and object_tag(first, ".sig") not in tags and object_tag(first, ".att") not in tags
    assert "signatures of" in out.stdout and "attestations of" in out.stdout
    assert orphans(signed.image) == []
    old = tags["1.0.0"]
    dry = signed.run("clean", "--keep", "1", "--dry-run")
    assert f"would delete manifest {old[:19]} (tags 1.0.0)" in dry.stdout
    assert f"({object_tag(old, '.sig')}: signatures of {old[:19]})" in dry.stdout
    assert digests(signed.image) == tags
    signed.run("clean", "--keep", "1")
    after = digests(signed.image)
    assert "1.0.0" not in after and object_tag(old, ".sig") not in after and object_tag(old, ".att") not in after
    assert orphans(signed.image) == [] and object_tag(after["1.0.1"], ".sig") in after
    assert signed.verify(f"{signed.image}:1.0.1").returncode == 0


def test_the_dry_run_lists_what_would_be_signed_and_attested_and_needs_no_key(signed):
    env = {k: v for k, v in signed.env.items() if k not in ("COSIGN_KEY", "COSIGN_PASSWORD")}
    out = signed.invoke("release", "--tag", "v1.0.0", "--dry-run", env=env)
    assert "dry run: would attest" in out.stdout and "SLSA provenance v1" in out.stdout
    assert "dry run: would sign" in out.stdout and "sha256-<digest of 1.0.0>.sig" in out.stdout
    assert "image-release verify" in out.stdout
    assert skopeo_tags(signed.image) == []


def test_a_missing_key_or_a_wrong_password_stops_before_anything_is_built(signed):
    env = {k: v for k, v in signed.env.items() if k != "COSIGN_KEY"}
    out = signed.invoke("release", "--tag", "v1.0.0", env=env, check=False)
    assert out.returncode == 2 and "$COSIGN_KEY (release.sign.key_env) is not set" in out.stderr
    wrong = signed.run("release", "--tag", "v1.0.0", check=False, COSIGN_PASSWORD="not-the-PLANTED-password")
    assert wrong.returncode == 1 and "error:" in wrong.stderr and "not-the-PLANTED-password" not in wrong.stderr
    for proc in (out, wrong):
        assert "build " not in proc.stdout and skopeo_tags(signed.image) == []


# -- cosign mode --------------------------------------------------------------------------------------------


def fake_cosign(bindir: Path, log: Path) -> None:
    """A `cosign` that records its argv and whether it got the password (never its value), and succeeds."""
    bindir.mkdir(exist_ok=True)
    script = bindir / "cosign"
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, os, sys\n"
        f"with open({str(log)!r}, 'a') as f:\n"
        "    f.write(json.dumps({'argv': sys.argv[1:], 'password': 'COSIGN_PASSWORD' in os.environ}) + '\\n')\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize("keyless", [False, True])
def test_cosign_mode_hands_signing_to_cosign_without_a_secret_on_its_argv(tmp_path, registry_repo, key_pair, keyless):
    pair, _folder = key_pair
    mode = "  sign:\n    mode: cosign\n" + ("" if keyless else "    key_env: COSIGN_KEY\n    password_env: KEY_PASSWORD\n")
    proj = write_project(tmp_path / "app", registry_repo, mode + "  sbom: true\n  provenance: true\n"
                         "  project:\n    source: https://github.com/acme/app\n")
    bindir, log = tmp_path / "bin", tmp_path / "cosign.log"
    fake_cosign(bindir, log)
    env = clean_env(PATH=f"{bindir}:{os.environ['PATH']}", COSIGN_KEY=pair.private_pem.decode(),
                    KEY_PASSWORD=PASSWORD)
    dry = proj.invoke("release", "--tag", "v1.0.0", "--dry-run", env=env)
    assert "through cosign" in dry.stdout and not log.exists()
    out = proj.invoke("release", "--tag", "v1.0.0", env=env)
    digest = skopeo_digest(f"{proj.image}:1.0.0")
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    ref = f"{proj.image}@{digest}"
    key = [] if keyless else ["--key", "env://COSIGN_KEY"]
    assert [c["argv"][:2 + len(key)] for c in calls] == [["attest", "--yes", *key]] * 2 + [["sign", "--yes", *key]]
    assert all(c["argv"][-1] == ref for c in calls)
    assert [c["argv"][c["argv"].index("--type") + 1] for c in calls[:2]] == ["cyclonedx", "slsaprovenance1"]
    assert f"dev.image-release/attestations={att.CYCLONEDX},{att.SLSA_PROVENANCE_V1}" in calls[2]["argv"]
    assert all(c["password"] for c in calls) is (not keyless)
    text = log.read_text()
    for secret in (PASSWORD, pair.private_pem.decode().splitlines()[1]):
        assert secret not in text and secret not in out.stdout + out.stderr
    notes = (proj.path / "dist" / "release-notes-1.0.0.md").read_text()
    assert ("cosign verify" in notes) is keyless and ("image-release verify" in notes) is (not keyless)
