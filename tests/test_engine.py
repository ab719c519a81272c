"""The engine adapter against the real dockerd and registry (scripts/services.sh), plus the parts that must
fail before the daemon is contacted (those use an address where nothing listens, to prove it).

Independent checks: images are read back with the SDK's inspect/history and ``docker save`` bytes; pushed
digests are compared with what skopeo reads from the registry.
"""

from __future__ import annotations

import io
import json
import os
import socket
import stat
import tarfile
import textwrap
import uuid
from pathlib import Path

import pytest

from image_release.adapters.engine import (
    BuildResult,
    Engine,
    EngineInfo,
    _BuildKitClient,
    _buildkit_failure,
    check_build_paths,
)
from image_release.core.build_spec import BuildSecret, BuildSpec, validate_build_spec
from image_release.errors import BuildError, EngineError

BASE = "image-release/busybox:local"


# ----------------------------------------------------------------------------------------------- helpers


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())
    return root


def dead_host(tmp_path: Path) -> str:
    """A docker host address where nothing listens: any daemon contact would be an EngineError."""
    return f"unix://{tmp_path}/nothing-here.sock"


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def local_name() -> str:
    return f"ir-test/engine-{uuid.uuid4().hex[:10]}"


def sdk(services):
    import docker

    return docker.DockerClient(base_url=services.docker_host)


def saved_tar(services, ref: str) -> bytes:
    """``docker save`` of ref: layers are plain tars inside, so a planted value would show up as is."""
    return b"".join(sdk(services).api.get_image(ref))


def image_files(services, ref: str) -> dict[str, bytes]:
    """Every regular file in every layer of ref (later layers win)."""
    outer = tarfile.open(fileobj=io.BytesIO(saved_tar(services, ref)))
    manifest = json.load(outer.extractfile("manifest.json"))
    files: dict[str, bytes] = {}
    for layer in manifest[0]["Layers"]:
        inner = tarfile.open(fileobj=io.BytesIO(outer.extractfile(layer).read()))
        for member in inner.getmembers():
            if member.isfile():
                files[member.name.lstrip("./")] = inner.extractfile(member).read()
    return files


def stub_cli(tmp_path: Path, body: str) -> str:
    """A fake docker CLI (shell script) for the paths this machine cannot run for real (buildx)."""
    path = tmp_path / "fake-docker"
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body).lstrip())
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


@pytest.fixture
def cleanup(services):
    refs: list[str] = []
    yield refs
    client = sdk(services)
    for ref in refs:
        try:
            client.api.remove_image(ref, force=True)
        except Exception:
            pass


@pytest.fixture
def engine(services):
    return Engine(docker_host=services.docker_host, out=io.StringIO(), progress="plain")


SCRATCH = {
    "hello.txt": "hello\n",
    "Dockerfile": """
        FROM scratch
        ARG VERSION=0.0.0
        COPY hello.txt /hello.txt
        LABEL org.opencontainers.image.version=$VERSION
    """,
}

STAGES = {
    "a.txt": "a\n",
    "b.txt": "b\n",
    "Dockerfile": """
        FROM scratch AS first
        COPY a.txt /a.txt
        LABEL stage=first

        FROM scratch AS second
        COPY b.txt /b.txt
        LABEL stage=second
    """,
}

FAILING = {
    "Dockerfile": f"""
        FROM {BASE}
        RUN echo boom-output-7f3; exit 3
    """,
}


# ----------------------------------------------------------------------------------------------- check


@pytest.mark.services
def test_check_reports_engine_version_and_a_working_buildkit_client(engine):
    info = engine.check()
    assert isinstance(info, EngineInfo)
    assert info.server_version and info.api_version
    # dockerd 20.10 with Debian's classic client (or buildx where installed): BuildKit must be usable here
    assert info.buildkit is True
    assert info.buildkit_via in ("buildx", "classic-cli")
    assert os.path.isabs(info.cli) and os.access(info.cli, os.X_OK)


def test_check_on_an_unreachable_daemon_names_the_fix(tmp_path):
    with pytest.raises(EngineError) as err:
        Engine(docker_host=dead_host(tmp_path), out=None).check()
    assert "cannot reach the Docker engine" in err.value.message
    assert "DOCKER_HOST" in err.value.hint and "dockerd" in err.value.hint


