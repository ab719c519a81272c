"""Docker contexts and builders (issue 16): the engine honours ``DOCKER_CONTEXT`` and ``docker context use`` as
the docker CLI does (``DOCKER_HOST`` first), talks to that daemon through the SDK, and gives the CLI the
context's name, so BuildKit builds reach the same daemon. Contexts are created here with the real
``/usr/bin/docker context create`` in a throwaway ``DOCKER_CONFIG``, pointing at the local socket (or at a
socket where nothing listens)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from image_release.adapters.engine import Engine
from image_release.adapters.engine.endpoint import resolve_endpoint, sdk_client_kwargs
from image_release.core.build_spec import BuildSpec
from image_release.errors import BuildError, EngineError
from tests.test_engine import SCRATCH, cleanup, dead_host, local_name, stub_cli, write  # noqa: F401

DOCKER = "/usr/bin/docker"


def make_context(config: Path, name: str, host: str) -> None:
    env = {"DOCKER_CONFIG": str(config), "PATH": os.environ.get("PATH", ""), "HOME": str(config.parent)}
    subprocess.run([DOCKER, "context", "create", name, "--docker", f"host={host}"], env=env, check=True,
                   capture_output=True)


def base_env(config: Path) -> dict[str, str]:
    """The environment of a run: no DOCKER_HOST, the Docker config in ``config``."""
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
    env["DOCKER_CONFIG"] = str(config)
    return env


@pytest.fixture
def config(tmp_path) -> Path:
    path = tmp_path / "docker-config"
    path.mkdir()
    return path


@pytest.mark.services
def test_docker_context_names_the_daemon_for_the_sdk_and_the_cli(services, config, tmp_path, cleanup):
    sock = services.docker_host
    make_context(config, "ir-local", sock)
    log = tmp_path / "cli-env.log"
    wrapper = stub_cli(tmp_path, f'echo "ctx=$DOCKER_CONTEXT host=$DOCKER_HOST $1" >> "{log}"\nexec {DOCKER} "$@"\n')
    eng = Engine(out=io.StringIO(), progress="plain", cli=wrapper, env=dict(base_env(config), DOCKER_CONTEXT="ir-local"))
    assert eng.endpoint.context == "ir-local" and eng.endpoint.source == "DOCKER_CONTEXT"
    assert eng.docker_host == sock
    assert eng.check().server_version
    ref = f"{local_name()}:ctx"
    cleanup.append(ref)
    ctx = write(tmp_path / "ctx", SCRATCH)
    assert eng.build(BuildSpec(context=str(ctx), tags=(ref,), buildkit="on")).builder == "buildkit"
    build_lines = [ln for ln in log.read_text().splitlines() if ln.endswith(" build")]
    assert build_lines == ["ctx=ir-local host= build"]  # the CLI resolves the same context itself
    assert eng.image_exists(ref)


@pytest.mark.services
def test_docker_context_use_is_honoured_and_docker_host_comes_first(services, config, tmp_path):
    make_context(config, "ir-dead", dead_host(tmp_path))
    subprocess.run([DOCKER, "context", "use", "ir-dead"], env=base_env(config), check=True, capture_output=True)
    eng = Engine(out=None, env=base_env(config))
    assert eng.endpoint.source == "docker context use" and eng.endpoint.context == "ir-dead"
    with pytest.raises(EngineError) as err:
        eng.check()
    assert "docker context ir-dead" in err.value.message and dead_host(tmp_path) in err.value.message
    assert "docker context" in err.value.hint
    # DOCKER_HOST wins over any context, as for the docker CLI; the CLI then gets no context
    env = dict(base_env(config), DOCKER_HOST=services.docker_host, DOCKER_CONTEXT="ir-dead")
    eng = Engine(out=None, env=env)
    assert eng.endpoint.source == "DOCKER_HOST" and eng.check().server_version
    cli_env = eng._cli_env(True)
    assert cli_env["DOCKER_HOST"] == services.docker_host and "DOCKER_CONTEXT" not in cli_env


def test_an_unknown_context_is_a_clear_error(config):
    eng = Engine(out=None, env=dict(base_env(config), DOCKER_CONTEXT="nope"))
    with pytest.raises(EngineError) as err:
        eng.check()
    assert "docker context 'nope' (from DOCKER_CONTEXT)" in err.value.message
    assert "docker context ls" in err.value.hint


def test_the_default_context_is_the_local_socket(config):
    (config / "config.json").write_text(json.dumps({"currentContext": "default"}))
    assert resolve_endpoint(None, base_env(config)).host == "unix:///var/run/docker.sock"
    assert resolve_endpoint(None, dict(base_env(config), DOCKER_CONTEXT="default")).source == "default"
    assert resolve_endpoint("tcp://10.0.0.1:2375", {"DOCKER_HOST": "x"}).source == "argument"


def test_a_contexts_tls_files_are_found(config):
    """The layout ``docker context create --docker host=tcp://...,ca=,cert=,key=`` writes."""
    cid = hashlib.sha256(b"remote").hexdigest()
    meta = config / "contexts" / "meta" / cid
    meta.mkdir(parents=True)
    (meta / "meta.json").write_text(json.dumps({"Name": "remote", "Metadata": {}, "Endpoints": {
        "docker": {"Host": "tcp://10.1.2.3:2376", "SkipTLSVerify": False}}}))
    tls = config / "contexts" / "tls" / cid / "docker"
    tls.mkdir(parents=True)
    for name in ("ca", "cert", "key"):
        (tls / f"{name}.pem").write_text("-----BEGIN-----\n")
    ep = resolve_endpoint(None, dict(base_env(config), DOCKER_CONTEXT="remote"))
    assert ep.host == "tcp://10.1.2.3:2376" and ep.tls_dir == str(tls) and ep.skip_tls_verify is False
    kwargs = sdk_client_kwargs(ep)
    assert kwargs["base_url"] == "tcp://10.1.2.3:2376" and kwargs["use_ssh_client"] is False
    assert kwargs["tls"].cert == (str(tls / "cert.pem"), str(tls / "key.pem"))
    assert kwargs["tls"].ca_cert == str(tls / "ca.pem") and kwargs["tls"].verify is True


@pytest.mark.services
def test_a_named_builder_without_buildx_is_a_clear_build_error(services, tmp_path):
    """/usr/bin/docker 20.10 has BuildKit built in but no buildx: a named builder cannot be honoured."""
    ctx = write(tmp_path / "ctx", SCRATCH)
    eng = Engine(docker_host=services.docker_host, out=None, cli=DOCKER)
    with pytest.raises(BuildError) as err:
        eng.build(BuildSpec(context=str(ctx), builder="remote-workers"))
    assert "'remote-workers'" in err.value.message and "needs docker buildx" in err.value.message
    assert "buildx" in err.value.hint
