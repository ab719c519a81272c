"""SemVer versions from git tags: strict parsing, the expected form in every error, ordering."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from image_release.core.tag_rules import evaluate, parse_flavor, parse_rules
from image_release.core.context import TAG, Context
from image_release.core.versions import (
    EXPECTED,
    Version,
    docker_tag,
    highest,
    is_prerelease,
    parse_tag_lenient,
    parse_version,
)
from image_release.errors import ReleaseError, VersionError


# -- good forms --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, want",
    [
        ("1.2.3", (1, 2, 3, None, None)),
        ("v1.2.3", (1, 2, 3, None, None)),
        ("v0.0.0", (0, 0, 0, None, None)),
        ("v10.20.30", (10, 20, 30, None, None)),
        ("v2.0.0-rc.1", (2, 0, 0, "rc.1", None)),
        ("v1.0.0-alpha", (1, 0, 0, "alpha", None)),
        ("v1.0.0-alpha.beta.1", (1, 0, 0, "alpha.beta.1", None)),
        ("v1.0.0-0.3.7", (1, 0, 0, "0.3.7", None)),
        ("v1.0.0-x-y-z.--", (1, 0, 0, "x-y-z.--", None)),
        ("v1.2.3+build.5", (1, 2, 3, None, "build.5")),
        ("1.2.3+20130313144700", (1, 2, 3, None, "20130313144700")),
        ("v1.0.0-beta+exp.sha.5114f85", (1, 0, 0, "beta", "exp.sha.5114f85")),
        ("v1.0.0+21AF26D3----117B344092BD", (1, 0, 0, None, "21AF26D3----117B344092BD")),
        ("v1.2.3+001", (1, 2, 3, None, "001")),  # leading zeros are fine in build metadata
        ("v1.2.3-rc.1+001", (1, 2, 3, "rc.1", "001")),
        ("v99999999999999999999.0.0", (99999999999999999999, 0, 0, None, None)),
    ],
)
def test_valid_versions_parse(text, want):
    v = parse_version(text)
    assert (v.major, v.minor, v.patch, v.prerelease, v.build) == want
    assert str(v) == text.removeprefix("v")
    assert parse_tag_lenient(text) == v


# -- bad forms: each names the problem and shows the expected form ----------------------------
BAD = [
    # (text, a phrase the message must contain)
    ("v1.2", "2 numbers, SemVer needs MAJOR.MINOR.PATCH"),
    ("1.2", "2 numbers"),
    ("v1", "1 number,"),
    ("1.2.3.4", "4 numbers, SemVer has exactly three"),
    ("v1.2.3.4-rc.1", "4 numbers"),
    ("v01.2.3", "leading zeros"),
    ("v1.02.3", "leading zeros"),
    ("v1.2.03", "leading zeros"),
    ("release-1", "is not a SemVer version tag"),
    ("release-1.2.3", "is not a SemVer version tag"),
    ("", "it is empty"),
    (" ", "it is empty"),
    ("\t\n", "it is empty"),
    (" v1.2.3", "whitespace"),
    ("v1.2.3 ", "whitespace"),
    ("v1.2.3\n", "whitespace"),
    ("v 1.2.3", "whitespace"),
    ("v1.2.3 -rc.1", "whitespace"),
    ("v1. 2.3", "whitespace"),
    ("v1.2.3-", "empty identifier"),
    ("v1.2.3+", "empty identifier"),
    ("v1.2.3-+build", "empty identifier"),
    ("v1.2.3-rc.+b", "empty identifier"),
    ("v1.2.3-rc..1", "empty identifier"),
    ("v1.2.3+b..1", "empty identifier"),
    ("v1.2.3-rc.1+", "empty identifier"),
    ("v1.2.3+a+b", "is not a SemVer version tag"),  # one '+' only
    ("v1.2.3-01", "is not a SemVer version tag"),  # numeric prerelease identifiers: no leading zero
    ("v1.2.3-rc_1", "is not a SemVer version tag"),  # '_' is not allowed
    ("v1.2.3+b_1", "is not a SemVer version tag"),
    ("V1.2.3", "lowercase v"),  # the tag rules (node-semver) do not accept 'V' either
    ("vv1.2.3", "is not a SemVer version tag"),
    ("=1.2.3", "is not a SemVer version tag"),
    ("-1.2.3", "is not a SemVer version tag"),
    ("v-1.2.3", "is not a SemVer version tag"),
    ("1.2.x", "is not a SemVer version tag"),
    ("latest", "is not a SemVer version tag"),
    ("refs/tags/v1.2.3", "is not a SemVer version tag"),
    ("\u0661.2.3", "is not a SemVer version tag"),  # an Arabic-Indic digit is not a SemVer digit
    ("v1.2.3-\u00fc", "is not a SemVer version tag"),
    ("v1.2.3\x00", "is not a SemVer version tag"),
]


@pytest.mark.parametrize("text, phrase", BAD)
def test_bad_forms_are_version_errors_with_the_expected_form(text, phrase):
    with pytest.raises(VersionError) as info:
        parse_version(text)
    err = info.value
    assert repr(text) in err.message
    assert phrase in err.message
    assert EXPECTED in err.hint and "v1.2.3" in err.hint
    # What the CLI prints (str) shows both the problem and the form.
    assert "vMAJOR.MINOR.PATCH" in str(err) and repr(text) in str(err)
    assert err.exit_code != 0
    assert parse_tag_lenient(text) is None


@pytest.mark.parametrize("value", [None, 123, 1.2, b"v1.2.3", ["v1.2.3"]])
def test_non_strings_are_version_errors(value):
    with pytest.raises(VersionError) as info:
        parse_version(value)
    assert EXPECTED in info.value.hint


# -- '+' build metadata ------------------------------------------------------------------------
def test_build_metadata_is_ignored_in_equality_and_ordering():
    a, b, plain = parse_version("v1.2.3+build.5"), parse_version("v1.2.3+build.6"), parse_version("1.2.3")
    assert a == b == plain
    assert len({a, b, plain}) == 1
    assert not a < plain and not plain < a
    assert highest([a, parse_version("1.2.2")]) == plain


def test_docker_tag_replaces_plus_with_dash():
    assert docker_tag(parse_version("v1.2.3+build.5")) == "1.2.3-build.5"
    assert docker_tag(parse_version("v1.2.3-rc.1+b")) == "1.2.3-rc.1-b"
    assert docker_tag(parse_version("v1.2.3")) == "1.2.3"
    assert "+" not in docker_tag(parse_version("1.0.0+21AF26D3----117B344092BD"))


def test_build_metadata_does_not_make_a_prerelease():
    assert not is_prerelease(parse_version("v1.2.3+build.5"))
    assert is_prerelease(parse_version("v1.2.3-rc.1+build.5"))


# -- ordering ----------------------------------------------------------------------------------
def test_semver_precedence_from_the_spec():
    # semver.org item 11, in ascending order
    chain = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
             "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1.0", "1.2.0", "1.10.0", "2.0.0-rc.1",
             "2.0.0", "10.0.0"]
    parsed = [parse_version("v" + t) for t in chain]
    assert sorted(reversed(parsed)) == parsed
    for lo, hi in zip(parsed, parsed[1:]):
        assert lo < hi, (lo, hi)


def test_numeric_not_lexical_ordering():
    assert parse_version("v1.10.0") > parse_version("v1.9.0")
    assert parse_version("v1.2.10") > parse_version("v1.2.9")
    assert parse_version("v2.0.0-rc.10") > parse_version("v2.0.0-rc.9")


@pytest.mark.parametrize(
    "tags, stable_only, want",
    [
        (["v1.2.0", "v1.10.0", "v1.9.9"], True, "1.10.0"),
        (["v1.2.0", "v2.0.0-rc.1"], True, "1.2.0"),
        (["v1.2.0", "v2.0.0-rc.1"], False, "2.0.0-rc.1"),
        (["v2.0.0-rc.1", "v2.0.0-rc.2"], True, None),
        (["v2.0.0-rc.1", "v2.0.0-rc.2"], False, "2.0.0-rc.2"),
        (["v2.0.0-rc.1", "v2.0.0"], True, "2.0.0"),
        ([], True, None),
        ([], False, None),
    ],
)
def test_highest(tags, stable_only, want):
    got = highest([parse_version(t) for t in tags], stable_only=stable_only)
    assert (str(got) if got else None) == want


def test_lenient_parse_sorts_out_tags_that_are_not_versions():
    tags = ["v1.2.3", "latest", "1.2", "v1.2.4-rc.1", "nightly-20240101", "1.2.5", "V1.2.6"]
    got = [v for v in map(parse_tag_lenient, tags) if v is not None]
    assert [str(v) for v in got] == ["1.2.3", "1.2.4-rc.1", "1.2.5"]


# -- properties --------------------------------------------------------------------------------
_num = st.one_of(st.integers(0, 20), st.integers(0, 2**64))
_alnum = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-"
_ident_alnum = st.text(_alnum, min_size=1, max_size=8).filter(lambda s: not s.isdigit())
_ident_num = st.integers(0, 10**6).map(str)
_pre = st.lists(st.one_of(_ident_alnum, _ident_num), min_size=1, max_size=4).map(".".join)
_build = st.lists(st.text(_alnum, min_size=1, max_size=8), min_size=1, max_size=4).map(".".join)


@st.composite
def semver_texts(draw):
    text = f"{draw(_num)}.{draw(_num)}.{draw(_num)}"
    if draw(st.booleans()):
        text += "-" + draw(_pre)
    if draw(st.booleans()):
        text += "+" + draw(_build)
    return text


@given(semver_texts(), st.booleans())
@example("0.0.0", True)
@example("1.0.0-0", False)
@example("1.0.0--", True)
def test_property_any_valid_semver_parses_and_round_trips(text, with_v):
    v = parse_version(("v" if with_v else "") + text)
    assert str(v) == text
    assert parse_version(str(v)) == v
    assert is_prerelease(v) == ("-" in text.split("+", 1)[0])
    tag = docker_tag(v)
    assert "+" not in tag
    assert tag == text.replace("+", "-")


@given(semver_texts())
def test_property_the_tag_rules_accept_what_parse_version_accepts(text):
    """A version tag this planner accepts must also be a version for the tag rules, else the plan
    would be a release that publishes nothing."""
    v = parse_version("v" + text)
    if max(v.major, v.minor, v.patch) > 2**53 - 1:
        return  # beyond node-semver's MAX_SAFE_INTEGER (metadata-action drops such tags too)
    ctx = Context(event=TAG, ref=f"refs/tags/v{text}", tag=f"v{text}")
    outs = evaluate(parse_rules(["type=semver,pattern={{version}}"]), parse_flavor(["latest=false"]), ctx)
    assert [o.value for o in outs] == [docker_tag(v.replace(build=None))]


@given(st.text(max_size=40))
@example("v1.2.3")
@example("V")
@example("v")
@example("1.2.3-+")
@example("0.0.0-0.0+0.0")
@example("1.2.3\u0000")
@example("\U0001f600.1.2")
def test_property_random_text_only_ever_raises_version_error(text):
    try:
        v = parse_version(text)
    except VersionError as e:
        assert e.hint and EXPECTED in e.hint
        assert isinstance(e, ReleaseError)
        assert parse_tag_lenient(text) is None
    else:
        assert isinstance(v, Version)
        assert text.removeprefix("v") == str(v)


@settings(max_examples=60)
@given(st.lists(semver_texts(), min_size=1, max_size=6))
def test_property_ordering_is_total_and_matches_semver(texts):
    vs = [parse_version(t) for t in texts]
    ordered = sorted(vs)
    for lo, hi in zip(ordered, ordered[1:]):
        assert lo <= hi
        assert lo.compare(hi) <= 0
    stable = [v for v in vs if not is_prerelease(v)]
    assert highest(vs) == (max(stable) if stable else None)


# -- registry tags -> versions (one definition for the plan, retention and GitLab's bulk delete) -----
import re  # noqa: E402

from image_release.core.versions import registry_tag_version, registry_versions, version_tag_regex  # noqa: E402


@pytest.mark.parametrize("tag, prefix, suffix, want", [
    ("1.2.0", "", "", "1.2.0"),
    ("2.0.0-rc.1", "", "", "2.0.0-rc.1"),
    ("1.2.3-b5", "", "", "1.2.3-b5"),  # a version with build metadata, as docker_tag writes it
    ("1.2.0-alpine", "", "", "1.2.0-alpine"),  # without the flavor, a prerelease
    ("1.2.0-alpine", "", "-alpine", "1.2.0"),  # with it, the release
    ("app-2.0.0-rc.1-alpine", "app-", "-alpine", "2.0.0-rc.1"),
    ("v1.2.0", "v", "", "1.2.0"),
    ("v1.2.0", "", "", None),  # a v is no part of a registry version tag
    ("1.2.0+b5", "", "", None),  # + is not allowed in a Docker tag
    ("1.2", "", "", None),
    ("latest", "", "", None),
    ("01.2.0", "", "", None),
    ("1.2.0-01", "", "", None),
    ("1.2.0", "", "-alpine", None),  # another flavor's tag
    ("app-1.2.0", "app-", "-alpine", None),
    ("-alpine", "", "-alpine", None),
    ("１.2.0", "", "", None),  # ASCII digits only
])
def test_registry_tag_version(tag, prefix, suffix, want):
    got = registry_tag_version(tag, prefix, suffix)
    assert (str(got) if got else None) == want
    assert (re.fullmatch(version_tag_regex(prefix, suffix), tag) is not None) == (want is not None)


def test_registry_versions_drop_what_is_not_a_version():
    tags = ["latest", "1.2.0-alpine", "1.2-alpine", "1.1.4-alpine", "1.9.0"]
    assert list(map(str, registry_versions(tags, "", "-alpine"))) == ["1.2.0", "1.1.4"]


def test_version_tag_regex_escapes_the_flavor():
    assert version_tag_regex("a.b+", "-x") == r"a\.b\+" + version_tag_regex() + r"\-x"
    assert re.fullmatch(version_tag_regex("a.b+"), "a.b+1.0.0")
    assert not re.fullmatch(version_tag_regex("a.b+"), "aXb+1.0.0")


_tag_chars = st.sampled_from(list("0123456789.-abvrc+") + ["alpine", "rc.1", "01"])


@settings(max_examples=400, deadline=None)
@given(st.lists(_tag_chars, max_size=12).map("".join), st.sampled_from([("", ""), ("app-", ""), ("", "-alpine"), ("v", "-x")]))
@example("1.2.3-alpha.1-alpine", ("", "-alpine"))
def test_property_the_regex_and_the_function_are_one_definition(body, affixes):
    prefix, suffix = affixes
    tag = prefix + body + suffix
    parsed = registry_tag_version(tag, prefix, suffix)
    assert (re.fullmatch(version_tag_regex(prefix, suffix), tag) is not None) == (parsed is not None)
    if parsed is not None:
        assert prefix + docker_tag(parsed) + suffix == tag  # the form a release writes, exactly