@pytest.mark.services
def test_docker_host_comes_from_the_environment_when_not_given(services, tmp_path):
    path = os.environ.get("PATH", "")
    info = Engine(out=None, env={"DOCKER_HOST": services.docker_host, "PATH": path}).check()
    assert info.server_version
    with pytest.raises(EngineError) as err:
        Engine(out=None, env={"DOCKER_HOST": dead_host(tmp_path), "PATH": path}).check()
    assert dead_host(tmp_path) in err.value.message


@pytest.mark.services
def test_check_lists_why_a_client_has_no_buildkit(services, tmp_path):
    cli = stub_cli(tmp_path, "echo 'not today' >&2; exit 1\n")
    info = Engine(docker_host=services.docker_host, out=None, cli=cli).check()
    assert info.buildkit is False and info.cli is None
    assert any("not today" in note for note in info.notes)


# ----------------------------------------------------------------------------------------------- builds


@pytest.mark.services
@pytest.mark.parametrize("buildkit,builder", [("off", "sdk"), ("on", "buildkit")])
def test_build_from_scratch_lands_args_labels_and_every_tag(services, engine, tmp_path, cleanup, buildkit, builder):
    ctx = write(tmp_path / "ctx", SCRATCH)
    name = local_name()
    tags = (f"{name}:1.2.3", f"{name}:1.2", f"{name}:latest")
    cleanup.extend(tags)
    result = engine.build(BuildSpec(
        context=str(ctx), tags=tags, buildkit=buildkit,
        build_args=(("VERSION", "1.2.3"),),
        labels=(("org.opencontainers.image.revision", "abc1234"), ("team", "release")),
    ))
    assert isinstance(result, BuildResult)
    assert result.builder == builder and result.tags == tags
    assert result.image_id.startswith("sha256:")
    info = engine.inspect(tags[0])
    labels = info["Config"]["Labels"]
    assert labels["org.opencontainers.image.version"] == "1.2.3"  # the build arg reached the Dockerfile
    assert labels["org.opencontainers.image.revision"] == "abc1234"
    assert labels["team"] == "release"
    for tag in tags:  # more than one tag: every one names the same image
        assert engine.inspect(tag)["Id"] == result.image_id
    assert image_files(services, tags[0])["hello.txt"] == b"hello\n"


@pytest.mark.services
@pytest.mark.parametrize("buildkit", ["off", "on"])
def test_build_target_selects_the_stage(services, engine, tmp_path, cleanup, buildkit):
    ctx = write(tmp_path / "ctx", STAGES)
    ref = f"{local_name()}:t"
    cleanup.append(ref)
    engine.build(BuildSpec(context=str(ctx), tags=(ref,), target="first", buildkit=buildkit))
    assert engine.inspect(ref)["Config"]["Labels"]["stage"] == "first"
    files = image_files(services, ref)
    assert "a.txt" in files and "b.txt" not in files


@pytest.mark.services
@pytest.mark.parametrize("buildkit,daemon_says", [
    ("off", "returned a non-zero code: 3"),  # the classic builder's error event
    ("on", "exit code: 3"),  # BuildKit's message
])
def test_failing_run_step_raises_with_the_daemons_message(engine, tmp_path, buildkit, daemon_says):
    ctx = write(tmp_path / "ctx", FAILING)
    with pytest.raises(BuildError) as err:
        engine.build(BuildSpec(context=str(ctx), buildkit=buildkit, network="host"))
    assert daemon_says in err.value.message
    assert "echo boom-output-7f3" in err.value.message  # the failing step is named
    last_output = err.value.message.split("last output:")[-1]
    assert "boom-output-7f3" in last_output  # and its output carried
    assert "Running in" not in last_output
    assert "RUN step failed" in err.value.hint


@pytest.mark.services
def test_unknown_target_is_a_build_error(engine, tmp_path):
    ctx = write(tmp_path / "ctx", STAGES)
    with pytest.raises(BuildError) as err:
        engine.build(BuildSpec(context=str(ctx), target="nope", buildkit="on"))
    assert "nope" in err.value.message
    assert "target" in err.value.hint


