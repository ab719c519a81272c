"""Builds that push only when asked (issue 16): the caller chooses ``BuildSpec.output`` (load, push, oci:PATH,
cache-only); a multi-platform build that must not push writes an OCI layout or stays in the cache and says
so; a build that pushes uses the credentials it is given through a temporary DOCKER_CONFIG; a one-platform
build carries its image id, platform and OCI layout so the caller can push it by digest.

Real builds use this machine's /usr/bin/docker 20.10 (BuildKit built in, no buildx, no OCI exporter); the
buildx paths run a stub CLI that records what it was given.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import stat
import subprocess
import uuid
from pathlib import Path

import pytest

from image_release.adapters.engine import Engine
from image_release.adapters.engine.docker_config import config_auths, temporary_docker_config
from image_release.core.build_spec import BuildSpec, build_output, validate_build_spec
from image_release.errors import AuthError, BuildError
from tests.fixtures.services import skopeo_digest
from tests.test_engine import SCRATCH, argv_for, cleanup, dead_host, local_name, stub_cli, write  # noqa: F401

TWO = ("linux/amd64", "linux/arm64")


# ------------------------------------------------------------------------------------------- the choice


def test_the_plan_s_output_choice():
    assert build_output((), publishes=True) == "load"
    assert build_output(("linux/arm64",), publishes=False) == "load"
    assert build_output(TWO, publishes=True) == "push"
    assert build_output(TWO, publishes=False) == "cache-only"
    assert build_output(TWO, publishes=False, oci_dir="dist/oci") == "oci:dist/oci"


@pytest.mark.parametrize("spec,words", [
    (BuildSpec(platforms=TWO), ("several platforms", "cannot be loaded")),
    (BuildSpec(output="tarball"), ("unknown build output",)),
    (BuildSpec(output="oci:"), ("needs a directory path",)),
    (BuildSpec(output="oci:a,b"), ("without commas",)),
    (BuildSpec(output="push"), ("needs at least one tag",)),
    (BuildSpec(output="cache-only", buildkit="off"), ("output cache-only", "BuildKit is turned off")),
])
def test_an_output_that_cannot_be_honoured_is_refused_before_the_build(spec, words):
    with pytest.raises(BuildError) as err:
        validate_build_spec(spec)
    for word in words:
        assert word in err.value.message
    assert err.value.hint


@pytest.mark.parametrize("output,want,push", [
    ("load", ["--load"], False),
    ("push", ["--push"], True),
    ("oci:/out/layout", ["--output", "type=oci,dest=/out/layout,tar=false"], False),
    ("cache-only", ["--output", "type=cacheonly"], False),
])
def test_buildx_argv_per_output(output, want, push):
    platforms = TWO if output != "load" else ("linux/arm64",)
    argv, pushes = argv_for(BuildSpec(tags=("r/x:1",), platforms=platforms, output=output), "buildx")
    assert pushes is push
    joined = " ".join(argv)
    assert " ".join(want) in joined
    for other in {"--load", "--push", "type=cacheonly", "type=oci"} - set(want) - {w.split(",")[0] for w in want}:
        assert other not in joined
    assert ("--iidfile" in argv) is (output != "cache-only")


def test_the_classic_client_cannot_push_itself_nor_load_several_platforms():
    argv, push = argv_for(BuildSpec(tags=("r/x:1",), output="cache-only"), "classic-cli")
    assert "--output type=cacheonly" in " ".join(argv) and "--iidfile" not in argv and push is False
    argv, _ = argv_for(BuildSpec(tags=("r/x:1",), output="oci:/o"), "classic-cli")
    assert "--output" not in argv  # no OCI exporter in dockerd 20.10: loaded, then exported
    with pytest.raises(BuildError) as err:
        argv_for(BuildSpec(tags=("r/x:1",), output="push"), "classic-cli")
    assert "needs docker buildx" in err.value.message and "output load" in err.value.hint


# ------------------------------------------------------------------------------------------- real builds


@pytest.mark.services
def test_a_cache_only_build_loads_and_pushes_nothing_and_says_so(services, tmp_path):
    ctx = write(tmp_path / "ctx", SCRATCH)
    log = tmp_path / "argv.log"
    wrapper = stub_cli(tmp_path, f'printf "%s\\n" "$*" >> "{log}"\nexec /usr/bin/docker "$@"\n')
    out = io.StringIO()
    eng = Engine(docker_host=services.docker_host, out=out, progress="plain", cli=wrapper)
    ref = f"{services.registry}/t/{uuid.uuid4().hex[:10]}:pr-7"
    result = eng.build(BuildSpec(context=str(ctx), tags=(ref,), platforms=("linux/arm64",), output="cache-only"))
    assert result.output == "cache-only" and result.image_id == "" and not result.pushed
    assert not eng.image_exists(ref)
    assert skopeo_digest(ref) is None
    assert "nothing loaded, nothing pushed" in out.getvalue().splitlines()[-1]
    build = [ln for ln in log.read_text().splitlines() if ln.startswith("build ")]
    assert len(build) == 1 and "--output type=cacheonly" in build[0] and "--push" not in build[0]


@pytest.mark.services
@pytest.mark.parametrize("buildkit,platforms,want", [
    ("on", ("linux/arm64",), "linux/arm64"),  # FROM scratch: no emulation needed
    ("off", (), None),  # the classic builder builds the engine's own platform
])
def test_a_one_platform_build_to_an_oci_layout_can_be_pushed_by_digest(services, tmp_path, cleanup, buildkit,
                                                                        platforms, want):
    ctx = write(tmp_path / "ctx", dict(SCRATCH, **{"hello.txt": uuid.uuid4().hex}))
    ref = f"{local_name()}:oci"
    cleanup.append(ref)
    out = io.StringIO()
    eng = Engine(docker_host=services.docker_host, out=out, progress="plain")
    layout = tmp_path / "dist" / "oci"
    result = eng.build(BuildSpec(context=str(ctx), tags=(ref,), platforms=platforms, buildkit=buildkit,
                                 output=f"oci:{layout}"))
    info = eng.inspect(result.image_id)  # the local image is there too
    platform = want or f"{info['Os']}/{info['Architecture']}"
    assert result.platform == platform and result.oci_layout == str(layout) and not result.pushed
    index = json.loads((layout / "index.json").read_text())
    assert index["manifests"][0]["digest"] == result.oci_digest
    assert "into the OCI layout" in out.getvalue() and "nothing pushed" in out.getvalue()
    # the caller's push by digest (skopeo stands in): the manifest lands under its digest, no tag moves
    repo = f"{services.registry}/t/{uuid.uuid4().hex[:10]}"
    subprocess.run(["skopeo", "copy", "-q", "--preserve-digests", "--dest-tls-verify=false", f"oci:{layout}",
                    f"docker://{repo}@{result.oci_digest}"], check=True, capture_output=True)
    config = subprocess.run(["skopeo", "inspect", "--config", "--tls-verify=false",
                             f"docker://{repo}@{result.oci_digest}"], check=True, capture_output=True, text=True).stdout
    assert json.loads(config)["architecture"] == platform.split("/")[1]
    assert "sha256:" + hashlib.sha256(
        (layout / "blobs" / "sha256" / result.oci_digest.split(":")[1]).read_bytes()).hexdigest() == result.oci_digest
    assert skopeo_digest(f"{repo}@{result.oci_digest}") == result.oci_digest
    tags = subprocess.run(["curl", "-s", f"http://{repo.split('/')[0]}/v2/{repo.split('/', 1)[1]}/tags/list"],
                          capture_output=True, text=True).stdout
    assert '"tags":[' not in tags.replace(" ", "")  # no tag moved: the repository has none


@pytest.mark.services
def test_output_push_on_the_classic_client_is_a_clear_error(services, tmp_path):
    ctx = write(tmp_path / "ctx", SCRATCH)
    eng = Engine(docker_host=services.docker_host, out=None, cli="/usr/bin/docker")
    with pytest.raises(BuildError) as err:
        eng.build(BuildSpec(context=str(ctx), tags=(f"{services.registry}/t/x:1",), output="push"))
    assert "needs docker buildx" in err.value.message


# ------------------------------------------------------------------------------------------- credentials


def buildx_stub(tmp_path: Path) -> tuple[str, Path]:
    """A buildx CLI that records its argv, the DOCKER_CONFIG it saw and that config's file and mode."""
    rec = tmp_path / "rec"
    rec.mkdir()
    cli = stub_cli(tmp_path, f"""
        printf "%s\\n" "$*" >> "{rec}/argv"
        if [ "$1 $2" = "buildx version" ]; then echo "github.com/docker/buildx v0.12.0"; exit 0; fi
        if [ "$1 $2" = "buildx inspect" ]; then exit 1; fi
        if [ "$1 $2" = "buildx create" ]; then echo created; exit 0; fi
        echo "$DOCKER_CONFIG" > "{rec}/dir"
        cp "$DOCKER_CONFIG/config.json" "{rec}/config.json" 2>/dev/null
        stat -c %a "$DOCKER_CONFIG/config.json" > "{rec}/mode" 2>/dev/null
        stat -c %a "$DOCKER_CONFIG" > "{rec}/dirmode" 2>/dev/null
        ls "$DOCKER_CONFIG" > "{rec}/ls" 2>/dev/null
        meta=
        while [ $# -gt 0 ]; do case "$1" in --metadata-file) meta=$2; shift;; esac; shift; done
        [ -n "$meta" ] && printf '{{"containerimage.digest": "sha256:%064d"}}' 7 > "$meta"
        echo "#1 DONE 0.0s"
    """)
    return cli, rec


