"""Per-platform builds on several "runners" merged into one release (issue 16), through the real `invoke` CLI
on the real engine and registry: each platform is built and pushed by digest from its own clone
(`invoke build --platform P --push-by-digest`), the records are gathered as a CI artifact would be, and a
third clone runs `invoke release --merge dist/digests`. skopeo (an independent client) reads the result.

Also: a pull-request run with two platforms pushes nothing (the exact builder argv of a buildx that
records it, and the registry read back), and the merge's input errors stop before any tag moves."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.fixtures.project import Project, clean_env, write_project
from tests.fixtures.services import skopeo_digest, skopeo_tags

pytestmark = pytest.mark.services

TWO = ("linux/amd64", "linux/arm64")
TAGS = ["1", "1.2", "1.2.3", "latest"]


def platforms_project(path: Path, image: str) -> Project:
    """A project whose release has two platforms (FROM scratch: no emulation needed)."""
    proj = write_project(path, image)
    yaml = proj.path / "invoke.yaml"
    yaml.write_text(yaml.read_text().replace("    network: host\n",
                                             "    network: host\n    platforms: [linux/amd64, linux/arm64]\n"))
    proj.git("commit", "-qam", "ci: two platforms")
    return proj


def clone(origin: Project, dest: Path, ref: str | None = None) -> Project:
    subprocess.run(["git", "clone", "-q", str(origin.path), str(dest)], check=True, capture_output=True,
                   env=clean_env())
    proj = Project(dest, origin.image)
    if ref:
        proj.checkout(ref)
    return proj


def build_platform(origin: Project, base: Path, platform: str, tag: str, env: dict | None = None) -> Path:
    """One matrix job: a fresh clone builds and pushes ``platform`` by digest; its record file."""
    job = clone(origin, base / f"job-{platform.replace('/', '-')}-{uuid.uuid4().hex[:6]}", tag)
    out = job.invoke("build", "--tag", tag, "--platform", platform, "--push-by-digest", env=env)
    assert "no tag moved" in out.stdout, out.stdout
    (record,) = (job.path / "dist" / "digests").rglob(f"{platform.replace('/', '-')}.json")
    return record


def merge_job(origin: Project, base: Path, tag: str, records, *args: str, check: bool = True, env: dict | None = None):
    """The merge job: a third clone with the records as downloaded artifacts, `invoke release --merge`."""
    job = clone(origin, base / f"merge-{uuid.uuid4().hex[:6]}", tag)
    for rec in records:
        dest = job.path / "dist" / "digests" / rec.parent.name / rec.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(rec, dest)
    return job, job.invoke("release", "--tag", tag, "--merge", "dist/digests", *args, check=check, env=env)


def record(path: Path) -> dict:
    return json.loads(path.read_text())


def arch_digest(ref: str, arch: str) -> str:
    """The manifest a client on ``arch`` gets for ``ref`` (skopeo copies it out and the manifest is hashed)."""
    dest = Path(f"/tmp/image-release-arch-{uuid.uuid4().hex[:10]}")
    try:
        subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", "--override-arch", arch,
                        f"docker://{ref}", f"dir:{dest}"], check=True, capture_output=True)
        return "sha256:" + hashlib.sha256((dest / "manifest.json").read_bytes()).hexdigest()
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def raw(ref: str) -> dict:
    out = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
                         check=True, capture_output=True)
    return json.loads(out.stdout)


@pytest.mark.slow
def test_two_per_platform_builds_merge_into_one_index_under_every_tag(tmp_path, registry_repo):
    origin = platforms_project(tmp_path / "origin", registry_repo)
    origin.tag("v1.2.3")
    output = tmp_path / "github-output"
    output.write_text("")
    github = clean_env(GITHUB_ACTIONS="true", GITHUB_EVENT_NAME="push", GITHUB_REF="refs/tags/v1.2.3",
                       GITHUB_SHA=origin.head(), GITHUB_REPOSITORY="acme/app", GITHUB_OUTPUT=str(output))
    records = [build_platform(origin, tmp_path, "linux/amd64", "v1.2.3", env=github),
               build_platform(origin, tmp_path, "linux/arm64", "v1.2.3",
                              env=clean_env(GITLAB_CI="true", CI_COMMIT_TAG="v1.2.3", CI_COMMIT_SHA=origin.head()))]
    assert skopeo_tags(registry_repo) == [], "a push by digest moves no tag"
    by_platform = {record(r)["platform"]: record(r) for r in records}
    assert set(by_platform) == set(TWO)
    for platform, rec in by_platform.items():
        assert rec["image"] == registry_repo and rec["commit"] == origin.head()
        assert skopeo_digest(f"{registry_repo}@{rec['digest']}") == rec["digest"]
        config = subprocess.run(["skopeo", "inspect", "--config", "--tls-verify=false",
                                 f"docker://{registry_repo}@{rec['digest']}"], check=True, capture_output=True).stdout
        assert json.loads(config)["architecture"] == platform.split("/")[1]
    assert f"digest={by_platform['linux/amd64']['digest']}" in output.read_text().splitlines()  # GITHUB_OUTPUT
    dotenv = records[1].parents[3] / "release.env"  # the GitLab job's dotenv report
    assert f"RELEASE_DIGEST={by_platform['linux/arm64']['digest']}" in dotenv.read_text().splitlines()

    job, dry = merge_job(origin, tmp_path, "v1.2.3", records, "--dry-run")
    assert "dry run: would put the image index" in dry.stdout
    shown = dry.stdout[dry.stdout.index("(dry run)\n") + len("(dry run)\n"):]
    index = json.JSONDecoder().raw_decode(shown)[0]
    assert [m["digest"] for m in index["manifests"]] == [by_platform[p]["digest"] for p in TWO]
    assert skopeo_tags(registry_repo) == [], "a dry run writes nothing"

    job, out = merge_job(origin, tmp_path, "v1.2.3", records)
    assert "build: skipped" in out.stdout
    assert skopeo_tags(registry_repo) == TAGS
    digests = {t: skopeo_digest(f"{registry_repo}:{t}") for t in TAGS}
    assert len(set(digests.values())) == 1
    top = raw(f"{registry_repo}:1.2.3")
    assert top["mediaType"] == "application/vnd.oci.image.index.v1+json"
    assert {(m["platform"]["os"] + "/" + m["platform"]["architecture"], m["digest"]) for m in top["manifests"]} == {
        (p, by_platform[p]["digest"]) for p in TWO}
    assert hashlib.sha256(json.dumps(index, separators=(",", ":")).encode()).hexdigest() in digests["1.2.3"]
    for tag in TAGS:
        assert arch_digest(f"{registry_repo}:{tag}", "arm64") == by_platform["linux/arm64"]["digest"]
    assert arch_digest(f"{registry_repo}:latest", "amd64") == by_platform["linux/amd64"]["digest"]
    notes = (job.path / "dist" / "release-notes-1.2.3.md").read_text()
    assert digests["1.2.3"] in notes
    for platform in TWO:  # each platform with the manifest a user can pull by digest
        assert f"{platform} ({by_platform[platform]['digest']})" in notes

    # The same merge again changes nothing (the same digests give the same index).
    merge_job(origin, tmp_path, "v1.2.3", records)
    assert {t: skopeo_digest(f"{registry_repo}:{t}") for t in skopeo_tags(registry_repo)} == digests


@pytest.mark.slow
def test_a_backport_merge_moves_no_floating_tag_backwards(tmp_path, registry_repo):
    origin = platforms_project(tmp_path / "origin", registry_repo)
    first = origin.head()
    origin.content("1.2.0")
    origin.tag("v1.2.0")
    records = [build_platform(origin, tmp_path, p, "v1.2.0") for p in TWO]
    merge_job(origin, tmp_path, "v1.2.0", records)
    before = {t: skopeo_digest(f"{registry_repo}:{t}") for t in skopeo_tags(registry_repo)}
    assert sorted(before) == ["1", "1.2", "1.2.0", "latest"]

    origin.git("checkout", "-q", "-b", "release-1.1", first)
    origin.content("1.1.5")
    origin.tag("v1.1.5")
    records = [build_platform(origin, tmp_path, p, "v1.1.5") for p in TWO]
    _job, out = merge_job(origin, tmp_path, "v1.1.5", records)
    assert "keep 1 " in out.stdout and "keep latest" in out.stdout
    after = {t: skopeo_digest(f"{registry_repo}:{t}") for t in skopeo_tags(registry_repo)}
    assert sorted(after) == ["1", "1.1", "1.1.5", "1.2", "1.2.0", "latest"]
    assert {t: after[t] for t in before} == before, "1, 1.2 and latest stay on 1.2.0"
    assert after["1.1"] == after["1.1.5"] != before["1.2.0"]
    assert raw(f"{registry_repo}:1.1.5")["mediaType"] == "application/vnd.oci.image.index.v1+json"


@pytest.fixture(scope="module")
def pushed_platforms(tmp_path_factory, services):
    """Both platforms of v1.2.3 pushed by digest (never merged), and an arm64 build of another commit."""
    base = tmp_path_factory.mktemp("merge-errors")
    image = f"{services.registry}/t/{uuid.uuid4().hex[:12]}"
    origin = platforms_project(base / "origin", image)
    origin.tag("v1.2.3")
    records = {p: build_platform(origin, base, p, "v1.2.3") for p in TWO}
    origin.content("a later commit")
    origin.tag("v1.2.4")
    records["other-commit"] = build_platform(origin, base, "linux/arm64", "v1.2.4")
    return origin, base, records


def _rewritten(base: Path, source: Path, name: str, **changes) -> Path:
    path = base / f"edited-{uuid.uuid4().hex[:6]}" / source.parent.name / name
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({**record(source), **changes}))
    return path


@pytest.mark.slow
@pytest.mark.parametrize("case, words", [
    ("missing", "is not in the registry"),
    ("duplicate-platform", "two records for linux/arm64"),
    ("other-commit", "was built from commit"),
    ("foreign-image", "is not an image of this release"),
    ("one-platform-short", "missing linux/arm64"),
])
def test_a_merge_with_a_bad_record_fails_before_any_tag_moves(pushed_platforms, case, words):
    origin, base, recs = pushed_platforms
    records = [recs["linux/amd64"], recs["linux/arm64"]]
    if case == "missing":
        records[1] = _rewritten(base, records[1], "linux-arm64.json", digest="sha256:" + uuid.uuid4().hex * 2)
    elif case == "duplicate-platform":
        records.append(_rewritten(base, records[0], "linux-arm64-again.json", platform="linux/arm64"))
    elif case == "other-commit":
        records[1] = recs["other-commit"]
    elif case == "foreign-image":
        records.append(_rewritten(base, records[0], "other.json", image=f"{origin.image}-other"))
    else:
        records = records[:1]
    _job, out = merge_job(origin, base, "v1.2.3", records, check=False)
    assert out.returncode == 2, out.stdout + out.stderr
    assert words in out.stderr and "error:" in out.stderr and "hint:" in out.stderr
    assert "Traceback" not in out.stderr
    assert skopeo_tags(origin.image) == [], "no tag moved"


def buildx_recorder(tmp_path: Path) -> tuple[Path, Path]:
    """A `docker` on PATH whose buildx records every argv (and builds nothing): (bin dir, argv file)."""
    bin_dir, argv = tmp_path / "bin", tmp_path / "argv"
    bin_dir.mkdir()
    script = bin_dir / "docker"
    script.write_text(f"""#!/bin/sh