def test_missing_dockerfile_is_reported_before_the_daemon_is_contacted(tmp_path):
    ctx = write(tmp_path / "ctx", {"hello.txt": "x"})
    with pytest.raises(BuildError) as err:
        check_build_paths(BuildSpec(context=str(ctx), dockerfile="build/Dockerfile"))
    assert "build/Dockerfile" in err.value.message and str(ctx) in err.value.message
    assert "relative to the build context" in err.value.hint


def test_missing_context_is_reported_before_the_daemon_is_contacted(tmp_path):
    with pytest.raises(BuildError) as err:
        check_build_paths(BuildSpec(context=str(tmp_path / "no-such-dir")))
    assert "no-such-dir" in err.value.message and "does not exist" in err.value.message
    assert err.value.hint


@pytest.mark.parametrize("spec_kw,feature", [
    ({"platforms": ("linux/amd64", "linux/arm64")}, "platforms"),
    ({"cache_to": ("type=registry,ref=127.0.0.1:5000/t/cache",)}, "cache export"),
    ({"secrets": (BuildSecret(id="tok", env="HOME"),)}, "build secrets"),
    ({"builder": "remote"}, "buildx builder"),
])
def test_buildkit_only_features_with_buildkit_off_name_the_feature_and_fix(tmp_path, spec_kw, feature):
    ctx = write(tmp_path / "ctx", SCRATCH)
    with pytest.raises(BuildError) as err:
        validate_build_spec(BuildSpec(context=str(ctx), buildkit="off", **spec_kw))
    assert feature in err.value.message and "BuildKit" in err.value.message
    assert "set buildkit to auto or on" in err.value.hint


@pytest.mark.services
def test_buildkit_features_without_a_buildkit_client_name_the_feature_and_fix(services, tmp_path):
    ctx = write(tmp_path / "ctx", SCRATCH)
    cli = stub_cli(tmp_path, "exit 1\n")  # neither buildx nor a BuildKit-capable build
    eng = Engine(docker_host=services.docker_host, out=None, cli=cli)
    with pytest.raises(BuildError) as err:
        eng.build(BuildSpec(context=str(ctx), platforms=("linux/arm64",)))
    assert "platforms need BuildKit" in err.value.message and "no working BuildKit client" in err.value.message
    assert "buildx" in err.value.hint and "remove platforms" in err.value.hint
    with pytest.raises(BuildError) as err:
        eng.build(BuildSpec(context=str(ctx), buildkit="on"))
    assert "buildkit is on" in err.value.message


def test_buildkit_on_with_the_daemon_down_says_the_daemon_is_down(tmp_path):
    ctx = write(tmp_path / "ctx", SCRATCH)
    eng = Engine(docker_host=dead_host(tmp_path), out=None, cli=stub_cli(tmp_path, "exit 1\n"))
    with pytest.raises(EngineError) as err:
        eng.build(BuildSpec(context=str(ctx), buildkit="on"))
    assert "cannot reach the Docker engine" in err.value.message


@pytest.mark.services
def test_auto_falls_back_to_the_sdk_without_a_buildkit_client(services, tmp_path, cleanup):
    ctx = write(tmp_path / "ctx", SCRATCH)
    ref = f"{local_name()}:auto"
    cleanup.append(ref)
    eng = Engine(docker_host=services.docker_host, out=None, cli=stub_cli(tmp_path, "exit 1\n"))
    assert eng.build(BuildSpec(context=str(ctx), tags=(ref,))).builder == "sdk"


def test_unset_secret_variable_is_reported_before_the_build(tmp_path):
    ctx = write(tmp_path / "ctx", SCRATCH)
    with pytest.raises(BuildError) as err:
        validate_build_spec(BuildSpec(context=str(ctx), secrets=(BuildSecret(id="tok", env="IR_NOT_SET_TOKEN"),)),
                            env={"PATH": os.environ.get("PATH", "")})
    assert "IR_NOT_SET_TOKEN is not set" in err.value.message


# ----------------------------------------------------------------------------------------------- secrets


