"""Image references parsed and validated the way Docker does (core.image_ref)."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from image_release.core.image_ref import (
    ImageName,
    is_digest,
    is_plain_http,
    parse_image,
    validate_digest,
    validate_registry_host,
    validate_repository,
    validate_tag,
)
from image_release.errors import ConfigError

SHA = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    "text, registry, repository, tag, digest",
    [
        ("busybox", "docker.io", "library/busybox", None, None),
        ("busybox:1.36", "docker.io", "library/busybox", "1.36", None),
        ("acme/app", "docker.io", "acme/app", None, None),
        ("docker.io/busybox", "docker.io", "library/busybox", None, None),
        ("index.docker.io/acme/app:v1", "docker.io", "acme/app", "v1", None),
        ("ghcr.io/acme/app:1.2.3", "ghcr.io", "acme/app", "1.2.3", None),
        ("registry.gitlab.com/group/sub/project", "registry.gitlab.com", "group/sub/project", None, None),
        ("localhost/app", "localhost", "app", None, None),
        ("localhost:5000/app:latest", "localhost:5000", "app", "latest", None),
        ("127.0.0.1:5000/t/app", "127.0.0.1:5000", "t/app", None, None),
        ("[::1]:5000/app:x", "[::1]:5000", "app", "x", None),
        ("[fe80::1]/app", "[fe80::1]", "app", None, None),
        ("Registry.Example.com/app", "Registry.Example.com", "app", None, None),
        ("my-reg.example.com:443/a.b/c_d/e__f/g-h/i--j", "my-reg.example.com:443", "a.b/c_d/e__f/g-h/i--j", None, None),
        (f"ghcr.io/acme/app@{SHA}", "ghcr.io", "acme/app", None, SHA),
        (f"ghcr.io/acme/app:1.2@{SHA}", "ghcr.io", "acme/app", "1.2", SHA),
        ("app:_under", "docker.io", "library/app", "_under", None),
        ("app:" + "a" * 128, "docker.io", "library/app", "a" * 128, None),
        ("localhost:5000", "docker.io", "library/localhost", "5000", None),  # as Docker reads it
    ],
)
def test_parse_valid(text, registry, repository, tag, digest):
    name = parse_image(text)
    assert name == ImageName(registry, repository, tag, digest)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "empty"),
        (" app", "whitespace"),
        ("app ", "whitespace"),
        ("App", "lower case"),
        ("ghcr.io/Acme/app", "lower case"),
        ("ghcr.io/", "no repository"),
        ("ghcr.io/acme//app", "invalid repository"),
        ("ghcr.io/acme/app/", "invalid repository"),
        ("ghcr.io/-acme/app", "invalid repository"),
        ("ghcr.io/acme/app-", "invalid repository"),
        ("ghcr.io/acme/a..b", "invalid repository"),
        ("ghcr.io/acme/a___b", "invalid repository"),
        ("ghcr.io/acme/app:", "invalid image tag"),
        ("ghcr.io/acme/app:-x", "invalid image tag"),
        ("ghcr.io/acme/app:.x", "invalid image tag"),
        ("ghcr.io/acme/app:1.2.3+build", "'+'"),
        ("ghcr.io/acme/app:a/b", "invalid repository"),
        ("app:" + "a" * 129, "longer than 128"),
        ("ghcr.io/acme/app@sha256:abc", "invalid digest"),
        ("ghcr.io/acme/app@" + "a" * 64, "invalid digest"),
        ("https://ghcr.io/acme/app", "invalid"),
        ("ghcr.io:99999/app", "port"),
        ("ghcr.io:abc/app", "port"),
        ("ghcr.io:/app", "port"),
        ("-bad.example.com/app", "invalid registry host"),
        ("bad-.example.com/app", "invalid registry host"),
        ("bad_host.example.com/app", "invalid registry host"),
        ("[::1/app", "unclosed"),
        ("[not-ipv6]:5000/app", "IPv6"),
        ("999.1.1.1:5000/app", "IPv4"),
        ("a" * 250 + ".io/" + "b" * 10, "longer than 255"),
        ("app@sha256:" + "G" * 64, "invalid digest"),
    ],
)
def test_parse_invalid(text, fragment):
    with pytest.raises(ConfigError) as info:
        parse_image(text)
    err = info.value
    assert fragment.lower() in str(err).lower()
    assert err.hint, "every error names the fix"
    assert re.search(r"(like|use|give|put|shorter|digest looks)", err.hint)


def test_parse_rejects_non_string():
    with pytest.raises(ConfigError):
        parse_image(None)  # type: ignore[arg-type]


def test_ref_and_str():
    name = parse_image("127.0.0.1:5000/t/app")
    assert name.name == "127.0.0.1:5000/t/app"
    assert name.ref("1.2.3") == "127.0.0.1:5000/t/app:1.2.3"
    assert name.digest_ref(SHA) == f"127.0.0.1:5000/t/app@{SHA}"
    assert str(parse_image(f"ghcr.io/a/b:1@{SHA}")) == f"ghcr.io/a/b:1@{SHA}"
    with pytest.raises(ConfigError, match="no tag"):
        name.ref()
    with pytest.raises(ConfigError, match="invalid image tag"):
        name.ref("bad tag")
    assert parse_image("busybox:1").ref() == "docker.io/library/busybox:1"


@pytest.mark.parametrize(
    "host, ok",
    [
        ("ghcr.io", True), ("registry.example.com:5000", True), ("127.0.0.1:5000", True), ("[::1]:5000", True),
        ("[::1]", True), ("localhost", True), ("localhost:5000", True), ("myhost", True), ("10.0.0.1", True),
        ("", False), ("ghcr.io/", False), ("http://ghcr.io", False), ("::1", False), ("::1:5000", False),
        ("[::1]5000", False), ("host:0", False), ("host:65536", False), ("ho st", False), ("1.2.3.256", False),
    ],
)
def test_validate_registry_host(host, ok):
    if ok:
        assert validate_registry_host(host) == host
    else:
        with pytest.raises(ConfigError) as info:
            validate_registry_host(host)
        assert info.value.hint
        if host.startswith("::1"):
            assert "brackets" in info.value.hint


def test_registry_host_hub_alias():
    assert validate_registry_host("index.docker.io") == "docker.io"


@pytest.mark.parametrize(
    "host, plain",
    [
        ("localhost", True), ("localhost:5000", True), ("LOCALHOST:5000", True), ("127.0.0.1:5000", True),
        ("127.1.2.3", True), ("[::1]:5000", True), ("[::1]", True),
        ("ghcr.io", False), ("10.0.0.1:5000", False), ("192.168.1.2", False), ("localhost.example.com", False),
        ("localhost.localdomain:5000", False), ("[fe80::1]:5000", False), ("0.0.0.0:5000", False), ("bad:port", False),
    ],
)
def test_is_plain_http(host, plain):
    assert is_plain_http(host) is plain


def test_validate_tag_digest_repository_helpers():
    assert validate_tag("v1.2.3") == "v1.2.3"
    assert validate_repository("a/b") == "a/b"
    assert validate_digest(SHA) == SHA
    assert is_digest(SHA) and not is_digest("1.2.3")
    for bad in ("", "a b", None, 3):
        with pytest.raises(ConfigError):
            validate_tag(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="must be lower case"):
        validate_repository("Acme/App")
    with pytest.raises(ConfigError):
        validate_repository("")


# -- properties ---------------------------------------------------------------------------------------------

TAG_FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
TAG_REST = TAG_FIRST + ".-"
tags = st.builds(lambda a, b: a + b, st.sampled_from(TAG_FIRST), st.text(TAG_REST, max_size=127))
alnum = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
components = st.builds(
    lambda parts, seps: parts[0] + "".join(s + p for s, p in zip(seps, parts[1:])),
    st.lists(alnum, min_size=1, max_size=4),
    st.lists(st.sampled_from([".", "_", "__", "-", "--"]), min_size=3, max_size=3),
)
repositories = st.lists(components, min_size=1, max_size=4).map("/".join)
hosts = st.sampled_from(["ghcr.io", "registry.example.com:5000", "127.0.0.1:5000", "[::1]:5000", "localhost",
                         "localhost:5000", "quay.io"])


@given(tags)
def test_property_valid_tags_accepted(tag):
    assert validate_tag(tag) == tag


@given(st.text(max_size=140))
def test_property_tag_validation_matches_docker_regex(text):
    valid = re.fullmatch(r"[\w][\w.-]{0,127}", text, flags=re.ASCII) is not None
    try:
        validate_tag(text)
        accepted = True
    except ConfigError:
        accepted = False
    assert accepted == valid


@given(hosts, repositories, st.one_of(st.none(), tags))
def test_property_round_trip(host, repo, tag):
    text = f"{host}/{repo}" + (f":{tag}" if tag else "")
    name = parse_image(text)
    assert name == ImageName(host, repo, tag)
    assert str(name) == text
    assert parse_image(str(name)) == name


@given(repositories)
def test_property_docker_hub_normalisation(repo):
    assume("/" not in repo or "." not in repo.split("/")[0])  # a first component with "." is a registry host
    name = parse_image(repo)
    assert name.registry == "docker.io"
    assert name.repository == (repo if "/" in repo else f"library/{repo}")
    assert parse_image(str(name)) == name


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_property_arbitrary_text_never_crashes(text):
    try:
        name = parse_image(text)
    except ConfigError as exc:
        assert exc.hint
    else:
        assert parse_image(str(name)) == name