def test_a_build_that_pushes_uses_only_the_given_credentials_in_a_private_config(tmp_path):
    user_config = tmp_path / "user-docker"
    (user_config / "buildx" / "instances").mkdir(parents=True)
    (user_config / "cli-plugins").mkdir()
    (user_config / "config.json").write_text(json.dumps({"auths": {"other.example": {"auth": "dXNlcjpvdGhlcg=="}},
                                                         "credsStore": "desktop"}))
    cli, rec = buildx_stub(tmp_path)
    planted = "planted-push-" + uuid.uuid4().hex
    out = io.StringIO()
    env = dict(os.environ, DOCKER_CONFIG=str(user_config))
    eng = Engine(docker_host=dead_host(tmp_path), out=out, progress="plain", cli=cli, env=env)
    ctx = write(tmp_path / "ctx", SCRATCH)
    result = eng.build(BuildSpec(context=str(ctx), tags=("reg.example:5000/acme/app:1.2.3",), platforms=TWO,
                                 output="push"),
                       auths={"reg.example:5000": {"username": "ci", "password": planted},
                              "ghcr.io": {"identitytoken": "planted-idtoken-" + uuid.uuid4().hex}})
    assert result.pushed and result.digest == "sha256:" + "0" * 63 + "7"
    seen = json.loads((rec / "config.json").read_text())
    assert set(seen) == {"auths"}  # no credsStore, no helper, nothing of the user's
    assert set(seen["auths"]) == {"reg.example:5000", "ghcr.io"}
    assert base64.b64decode(seen["auths"]["reg.example:5000"]["auth"]).decode() == f"ci:{planted}"
    assert seen["auths"]["ghcr.io"]["identitytoken"].startswith("planted-idtoken-")
    assert (rec / "mode").read_text().strip() == "600" and (rec / "dirmode").read_text().strip() == "700"
    assert {"buildx", "cli-plugins"} <= set((rec / "ls").read_text().split())  # builders and plugins still found
    temp_dir = Path((rec / "dir").read_text().strip())
    assert temp_dir != user_config and not temp_dir.exists()  # removed after the build
    assert (user_config / "buildx" / "instances").is_dir()  # the user's own files untouched
    argv = (rec / "argv").read_text()
    assert planted not in argv and planted not in out.getvalue() and "--push" in argv