@pytest.mark.services
def test_build_secrets_reach_the_step_but_never_argv_output_or_image(services, tmp_path, cleanup):
    planted_env = "planted-env-" + uuid.uuid4().hex
    planted_file = "planted-file-" + uuid.uuid4().hex
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(planted_file)
    ctx = write(tmp_path / "ctx", {"Dockerfile": f"""
        FROM {BASE}
        RUN --mount=type=secret,id=tok --mount=type=secret,id=npmrc \\
            cat /run/secrets/tok | wc -c > /tok.len && cat /run/secrets/npmrc | wc -c > /file.len
    """})
    # Wrap the real client so the exact argv the engine runs is recorded.
    real = Engine(docker_host=services.docker_host, out=None).check().cli
    log = tmp_path / "argv.log"
    wrapper = stub_cli(tmp_path, f'printf "%s\\n" "$*" >> "{log}"\nexec "{real}" "$@"\n')
    out = io.StringIO()
    env = dict(os.environ, IR_PLANTED_TOKEN=planted_env)
    eng = Engine(docker_host=services.docker_host, out=out, progress="plain", cli=wrapper, env=env)
    ref = f"{local_name()}:secret"
    cleanup.append(ref)
    result = eng.build(BuildSpec(
        context=str(ctx), tags=(ref,), network="host", buildkit="auto",
        secrets=(BuildSecret(id="tok", env="IR_PLANTED_TOKEN"), BuildSecret(id="npmrc", src=str(secret_file))),
    ))
    assert result.builder == "buildkit"
    files = image_files(services, ref)
    # the step saw both values (their lengths landed in the image) ...
    assert int(files["tok.len"].strip()) == len(planted_env)
    assert int(files["file.len"].strip()) == len(planted_file)
    # ... and neither value is anywhere else
    argv_log = log.read_text()
    assert "id=tok,env=IR_PLANTED_TOKEN" in argv_log and f"id=npmrc,src={secret_file}" in argv_log
    blob = saved_tar(services, ref)
    history = json.dumps(sdk(services).api.history(ref))
    inspect = json.dumps(eng.inspect(ref))
    for planted in (planted_env, planted_file):
        assert planted not in argv_log
        assert planted not in out.getvalue()
        assert planted.encode() not in blob
        assert planted not in history and planted not in inspect
        assert planted not in repr(eng)


# ----------------------------------------------------------------------------------------------- push


@pytest.mark.services
def test_tag_image_exists_and_remove_image(services, engine, tmp_path):
    ctx = write(tmp_path / "ctx", SCRATCH)
    name = local_name()
    result = engine.build(BuildSpec(context=str(ctx), tags=(f"{name}:a",), buildkit="off"))
    engine.tag(result.image_id, [f"{name}:b", f"{name}:c"])
    assert engine.image_exists(f"{name}:b") and engine.image_exists(f"{name}:c")
    for tag in "abc":
        assert engine.remove_image(f"{name}:{tag}") is True
    assert engine.image_exists(f"{name}:a") is False
    assert engine.remove_image(f"{name}:a") is False


# ----------------------------------------------------------------------------------------------- progress


@pytest.mark.services
def test_plain_progress_prints_lines(services, tmp_path, cleanup):
    ctx = write(tmp_path / "ctx", SCRATCH)
    name = local_name()
    cleanup.extend([f"{name}:sdk", f"{name}:bk"])
    out = io.StringIO()
    eng = Engine(docker_host=services.docker_host, out=out, progress="plain")
    eng.build(BuildSpec(context=str(ctx), tags=(f"{name}:sdk",), buildkit="off"))
    lines = out.getvalue().splitlines()
    assert any(line.startswith("Step 1/") for line in lines)
    assert any(line.startswith("built sha256:") for line in lines)
    assert "\r" not in out.getvalue()
    out.seek(0), out.truncate()
    eng.build(BuildSpec(context=str(ctx), tags=(f"{name}:bk",), buildkit="on"))
    lines = out.getvalue().splitlines()
    assert any(line.startswith("#1 ") for line in lines)  # BuildKit's plain progress, streamed
    assert lines[-1].startswith("built sha256:")


