"""Build output redaction (issue 14): a Dockerfile that prints a build secret (``cat /run/secrets/npm``)
must not show its value in anything the engine relays: BuildKit's plain lines, the live terminal line, the
classic builder's stream, and a failure's "last output". Real dockerd, real BuildKit
(``DOCKER_BUILDKIT=1 /usr/bin/docker build``) on the busybox base image the services script imports.
"""

from __future__ import annotations

import io
import os
import uuid
from dataclasses import replace

import pytest

from image_release.adapters.engine import Engine
from image_release.core.build_spec import BuildSecret, BuildSpec
from image_release.errors import BuildError
from tests.test_engine import BASE, FakeTTY, cleanup, local_name, write  # noqa: F401 (cleanup: a fixture)

pytestmark = pytest.mark.services


def planted() -> str:
    return "planted-npm-" + uuid.uuid4().hex


def stars(value: str):
    return lambda text: text.replace(value, "***")


def engine(services, out, value, progress="plain"):
    env = dict(os.environ, IR_NPM_TOKEN=value)
    env.pop("CI", None)
    return Engine(docker_host=services.docker_host, out=out, progress=progress, env=env, redact=stars(value))


def secret_build(tmp_path, tail: str = "") -> BuildSpec:
    ctx = write(tmp_path / "ctx", {"Dockerfile": f"""
        FROM {BASE}
        RUN --mount=type=secret,id=npm echo "token is $(cat /run/secrets/npm)"{tail}
    """})
    return BuildSpec(context=str(ctx), network="host", buildkit="on", no_cache=True,
                     secrets=(BuildSecret(id="npm", env="IR_NPM_TOKEN"),))


@pytest.mark.parametrize("progress,out", [("plain", io.StringIO), ("auto", FakeTTY)])
def test_a_printed_build_secret_is_redacted_in_buildkits_progress(services, tmp_path, cleanup, progress, out):
    value, stream = planted(), out()
    spec = secret_build(tmp_path)
    ref = f"{local_name()}:redact"
    cleanup.append(ref)
    engine(services, stream, value, progress).build(replace(spec, tags=(ref,)))
    text = stream.getvalue()
    assert value not in text
    assert "token is ***" in text  # the line was relayed, with the value replaced


def test_a_printed_build_secret_is_redacted_in_a_failures_last_output(services, tmp_path):
    value, stream = planted(), io.StringIO()
    with pytest.raises(BuildError) as err:
        engine(services, stream, value).build(secret_build(tmp_path, "; exit 3"))
    assert "exit code: 3" in err.value.message
    assert "token is ***" in err.value.message.split("last output:")[-1]
    assert value not in str(err.value) and value not in stream.getvalue()


def test_the_classic_builders_stream_and_errors_are_redacted(services, tmp_path):
    value, stream = planted(), io.StringIO()
    ctx = write(tmp_path / "ctx", {"Dockerfile": f"""
        FROM {BASE}
        ARG NPM
        RUN echo "arg is $NPM"; exit 4
    """})
    with pytest.raises(BuildError) as err:
        engine(services, stream, value).build(BuildSpec(context=str(ctx), network="host", buildkit="off",
                                                        build_args=(("NPM", value),)))
    assert "arg is ***" in stream.getvalue() and "arg is ***" in err.value.message
    assert value not in stream.getvalue() and value not in str(err.value)


def test_without_a_redactor_the_engine_relays_output_as_it_is(services, tmp_path, cleanup):
    value, stream = planted(), io.StringIO()
    env = dict(os.environ, IR_NPM_TOKEN=value)
    ref = f"{local_name()}:plain"
    cleanup.append(ref)
    Engine(docker_host=services.docker_host, out=stream, progress="plain", env=env).build(
        replace(secret_build(tmp_path), tags=(ref,)))
    assert f"token is {value}" in stream.getvalue()  # what the redactor is there for