printf "%s\\n" "$*" >> "{argv}"
if [ "$1" = "--version" ]; then echo "Docker version 27.0.0, build test"; exit 0; fi
if [ "$1 $2" = "buildx version" ]; then echo "github.com/docker/buildx v0.12.0"; exit 0; fi
echo "#1 DONE 0.0s"
""")
    script.chmod(0o755)
    return bin_dir, argv


def test_a_pull_request_with_two_platforms_builds_without_pushing(tmp_path, registry_repo):
    proj = platforms_project(tmp_path / "app", registry_repo)
    bin_dir, argv = buildx_recorder(tmp_path)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"number": 7, "pull_request": {"number": 7, "head": {"sha": proj.head()}},
                                 "repository": {"default_branch": "main", "full_name": "acme/app"}}))
    env = clean_env(CI="true", GITHUB_ACTIONS="true", GITHUB_EVENT_NAME="pull_request", GITHUB_REF="refs/pull/7/merge",
                    GITHUB_SHA=proj.head(), GITHUB_REPOSITORY="acme/app", GITHUB_EVENT_PATH=str(event),
                    GITHUB_HEAD_REF="feature", GITHUB_BASE_REF="main", PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = proj.invoke("release", env=env)
    assert "nothing is pushed: release.publish.pr is false" in out.stdout
    builds = [line for line in argv.read_text().splitlines() if line.startswith("buildx build")]
    assert len(builds) == 1, argv.read_text()
    words = builds[0].split()
    assert words[words.index("--platform") + 1] == "linux/amd64,linux/arm64"
    assert words[words.index("--output") + 1] == "type=cacheonly"
    assert "--push" not in words and "--load" not in words and not any("type=registry" in w for w in words)
    assert skopeo_tags(registry_repo) == []
    host, _, repo = registry_repo.partition("/")
    listing = subprocess.run(["curl", "-s", f"http://{host}/v2/{repo}/tags/list"], capture_output=True, text=True)
    assert "NAME_UNKNOWN" in listing.stdout, "the repository was never created: nothing was pushed"


@pytest.mark.slow
def test_a_signed_merge_signs_the_index_and_each_platform_manifest(tmp_path, registry_repo):
    from image_release.adapters import keys

    pair = keys.generate_key_pair("merge-Key-pw")
    (tmp_path / "cosign.pub").write_bytes(pair.public_pem)
    origin = platforms_project(tmp_path / "origin", registry_repo)
    yaml = origin.path / "invoke.yaml"
    yaml.write_text(yaml.read_text() + "  sign:\n    key_env: COSIGN_KEY\n    password_env: COSIGN_PASSWORD\n")
    origin.git("commit", "-qam", "ci: sign")
    origin.tag("v1.2.3")
    env = clean_env(COSIGN_KEY=pair.private_pem.decode(), COSIGN_PASSWORD="merge-Key-pw")
    records = [build_platform(origin, tmp_path, p, "v1.2.3") for p in TWO]  # a build signs nothing
    job, out = merge_job(origin, tmp_path, "v1.2.3", records, env=env)
    index = skopeo_digest(f"{registry_repo}:1.2.3")
    tags = skopeo_tags(registry_repo)
    for digest in [index] + [record(r)["digest"] for r in records]:
        assert digest.replace(":", "-") + ".sig" in tags, (digest, tags)
    verified = subprocess.run([sys.executable, "-m", "invoke", "verify", f"{registry_repo}:1.2.3", "--key",
                               str(tmp_path / "cosign.pub")], cwd=job.path, env=env, capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "merge-Key-pw" not in out.stdout + out.stderr


def test_a_per_platform_dry_run_writes_nothing_and_a_pull_request_pushes_nothing(tmp_path, registry_repo):
    origin = platforms_project(tmp_path / "origin", registry_repo)
    origin.tag("v1.2.3")
    job = clone(origin, tmp_path / "job", "v1.2.3")
    dry = job.invoke("build", "--tag", "v1.2.3", "--platform", "linux/arm64", "--push-by-digest", "--dry-run")
    assert "dry run: would build" in dry.stdout
    assert f"dry run: would push the linux/arm64 image to {registry_repo} by digest only" in dry.stdout
    assert not (job.path / "dist").exists() and skopeo_tags(registry_repo) == []
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"number": 3, "pull_request": {"number": 3, "head": {"sha": job.head()}},
                                 "repository": {"default_branch": "main", "full_name": "acme/app"}}))
    pr = clean_env(GITHUB_ACTIONS="true", GITHUB_EVENT_NAME="pull_request", GITHUB_REF="refs/pull/3/merge",
                   GITHUB_SHA=job.head(), GITHUB_REPOSITORY="acme/app", GITHUB_EVENT_PATH=str(event))
    out = job.invoke("build", "--platform", "linux/arm64", "--push-by-digest", env=pr)
    assert "nothing is pushed: release.publish.pr is false" in out.stdout and "no tag moved" not in out.stdout
    assert not (job.path / "dist" / "digests").exists()
    host, _, repo = registry_repo.partition("/")
    listing = subprocess.run(["curl", "-s", f"http://{host}/v2/{repo}/tags/list"], capture_output=True, text=True)
    assert "NAME_UNKNOWN" in listing.stdout


def test_push_by_digest_needs_one_platform_and_the_classic_builder_builds_only_its_own(tmp_path, registry_repo):
    origin = platforms_project(tmp_path / "origin", registry_repo)
    origin.tag("v1.2.3")
    out = origin.invoke("build", "--tag", "v1.2.3", "--push-by-digest", check=False)
    assert out.returncode == 2 and "--push-by-digest builds one platform" in out.stderr and "hint:" in out.stderr
    yaml = origin.path / "invoke.yaml"
    yaml.write_text(yaml.read_text().replace("    network: host\n", "    network: host\n    buildkit: \"off\"\n"))
    origin.git("commit", "-qam", "ci: the classic builder")
    origin.git("tag", "-f", "v1.2.3")
    native = build_platform(origin, tmp_path, "linux/amd64", "v1.2.3")
    assert record(native)["platform"] == "linux/amd64"
    other = clone(origin, tmp_path / "arm", "v1.2.3")
    out = other.invoke("build", "--tag", "v1.2.3", "--platform", "linux/arm64", "--push-by-digest", check=False)
    assert out.returncode == 1 and "not linux/arm64" in out.stderr and "BuildKit" in out.stderr
    assert not (other.path / "dist" / "digests").exists()