@pytest.mark.services
def test_auto_progress_is_plain_off_a_terminal_and_in_ci(services, tmp_path, cleanup):
    ctx = write(tmp_path / "ctx", SCRATCH)
    ref = f"{local_name()}:auto"
    cleanup.append(ref)
    for out, env in ((io.StringIO(), {}), (FakeTTY(), {"CI": "true"})):
        eng = Engine(docker_host=services.docker_host, out=out, progress="auto",
                     env=dict(os.environ, **env) if env else {k: v for k, v in os.environ.items() if k != "CI"})
        eng.build(BuildSpec(context=str(ctx), tags=(ref,), buildkit="off"))
        assert "Step 1/" in out.getvalue() and "\x1b[K" not in out.getvalue()


@pytest.mark.services
@pytest.mark.parametrize("buildkit", ["off", "on"])
def test_tty_progress_is_one_updating_line_per_step(services, tmp_path, cleanup, buildkit):
    ctx = write(tmp_path / "ctx", SCRATCH)
    ref = f"{local_name()}:tty"
    cleanup.append(ref)
    plain, tty = io.StringIO(), FakeTTY()
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    Engine(docker_host=services.docker_host, out=plain, progress="plain", env=env).build(
        BuildSpec(context=str(ctx), tags=(ref,), buildkit=buildkit, no_cache=True))
    Engine(docker_host=services.docker_host, out=tty, progress="auto", env=env).build(
        BuildSpec(context=str(ctx), tags=(ref,), buildkit=buildkit, no_cache=True))
    assert "\r\x1b[K" in tty.getvalue()
    assert tty.getvalue().count("\n") < plain.getvalue().count("\n")
    assert tty.getvalue().splitlines()[-1].startswith("built sha256:")


# ----------------------------------------------------------------------------------------------- CLI argv


def argv_for(spec: BuildSpec, via: str) -> tuple[list[str], bool]:
    bk = _BuildKitClient(cli="/x/docker", via=via, version=None)
    return Engine(docker_host="unix:///nowhere", out=None).buildkit_argv(spec, "/ctx", "/ctx/Dockerfile", bk, "/t/iid", "/t/meta")


def test_classic_cli_argv_and_its_limits():
    spec = BuildSpec(
        tags=("r/x:1", "r/x:latest"), build_args=(("A", "1"),), labels=(("l", "v"),), target="final",
        platforms=("linux/arm64",), cache_from=("r/x:cache",), cache_to=("type=inline",),
        secrets=(BuildSecret(id="tok", env="TOKEN"),), network="host", pull=True, no_cache=True,
    )
    argv, push = argv_for(spec, "classic-cli")
    assert argv[:2] == ["/x/docker", "build"] and argv[-1] == "/ctx" and push is False
    joined = " ".join(argv)
    for part in ("--progress=plain", "--file /ctx/Dockerfile", "--iidfile /t/iid", "--tag r/x:1",
                 "--tag r/x:latest", "--build-arg A=1", "--label l=v", "--target final",
                 "--platform linux/arm64", "--cache-from r/x:cache", "--build-arg BUILDKIT_INLINE_CACHE=1",
                 "--secret id=tok,env=TOKEN", "--network host", "--pull", "--no-cache"):
        assert part in joined
    assert "--load" not in argv and "buildx" not in argv
    for bad, word in (
        ({"platforms": ("linux/amd64", "linux/arm64")}, "several platforms"),
        ({"cache_to": ("type=registry,ref=r/x:cache",)}, "cache export"),
        ({"builder": "remote"}, "buildx builder"),
    ):
        with pytest.raises(BuildError) as err:
            argv_for(BuildSpec(**bad), "classic-cli")
        assert word in err.value.message and "buildx" in err.value.hint


def test_buildx_argv_loads_one_platform_and_pushes_several():
    argv, push = argv_for(BuildSpec(tags=("r/x:1",), builder="remote", cache_to=("type=registry,ref=r/x:c",),
                                    network="host"), "buildx")
    assert argv[:3] == ["/x/docker", "buildx", "build"] and push is False
    joined = " ".join(argv)
    assert "--builder remote" in joined and "--load" in argv and "--cache-to type=registry,ref=r/x:c" in joined
    assert "--allow network.host" in joined and "--metadata-file /t/meta" in joined
    argv, push = argv_for(BuildSpec(tags=("r/x:1",), platforms=("linux/amd64", "linux/arm64"), output="push"),
                          "buildx")
    assert push is True and "--push" in argv and "--load" not in argv
    assert "--platform linux/amd64,linux/arm64" in " ".join(argv)