def test_without_credentials_the_users_config_is_used_as_it_is(tmp_path):
    cli, rec = buildx_stub(tmp_path)
    user_config = tmp_path / "user-docker"
    user_config.mkdir()
    (user_config / "config.json").write_text("{}")
    eng = Engine(docker_host=dead_host(tmp_path), out=None, cli=cli, env=dict(os.environ, DOCKER_CONFIG=str(user_config)))
    eng.build(BuildSpec(context=str(write(tmp_path / "ctx", SCRATCH)), tags=("r.example/a:1",), platforms=TWO,
                        output="cache-only"))
    assert (rec / "dir").read_text().strip() == str(user_config)
    assert "--push" not in (rec / "argv").read_text()


def test_credentials_without_a_secret_are_refused_and_leave_nothing_behind(tmp_path):
    with pytest.raises(AuthError):
        config_auths({"reg.example": {"username": "ci"}})
    before = set(os.listdir(os.environ.get("TMPDIR", "/tmp")))
    with pytest.raises(AuthError):
        with temporary_docker_config({"reg.example": {}}, {"HOME": str(tmp_path)}):
            pass
    after = {n for n in os.listdir(os.environ.get("TMPDIR", "/tmp")) if n.startswith("image-release-docker-config-")}
    assert after <= before
    assert config_auths({"docker.io": {"username": "u", "password": "p"}}) == {
        "https://index.docker.io/v1/": {"auth": "dTpw"}}


