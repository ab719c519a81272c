"""The build inputs, checked once: ``validate_build_spec`` (pure: the spec's shape and, given the environment,
its secret variables) and the engine adapter's ``check_build_paths`` (the files the spec names). Neither
contacts a daemon."""

from __future__ import annotations

from pathlib import Path

import pytest

from image_release.adapters.engine import check_build_paths
from image_release.core.build_spec import BuildSecret, BuildSpec, validate_build_spec
from image_release.errors import BuildError


@pytest.mark.parametrize("secrets,words", [
    ((BuildSecret(id="bad id", env="TOK"),), ("'bad id'", "not valid")),
    ((BuildSecret(id="", env="TOK"),), ("''", "not valid")),
    ((BuildSecret(id="tok", env="A"), BuildSecret(id="tok", env="B")), ("'tok'", "given twice")),
    ((BuildSecret(id="tok"),), ("exactly one source",)),
    ((BuildSecret(id="tok", env="TOK", src="/etc/hostname"),), ("exactly one source",)),
    ((BuildSecret(id="tok", env="NOT-A-NAME"),), ("'NOT-A-NAME'", "not an environment variable name")),
    ((BuildSecret(id="tok", src="/tmp/a,b"),), ("comma",)),
])
def test_a_secret_of_the_wrong_shape_is_refused_with_a_hint(secrets, words):
    with pytest.raises(BuildError) as err:
        validate_build_spec(BuildSpec(secrets=secrets))
    for word in words:
        assert word in err.value.message
    assert err.value.hint


def test_a_well_formed_spec_passes_and_env_is_only_read_when_given():
    spec = BuildSpec(secrets=(BuildSecret(id="npm.rc_1", env="NPM_TOKEN"), BuildSecret(id="f", src="x.txt")))
    validate_build_spec(spec)  # no environment given: the variables are not looked at
    validate_build_spec(spec, env={"NPM_TOKEN": "value"})
    for env in ({}, {"NPM_TOKEN": ""}):  # unset or empty: the build would get no value
        with pytest.raises(BuildError) as err:
            validate_build_spec(spec, env=env)
        assert "NPM_TOKEN is not set" in err.value.message and "export NPM_TOKEN" in err.value.hint


def test_an_unknown_buildkit_mode_is_refused():
    with pytest.raises(BuildError) as err:
        validate_build_spec(BuildSpec(buildkit="sometimes"))
    assert "sometimes" in err.value.message and "auto, on, off" in err.value.hint
    validate_build_spec(BuildSpec(buildkit=" ON "))  # as the engine reads it


def test_build_paths_accept_a_complete_context(tmp_path: Path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    secret = tmp_path / "npmrc"
    secret.write_text("x")
    check_build_paths(BuildSpec(context=str(tmp_path), secrets=(BuildSecret(id="npmrc", src=str(secret)),
                                                               BuildSecret(id="tok", env="TOK"))))


def test_a_missing_context_file_or_secret_file_is_named(tmp_path: Path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(BuildError) as err:
        check_build_paths(BuildSpec(context=str(tmp_path / "file.txt")))
    assert "is not a directory" in err.value.message
    with pytest.raises(BuildError) as err:
        check_build_paths(BuildSpec(context=str(tmp_path), dockerfile=str(tmp_path / "nope" / "Dockerfile")))
    assert "no Dockerfile at" in err.value.message and "nope" in err.value.message
    for src in (tmp_path / "absent", tmp_path):  # absent, or a directory
        with pytest.raises(BuildError) as err:
            check_build_paths(BuildSpec(context=str(tmp_path), secrets=(BuildSecret(id="s", src=str(src)),)))
        assert "build secret 's'" in err.value.message and str(src) in err.value.message
        assert "existing, readable file" in err.value.hint