def test_buildx_build_through_a_stub_client(tmp_path):
    """No buildx can be installed here: a stub CLI stands in to check the multi-platform push flow."""
    log = tmp_path / "argv.log"
    cli = stub_cli(tmp_path, f"""
        echo "$*" >> "{log}"
        if [ "$1 $2" = "buildx version" ]; then echo "github.com/docker/buildx v0.12.0"; exit 0; fi
        iid=; meta=
        while [ $# -gt 0 ]; do
          case "$1" in --iidfile) iid=$2; shift;; --metadata-file) meta=$2; shift;; esac; shift
        done
        echo "#1 [internal] load build definition from Dockerfile"
        echo "#1 DONE 0.0s"
        printf 'sha256:%064d' 1 > "$iid"
        printf '{{"containerimage.digest": "sha256:%064d"}}' 2 > "$meta"
    """)
    ctx = write(tmp_path / "ctx", SCRATCH)
    out = io.StringIO()
    eng = Engine(docker_host=dead_host(tmp_path), out=out, progress="plain", cli=cli,
                 env=dict(os.environ, TOKEN="planted-stub-value"))
    result = eng.build(BuildSpec(context=str(ctx), tags=("127.0.0.1:5000/t/x:1",), builder="remote",
                                 platforms=("linux/amd64", "linux/arm64"), output="push",
                                 secrets=(BuildSecret(id="tok", env="TOKEN"),)))
    assert result.builder == "buildkit" and result.pushed is True
    assert result.image_id == "sha256:" + "0" * 63 + "1"
    assert result.digest == "sha256:" + "0" * 63 + "2"
    assert "#1 [internal] load build definition" in out.getvalue()
    calls = log.read_text()
    assert "buildx build --builder remote" in calls and "--push" in calls
    assert "planted-stub-value" not in calls


def test_buildx_failure_carries_buildkits_message(tmp_path):
    cli = stub_cli(tmp_path, """
        if [ "$1 $2" = "buildx version" ]; then exit 0; fi
        cat <<'EOF'
        #5 [2/2] RUN make
        #5 0.101 make: *** No rule to make target 'all'.  Stop.
        #5 ERROR: process "/bin/sh -c make" did not complete successfully: exit code: 2
        ------
         > [2/2] RUN make:
        0.101 make: *** No rule to make target 'all'.  Stop.
        ------
        Dockerfile:2
        --------------------
           1 |     FROM scratch
           2 | >>> RUN make
        --------------------
        ERROR: failed to solve: process "/bin/sh -c make" did not complete successfully: exit code: 2
        EOF
        exit 1
    """)
    ctx = write(tmp_path / "ctx", SCRATCH)
    eng = Engine(docker_host=dead_host(tmp_path), out=None, cli=cli)
    with pytest.raises(BuildError) as err:
        eng.build(BuildSpec(context=str(ctx), buildkit="on"))
    msg = err.value.message
    assert 'failed to solve: process "/bin/sh -c make" did not complete successfully: exit code: 2' in msg
    assert "step: [2/2] RUN make" in msg and "No rule to make target" in msg


def test_buildkit_failure_parsing_of_the_classic_client_output():
    lines = [
        "#5 [2/2] RUN echo boom; exit 3",
        "#5 sha256:b4ed",
        "#5 0.051 boom",
        "#5 ERROR: executor failed running [/bin/sh -c echo boom; exit 3]: exit code: 3",
        "------",
        " > [2/2] RUN echo boom; exit 3:",
        "------",
        "executor failed running [/bin/sh -c echo boom; exit 3]: exit code: 3",
    ]
    final, step, output = _buildkit_failure(lines)
    assert final == "executor failed running [/bin/sh -c echo boom; exit 3]: exit code: 3"
    assert step == "[2/2] RUN echo boom; exit 3" and output == ["boom"]