def test_the_temporary_config_is_private_and_removed_on_failure(tmp_path):
    with pytest.raises(RuntimeError):
        with temporary_docker_config({"r.example": {"username": "u", "password": "p"}}, {"HOME": str(tmp_path)}) as env:
            path = Path(env["DOCKER_CONFIG"])
            assert stat.S_IMODE(path.stat().st_mode) == 0o700
            assert stat.S_IMODE((path / "config.json").stat().st_mode) == 0o600
            raise RuntimeError("the build broke")
    assert not path.exists()


# ------------------------------------------------------------------------------------------- builders


def test_a_buildkit_address_becomes_a_remote_buildx_builder_once(tmp_path):
    cli, rec = buildx_stub(tmp_path)
    eng = Engine(docker_host=dead_host(tmp_path), out=None, cli=cli)
    ctx = write(tmp_path / "ctx", SCRATCH)
    for _ in range(2):
        eng.build(BuildSpec(context=str(ctx), tags=("r.example/a:1",), builder="tcp://buildkitd.example:1234",
                            platforms=TWO, output="cache-only"))
    calls = (rec / "argv").read_text().splitlines()
    creates = [c for c in calls if c.startswith("buildx create")]
    assert len(creates) == 1
    name = creates[0].split("--name ")[1].split()[0]
    assert name.startswith("image-release-") and "--driver remote tcp://buildkitd.example:1234" in creates[0]
    builds = [c for c in calls if c.startswith("buildx build")]
    assert len(builds) == 2 and all(f"--builder {name}" in b for b in builds)


def test_a_named_builder_is_used_as_it_is(tmp_path):
    cli, rec = buildx_stub(tmp_path)
    Engine(docker_host=dead_host(tmp_path), out=None, cli=cli).build(
        BuildSpec(context=str(write(tmp_path / "ctx", SCRATCH)), tags=("r.example/a:1",), builder="k8s-workers",
                  platforms=TWO, output="cache-only"))
    calls = (rec / "argv").read_text()
    assert "buildx build --builder k8s-workers" in calls and "buildx create" not in calls
