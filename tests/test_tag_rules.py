"""Tag rules in docker/metadata-action syntax.

Table rows marked "README" come from docker/metadata-action's README (v5), the section named in the
comment; rows marked "meta.test.ts" from its test suite (__tests__/meta.test.ts, case name given).
The contexts mirror the README's: sha 860c1904..., default branch master, 2020-01-10T00:30:00Z.
"""

from __future__ import annotations

import string
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from image_release.core.context import BRANCH, PR, SCHEDULE, TAG, Context
from image_release.core.default_rules import DEFAULT_FLAVOR, DEFAULT_TAG_RULES, METADATA_ACTION_DEFAULT_TAGS
from image_release.core.tag_rules import (
    DEFAULT_PRIORITIES,
    Flavor,
    Rule,
    TagOutput,
    evaluate,
    format_moment,
    is_valid_docker_tag,
    parse_flavor,
    parse_rules,
    render_template,
    sanitize_tag,
)
from image_release.errors import RuleError

SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"
T0 = datetime(2020, 1, 10, 0, 30, tzinfo=timezone.utc)


def tag_ctx(tag: str, **kw) -> Context:
    kw.setdefault("sha", SHA)
    kw.setdefault("default_branch", "master")
    kw.setdefault("timestamp", T0)
    return Context(event=TAG, ref=f"refs/tags/{tag}", tag=tag, **kw)


def branch_ctx(branch: str, **kw) -> Context:
    kw.setdefault("sha", SHA)
    kw.setdefault("default_branch", "master")
    kw.setdefault("timestamp", T0)
    return Context(event=BRANCH, ref=f"refs/heads/{branch}", branch=branch, **kw)


def pr_ctx(number: int, **kw) -> Context:
    kw.setdefault("sha", SHA)
    kw.setdefault("default_branch", "master")
    kw.setdefault("timestamp", T0)
    kw.setdefault("base_ref", "master")
    return Context(event=PR, ref=f"refs/pull/{number}/merge", pr_number=number, branch="feature", **kw)


def schedule_ctx(**kw) -> Context:
    kw.setdefault("sha", SHA)
    kw.setdefault("default_branch", "master")
    kw.setdefault("timestamp", T0)
    return Context(event=SCHEDULE, ref="refs/heads/master", branch="master", **kw)


def tags(rules, ctx, flavor=()) -> list[str]:
    return [o.value for o in evaluate(parse_rules(list(rules)), parse_flavor(list(flavor)), ctx)]


# ---------------------------------------------------------------------------------------------
# README "Usage > Basic": no tags input, so metadata-action's default entries.

@pytest.mark.parametrize(
    "ctx, expected",
    [
        (pr_ctx(2), ["pr-2"]),
        (branch_ctx("master"), ["master"]),
        (branch_ctx("releases/v1"), ["releases-v1"]),
        (tag_ctx("v1.2.3"), ["v1.2.3", "latest"]),
        (tag_ctx("v2.0.8-beta.67"), ["v2.0.8-beta.67", "latest"]),
    ],
)
def test_readme_basic(ctx, expected):
    assert tags(METADATA_ACTION_DEFAULT_TAGS, ctx) == expected


# README "Usage > Semver".
SEMVER_USAGE = ["type=ref,event=branch", "type=ref,event=pr", "type=semver,pattern={{version}}",
                "type=semver,pattern={{major}}.{{minor}}"]


@pytest.mark.parametrize(
    "ctx, expected",
    [
        (pr_ctx(2), ["pr-2"]),
        (branch_ctx("master"), ["master"]),
        (branch_ctx("releases/v1"), ["releases-v1"]),
        (tag_ctx("v1.2.3"), ["1.2.3", "1.2", "latest"]),
        (tag_ctx("v2.0.8-beta.67"), ["2.0.8-beta.67"]),
    ],
)
def test_readme_semver_usage(ctx, expected):
    assert tags(SEMVER_USAGE, ctx) == expected


def test_readme_bake_definition():
    # README "Usage > Bake definition": refs/tags/v1.2.3 with sha 90dd603...
    rules = SEMVER_USAGE + ["type=sha"]
    ctx = tag_ctx("v1.2.3", sha="90dd6032fac8bda1b6c4436a2e65de27961ed071")
    assert tags(rules, ctx) == ["1.2.3", "1.2", "sha-90dd603", "latest"]


# ---------------------------------------------------------------------------------------------
# type=schedule (README "type=schedule")

@pytest.mark.parametrize(
    "rule, expected",
    [
        ("type=schedule", ["nightly"]),
        ("type=schedule,pattern=nightly", ["nightly"]),
        ("type=schedule,pattern={{date 'YYYYMMDD'}}", ["20200110"]),
        ("type=schedule,pattern={{date 'YYYYMMDD-HHmmss' tz='Asia/Tokyo'}}", ["20200110-093000"]),
        ("type=schedule,pattern={{commit_date 'YYYYMMDD'}}", ["20200110"]),
        ("type=schedule,enable=true,priority=1000,prefix=,suffix=,pattern=nightly", ["nightly"]),
    ],
)
def test_schedule(rule, expected):
    assert tags([rule], schedule_ctx()) == expected


@pytest.mark.parametrize("ctx", [tag_ctx("v1.2.3"), branch_ctx("master"), pr_ctx(2)])
def test_schedule_only_on_schedule_events(ctx):
    assert tags(["type=schedule"], ctx) == []


def test_schedule_gets_no_latest_under_auto():
    assert tags(["type=schedule"], schedule_ctx()) == ["nightly"]
    assert tags(["type=schedule"], schedule_ctx(), ["latest=true"]) == ["nightly", "latest"]


# ---------------------------------------------------------------------------------------------
# type=semver (README "type=semver" table)

@pytest.mark.parametrize(
    "tag, pattern, expected",
    [
        ("v1.2.3", "{{raw}}", "v1.2.3"),
        ("v1.2.3", "{{version}}", "1.2.3"),
        ("v1.2.3", "{{major}}.{{minor}}", "1.2"),
        ("v1.2.3", "v{{major}}", "v1"),
        ("v1.2.3", "{{minor}}", "2"),
        ("v1.2.3", "{{patch}}", "3"),
        ("v2.0.8-beta.67", "{{raw}}", "v2.0.8-beta.67"),
        ("v2.0.8-beta.67", "{{version}}", "2.0.8-beta.67"),
        ("v2.0.8-beta.67", "{{major}}.{{minor}}", "2.0.8-beta.67"),
    ],
)
def test_readme_semver_table(tag, pattern, expected):
    assert tags([f"type=semver,pattern={pattern}"], tag_ctx(tag), ["latest=false"]) == [expected]


def test_semver_prerelease_collapses_and_gets_no_latest():
    # meta.test.ts tag13: {{major}}.{{minor}} and {{major}} both collapse to the version, deduplicated.
    rules = ["type=semver,pattern={{major}}.{{minor}}", "type=semver,pattern={{major}}"]
    assert tags(rules, tag_ctx("v2.0.8-beta.67")) == ["2.0.8-beta.67"]
    # the collapse keeps prefix/suffix, and v-prefixed patterns collapse too
    assert tags(["type=semver,pattern=v{{major}},suffix=-x"], tag_ctx("v2.0.8-beta.67")) == ["2.0.8-beta.67-x"]
    # only exactly {{raw}} survives (meta.test.ts tag31)
    assert tags(["type=semver,pattern={{raw}}"], tag_ctx("v2.0.8-beta.67")) == ["v2.0.8-beta.67"]
    assert tags(["type=semver,pattern={{ raw }}"], tag_ctx("v2.0.8-beta.67")) == ["v2.0.8-beta.67"]
    assert tags(["type=semver,pattern=x{{raw}}"], tag_ctx("v2.0.8-beta.67")) == ["2.0.8-beta.67"]


def test_semver_major_zero():
    # README "Major version zero": {{major}} of v0.1.2 is 0 (disabling it is the user's, or the planner's, job).
    rules = ["type=semver,pattern={{version}}", "type=semver,pattern={{major}}.{{minor}}",
             "type=semver,pattern={{major}}"]
    assert tags(rules, tag_ctx("v0.1.2")) == ["0.1.2", "0.1", "0", "latest"]
    assert tags(rules[:2] + ["type=semver,pattern={{major}},enable=false"], tag_ctx("v0.1.2")) == ["0.1.2", "0.1", "latest"]


@pytest.mark.parametrize("tag", ["sometag", "v1.2", "1.2.3.4", "v01.2.3", "release-1", "V1.2.3", "p1/v1.2.3"])
def test_semver_non_semver_tag_yields_nothing(tag):
    # meta.test.ts tag14: with type=ref,event=tag alongside, only the ref tag comes out.
    assert tags(["type=semver,pattern={{version}}"], tag_ctx(tag)) == []
    assert tags(["type=ref,event=tag", "type=semver,pattern={{version}}"], tag_ctx(tag), ["latest=false"]) == [
        sanitize_tag(tag)
    ]


def test_semver_only_on_tags_unless_value():
    assert tags(["type=semver,pattern={{version}}"], branch_ctx("master")) == []
    # README: "use custom value instead of git tag"
    assert tags(["type=semver,pattern={{version}},value=v1.0.0"], branch_ctx("master")) == ["1.0.0", "latest"]
    assert tags(["type=semver,pattern={{major}},value={{branch}}"], branch_ctx("master")) == []


def test_semver_build_metadata():
    # node-semver's {{version}} drops build metadata; {{raw}} keeps it, and "+" is sanitized to "-".
    assert tags(["type=semver,pattern={{version}}"], tag_ctx("v1.2.3+build.5")) == ["1.2.3", "latest"]
    assert tags(["type=semver,pattern={{raw}}"], tag_ctx("v1.2.3+build.5")) == ["v1.2.3-build.5", "latest"]


def test_semver_unprefixed_tag():
    assert tags(["type=semver,pattern={{version}}"], tag_ctx("1.2.3")) == ["1.2.3", "latest"]


# ---------------------------------------------------------------------------------------------
# type=pep440 (README "type=pep440" table; meta.test.ts tag23-tag32)

@pytest.mark.parametrize(
    "tag, pattern, expected",
    [
        ("1.2.3", "{{raw}}", "1.2.3"),
        ("1.2.3", "{{version}}", "1.2.3"),
        ("v1.2.3", "{{version}}", "1.2.3"),
        ("1.2.3", "{{major}}.{{minor}}", "1.2"),
        ("1.2.3", "v{{major}}", "v1"),
        ("v1.2.3rc2", "{{raw}}", "v1.2.3rc2"),
        ("1.2.3rc2", "{{version}}", "1.2.3rc2"),
        ("1.2.3rc2", "{{major}}.{{minor}}", "1.2.3rc2"),
        ("1.2.3post1", "{{major}}.{{minor}}", "1.2.3.post1"),
        ("1.2.3beta2", "{{major}}.{{minor}}", "1.2.3b2"),
        ("1.0dev4", "{{major}}.{{minor}}", "1.0.dev4"),
    ],
)
def test_readme_pep440_table(tag, pattern, expected):
    assert tags([f"type=pep440,pattern={pattern}"], tag_ctx(tag), ["latest=false"]) == [expected]


@pytest.mark.parametrize(
    "tag, rules, expected",
    [
        ("v1.1.1", ["{{raw}}", "{{major}}.{{minor}}"], ["v1.1.1", "1.1", "latest"]),  # tag23
        ("1.2", ["{{version}}", "{{major}}.{{minor}}"], ["1.2", "latest"]),  # tag24
        ("1.1beta2", ["{{major}}.{{minor}}", "{{major}}"], ["1.1b2"]),  # tag25
        ("1.0dev4", ["{{major}}.{{minor}}", "{{major}}"], ["1.0.dev4"]),  # tag26
        ("1.2.3rc2", ["{{raw}}", "{{version}}", "{{major}}.{{minor}}", "{{major}}"], ["1.2.3rc2"]),  # tag27
        ("1.2post1", ["{{version}}", "{{major}}.{{minor}}", "{{major}}"], ["1.2.post1"]),  # tag29
        ("v1.2.3rc2", ["{{raw}}", "{{major}}.{{minor}}"], ["v1.2.3rc2", "1.2.3rc2"]),  # tag32
        ("sometag", ["{{version}}"], []),
        ("1!2.0", ["{{major}}"], ["2", "latest"]),
        ("1.2.3+local.7", ["{{version}}"], ["1.2.3-local.7", "latest"]),
    ],
)
def test_pep440_meta_tests(tag, rules, expected):
    assert tags([f"type=pep440,pattern={p}" for p in rules], tag_ctx(tag)) == expected


def test_pep440_value_and_branch():
    assert tags(["type=pep440,pattern={{version}}"], branch_ctx("master")) == []
    assert tags(["type=pep440,pattern={{version}},value=1.0.0"], branch_ctx("master")) == ["1.0.0", "latest"]


# ---------------------------------------------------------------------------------------------
# type=match (README "type=match" table; meta.test.ts tag05-tag10, tag17, tag18)

@pytest.mark.parametrize(
    "tag, pattern, group, expected",
    [
        ("v1.2.3", r"\d.\d.\d", "0", "1.2.3"),
        ("v2.0.8-beta.67", "v(.*)", "1", "2.0.8-beta.67"),
        ("v2.0.8-beta.67", r"v(\d.\d)", "1", "2.0"),
        ("20200110-RC2", r"\d+", "0", "20200110"),
        ("p1/v1.2.3", r"p1/v(\d.\d.\d)", "1", "1.2.3"),
    ],
)
def test_readme_match_table(tag, pattern, group, expected):
    assert tags([f'type=match,"pattern={pattern}",group={group}'], tag_ctx(tag)) == [expected, "latest"]


@pytest.mark.parametrize(
    "tag, rules, expected",
    [
        ("v1.1.1", [r'type=match,"pattern=^v(\d.\d.\d)$",group=1'], ["1.1.1", "latest"]),  # tag06
        ("v2.0.8-beta.67", [r'type=match,"pattern=\d.\d.\d-(alpha|beta).\d+"'], ["2.0.8-beta.67", "latest"]),  # tag07
        ("v2.0.8-beta.67", [r"type=match,pattern=v(.*)-beta.(.*),group=1",
                            r"type=match,pattern=v(.*)-beta.(.*),group=2"], ["2.0.8", "67", "latest"]),  # tag09
        ("sometag", [r"type=match,pattern=\d.\d"], []),  # tag10
        # tag17: with JS's g flag String.match returns whole matches, so group=1 is the second match.
        ("p1/v1.0.0", [r'type=match,"pattern=/^v(\d.\d.\d)$/ig",group=1', r"type=match,pattern=\d.\d.\d",
                       r"type=match,pattern=\d.\d", "type=ref,event=pr", "type=sha"],
         ["1.0.0", "1.0", "sha-860c190", "latest"]),
        ("v1.2.3", [r"type=match,pattern=/V(\d)/i,group=1"], ["1", "latest"]),
        ("v1.2.3", [r"type=match,pattern=/\d/g,group=2"], ["3", "latest"]),
        ("v1.2.3", [r"type=match,pattern=(?<maj>\d)\.(?<min>\d),group=2"], ["2", "latest"]),
        ("v1.2.3", [r"type=match,pattern=v(\d)|x(\d),group=2"], []),  # group did not take part
        ("v1.2.3", [r"type=match,pattern=v(\d+),group=1,prefix=m"], ["m1", "latest"]),
    ],
)
def test_match_meta_tests(tag, rules, expected):
    assert tags(rules, tag_ctx(tag)) == expected


def test_match_value_and_non_tag():
    assert tags([r"type=match,pattern=\d+"], branch_ctx("master")) == []
    # README: "use custom value instead of git tag"
    assert tags([r"type=match,pattern=v(.*),group=1,value=v1.0.0"], branch_ctx("master")) == ["1.0.0", "latest"]


def test_match_gets_latest_even_on_a_prerelease():
    # metadata-action's "latest" for type=match does not look at the version.
    assert tags(["type=match,pattern=v(.*),group=1"], tag_ctx("v2.0.0-rc.1")) == ["2.0.0-rc.1", "latest"]


# ---------------------------------------------------------------------------------------------
# type=edge (README "type=edge")

@pytest.mark.parametrize(
    "rule, ctx, expected",
    [
        ("type=edge", branch_ctx("master"), ["edge"]),
        ("type=edge", branch_ctx("dev"), []),
        ("type=edge,branch=main", branch_ctx("main"), ["edge"]),
        ("type=edge,branch=main", branch_ctx("master"), []),
        ("type=edge", tag_ctx("v1.2.3"), []),
        ("type=edge", pr_ctx(2), []),
        ("type=edge", branch_ctx("master", default_branch=None), []),
        ("type=edge,enable=true,priority=700,prefix=,suffix=,branch=master", branch_ctx("master"), ["edge"]),
    ],
)
def test_edge(rule, ctx, expected):
    assert tags([rule], ctx) == expected


# ---------------------------------------------------------------------------------------------
# type=ref (README "type=ref" table; workflow_dispatch is a branch context here)

@pytest.mark.parametrize(
    "ctx, expected",
    [
        (pr_ctx(2), "pr-2"),
        (branch_ctx("master"), "master"),
        (branch_ctx("my/branch"), "my-branch"),
        (tag_ctx("v1.2.3"), "v1.2.3"),
        (tag_ctx("v2.0.8-beta.67"), "v2.0.8-beta.67"),
    ],
)
def test_readme_ref_table(ctx, expected):
    rules = ["type=ref,event=branch", "type=ref,event=tag", "type=ref,event=pr"]
    assert tags(rules, ctx, ["latest=false"]) == [expected]


def test_ref_pr_from_ref_without_number():
    ctx = Context(event=PR, ref="refs/pull/318/merge", sha=SHA)
    assert tags(["type=ref,event=pr"], ctx) == ["pr-318"]


def test_ref_pr_gitlab_merge_request():
    ctx = Context(event=PR, ref="refs/merge-requests/7/head", pr_number=7, sha=SHA, source="gitlab")
    assert tags(["type=ref,event=pr"], ctx) == ["pr-7"]
    assert tags(["type=ref,event=pr,prefix=mr-"], ctx) == ["mr-7"]


def test_ref_branch_on_schedule_and_detached_head():
    assert tags(["type=ref,event=branch"], schedule_ctx()) == ["master"]
    detached = Context(event=BRANCH, ref="HEAD", sha=SHA)
    assert tags(["type=ref,event=branch", "type=sha"], detached) == ["sha-860c190"]


def test_ref_tag_latest_auto():
    assert tags(["type=ref,event=tag"], tag_ctx("anything")) == ["anything", "latest"]


# ---------------------------------------------------------------------------------------------
# type=raw (README "type=raw": the three spellings)

@pytest.mark.parametrize(
    "rules",
    [["type=raw,value=foo", "type=raw,value=bar"], ["type=raw,foo", "type=raw,bar"], ["foo", "bar"],
     ["type=raw,enable=true,priority=200,prefix=,suffix=,value=foo", "bar"]],
)
def test_raw_spellings(rules):
    for ctx in (tag_ctx("v1.2.3"), branch_ctx("dev"), pr_ctx(3)):
        assert tags(rules, ctx) == ["foo", "bar"]


def test_raw_expressions_meta_tag20():
    # meta.test.ts tag20 (base_ref comes from the push payload there; here from the context).
    rules = ["type=raw,{{tag}}-{{sha}}-foo", "type=raw,{{base_ref}}-foo",
             "type=raw,defbranch-foo,enable={{is_default_branch}}"]
    assert tags(rules, tag_ctx("v1.1.1", base_ref="refs/heads/master")) == ["v1.1.1-860c190-foo", "master-foo"]


def test_raw_value_that_renders_empty_yields_nothing():
    assert tags(["type=raw,value={{branch}}"], tag_ctx("v1.2.3")) == []
    assert tags(["type=raw,value={{branch}}"], branch_ctx("dev")) == ["dev"]


# ---------------------------------------------------------------------------------------------
# type=sha (README "type=sha")

@pytest.mark.parametrize(
    "rule, expected",
    [
        ("type=sha", "sha-860c190"),
        ("type=sha,format=short", "sha-860c190"),
        ("type=sha,format=long", f"sha-{SHA}"),
        ("type=sha,prefix=", "860c190"),
        ("type=sha,prefix={{branch}}-", "dev-860c190"),
        ("type=sha,suffix=-x", "sha-860c190-x"),
        ("type=sha,enable=true,priority=100,prefix=sha-,suffix=,format=short", "sha-860c190"),
    ],
)
def test_sha(rule, expected):
    assert tags([rule], branch_ctx("dev")) == [expected]


def test_sha_without_sha_yields_nothing():
    assert tags(["type=sha"], branch_ctx("dev", sha="")) == []


# ---------------------------------------------------------------------------------------------
# Latest tag (README "Notes > Latest tag")

@pytest.mark.parametrize(
    "rule, ctx, latest",
    [
        ("type=ref,event=tag", tag_ctx("v1.2.3"), True),
        ("type=semver,pattern={{version}}", tag_ctx("v1.2.3"), True),
        ("type=pep440,pattern={{version}}", tag_ctx("1.2.3"), True),
        ("type=match,pattern=\\d", tag_ctx("v1.2.3"), True),
        ("type=semver,pattern={{version}}", tag_ctx("v1.2.3-rc.1"), False),
        ("type=pep440,pattern={{version}}", tag_ctx("1.2.3rc1"), False),
        ("type=ref,event=branch", branch_ctx("master"), False),
        ("type=ref,event=pr", pr_ctx(2), False),
        ("type=edge", branch_ctx("master"), False),
        ("type=raw,value=foo", tag_ctx("v1.2.3"), False),
        ("type=sha", tag_ctx("v1.2.3"), False),
        ("type=schedule", schedule_ctx(), False),
    ],
)
def test_latest_auto(rule, ctx, latest):
    out = evaluate(parse_rules([rule]), Flavor(), ctx)
    assert ("latest" in [o.value for o in out]) is latest


def test_latest_decided_by_first_rule_that_yields():
    # raw has a higher priority here, so it decides: no latest (meta.test.ts tag15/tag16).
    rules = ["type=raw,priority=2000,foo", "type=semver,pattern={{version}}", 'type=match,"pattern=\\d.\\d"']
    assert tags(rules, tag_ctx("v2.0.8-beta.67")) == ["foo", "2.0.8-beta.67", "2.0"]
    rules = ["type=raw,priority=2000,foo", "type=ref,event=tag", "type=edge"]
    assert tags(rules, tag_ctx("v1.1.1")) == ["foo", "v1.1.1"]
    # a disabled or empty higher-priority rule does not decide
    rules = ["type=raw,priority=2000,foo,enable=false", "type=semver,pattern={{version}}"]
    assert tags(rules, tag_ctx("v1.1.1")) == ["1.1.1", "latest"]


def test_latest_true_and_false():
    assert tags(["type=ref,event=branch"], branch_ctx("dev"), ["latest=true"]) == ["dev", "latest"]
    assert tags(["type=semver,pattern={{version}}"], tag_ctx("v1.2.3"), ["latest=false"]) == ["1.2.3"]
    # latest=true still needs one tag: nothing at all gives nothing
    assert tags(["type=semver,pattern={{version}}"], branch_ctx("dev"), ["latest=true"]) == []


def test_latest_is_marked_and_deduplicated():
    out = evaluate(parse_rules(["type=raw,value=latest", "type=raw,value=x"]), parse_flavor(["latest=true"]),
                   branch_ctx("master"))
    assert out == (
        TagOutput("latest", out[0].rule, True),
        TagOutput("x", out[1].rule, False),
    )
    assert out[0].rule.type == "raw"
    out = evaluate(parse_rules(["type=semver,pattern={{version}}"]), Flavor(), tag_ctx("v1.2.3"))
    assert out[-1] == TagOutput("latest", None, True)
    assert out[0].rule is not None and out[0].rule.lineno == 1 and not out[0].is_latest


# ---------------------------------------------------------------------------------------------
# Flavor prefix/suffix (README "flavor input"; meta.test.ts tag19, tag21, tag22)

def test_flavor_suffix_tag19():
    rules = [r"type=match,pattern=p1/v(\d.\d.\d),group=1", r"type=match,pattern=p1/v(\d.\d),group=1,suffix=",
             "type=ref,event=pr", "type=sha"]
    assert tags(rules, tag_ctx("p1/v1.0.0"), ["suffix=-dev"]) == ["1.0.0-dev", "1.0", "sha-860c190-dev", "latest"]


def test_flavor_onlatest_tag21_tag22():
    rules = ["type=semver,pattern={{version}}", "type=semver,pattern={{major}}.{{minor}}.{{patch}}"]
    assert tags(rules, tag_ctx("v1.1.1"), ["suffix=-dev,onlatest=true"]) == ["1.1.1-dev", "latest-dev"]
    assert tags(rules, tag_ctx("v1.1.1"), ["prefix=foo-,onlatest=true", "suffix=-dev,onlatest=true"]) == [
        "foo-1.1.1-dev", "foo-latest-dev"]
    assert tags(rules, tag_ctx("v1.1.1"), ["prefix=foo-", "suffix=-dev"]) == ["foo-1.1.1-dev", "latest"]
    assert tags(rules, tag_ctx("v1.1.1"), ["prefix=foo-,onlatest=false"]) == ["foo-1.1.1", "latest"]


def test_flavor_prefix_does_not_reach_types_with_their_own_prefix():
    # sha and ref,event=pr carry a default prefix attribute, which wins over the flavor's.
    assert tags(["type=sha"], branch_ctx("dev"), ["prefix=app-"]) == ["sha-860c190"]
    assert tags(["type=ref,event=pr"], pr_ctx(4), ["prefix=app-"]) == ["pr-4"]
    assert tags(["type=ref,event=branch"], branch_ctx("dev"), ["prefix=app-"]) == ["app-dev"]
    # an explicit empty prefix removes the flavor's
    assert tags(["type=raw,value=x,prefix="], branch_ctx("dev"), ["prefix=app-"]) == ["x"]


def test_flavor_expressions():
    assert tags(["type=raw,value=x"], branch_ctx("dev"), ["prefix={{branch}}-"]) == ["dev-x"]
    assert tags(["type=raw,value=x"], branch_ctx("dev"), ["prefix={{branch}}-,onlatest=true", "latest=true"]) == [
        "dev-x", "dev-latest"]


def test_parse_flavor_fields():
    assert parse_flavor([]) == Flavor()
    assert parse_flavor(["latest=auto", "prefix=", "suffix="]) == Flavor()
    assert parse_flavor(["latest=false,prefix=a-,onlatest=true", "suffix=-b, onlatest=true", "# c", ""]) == Flavor(
        "false", "a-", True, "-b", True)
    assert parse_flavor("latest=true\nprefix=p") == Flavor("true", "p")


# ---------------------------------------------------------------------------------------------
# Priority (README "Notes > priority attribute")

def test_default_priorities_match_readme():
    assert dict(DEFAULT_PRIORITIES) == {"schedule": 1000, "semver": 900, "pep440": 900, "match": 800, "edge": 700,
                                        "ref": 600, "raw": 200, "sha": 100}
    rules = parse_rules([f"type={t}" + {"semver": ",pattern=x", "pep440": ",pattern=x", "match": ",pattern=x",
                                         "ref": ",event=tag", "raw": ",value=x"}.get(t, "")
                         for t in DEFAULT_PRIORITIES])
    assert [r.priority for r in rules] == list(DEFAULT_PRIORITIES.values())


def test_priority_orders_output_and_ties_keep_input_order():
    rules = ["type=sha", "type=raw,value=b", "type=raw,value=a", "type=ref,event=tag",
             "type=semver,pattern={{major}}", "type=raw,value=top,priority=5000", "type=raw,value=neg,priority=-1"]
    assert tags(rules, tag_ctx("v3.1.4")) == ["top", "3", "v3.1.4", "b", "a", "sha-860c190", "neg"]


def test_version_rule_first_by_priority_decides_main():
    rules = ["type=sha,priority=1001", "type=semver,pattern={{version}}"]
    assert tags(rules, tag_ctx("v1.0.0")) == ["sha-860c190", "1.0.0"]


# ---------------------------------------------------------------------------------------------
# Global expressions (README "Notes > Global expressions")

@pytest.mark.parametrize(
    "ctx, branch, tag",
    [
        (pr_ctx(2), "", ""),
        (branch_ctx("master"), "master", ""),
        (branch_ctx("my/branch"), "my/branch", ""),
        (tag_ctx("v1.2.3"), "", "v1.2.3"),
    ],
)
def test_branch_and_tag_expressions(ctx, branch, tag):
    assert render_template("{{branch}}", ctx) == branch
    assert render_template("{{tag}}", ctx) == tag


def test_branch_expression_is_sanitized_in_tags():
    assert tags(["type=raw,value={{branch}}"], branch_ctx("my/branch")) == ["my-branch"]


@pytest.mark.parametrize(
    "ctx, expected",
    [
        (pr_ctx(2, base_ref="master"), "master"),
        (branch_ctx("master", base_ref="x"), ""),
        (branch_ctx("my/branch"), ""),
        (tag_ctx("v1.2.3", base_ref="refs/heads/master"), "master"),
        (tag_ctx("v1.2.3"), ""),
    ],
)
def test_base_ref(ctx, expected):
    assert render_template("{{base_ref}}", ctx) == expected


def test_sha_expression_is_short():
    assert render_template("{{sha}}", tag_ctx("v1")) == "860c190"


@pytest.mark.parametrize(
    "ctx, is_default",
    [
        (branch_ctx("master"), True),
        (branch_ctx("dev"), False),
        (branch_ctx("master", default_branch=None), False),
        (tag_ctx("v1.2.3"), False),
        (pr_ctx(2), False),
        (schedule_ctx(), True),
        (Context(event=BRANCH, ref="HEAD", default_branch="master"), False),
    ],
)
def test_is_default_branch(ctx, is_default):
    assert render_template("{{is_default_branch}}", ctx) == ("true" if is_default else "false")
    assert render_template("{{is_not_default_branch}}", ctx) == ("false" if is_default else "true")
    assert tags(["type=raw,value=latest,enable={{is_default_branch}}"], ctx) == (["latest"] if is_default else [])
    assert tags(["type=raw,value=x,enable={{is_not_default_branch}}"], ctx) == ([] if is_default else ["x"])


@pytest.mark.parametrize(
    "expr, expected",
    [
        ("{{date 'YYYYMMDD'}}", "20200110"),
        ("{{date 'dddd, MMMM Do YYYY, h:mm:ss a'}}", "Friday, January 10th 2020, 3:25:50 pm"),
        ("{{date 'YYYYMMDD-HHmmss' tz='Asia/Tokyo'}}", "20200111-002550"),
        ('{{date "YYYY-MM-DD"}}', "2020-01-10"),
        ("{{date 'YYYY-MM-DDTHH:mm:ss.SSS[Z]'}}", "2020-01-10T15:25:50.123Z"),
        ("{{date 'YYYYMMDD' tz='utc'}}", "20200110"),
        ("{{date 'HH:mm Z' tz='america/new_york'}}", "10:25 -05:00"),
    ],
)
def test_date_expressions(expr, expected):
    ctx = branch_ctx("dev", timestamp=datetime(2020, 1, 10, 15, 25, 50, 123456, tzinfo=timezone.utc))
    assert render_template(expr, ctx) == expected


def test_date_readme_rows():
    # README "{{date '<format>' tz='<timezone>'}}": 2020-01-10T00:30:00Z
    ctx = branch_ctx("dev")
    assert render_template("{{date 'YYYYMMDD'}}", ctx) == "20200110"
    assert render_template("{{date 'YYYYMMDD-HHmmss' tz='Asia/Tokyo'}}", ctx) == "20200110-093000"


def test_commit_date_and_fallback():
    committed = datetime(2019, 12, 31, 23, 0, tzinfo=timezone.utc)
    assert render_template("{{commit_date 'YYYYMMDD'}}", branch_ctx("dev", commit_date=committed)) == "20191231"
    assert render_template("{{commit_date 'YYYYMMDD' tz='Asia/Tokyo'}}",
                           branch_ctx("dev", commit_date=committed)) == "20200101"
    assert render_template("{{commit_date 'YYYYMMDD'}}", branch_ctx("dev")) == "20200110"  # falls back to the date
    assert render_template(
        "org.opencontainers.image.created={{commit_date 'YYYY-MM-DDTHH:mm:ss.SSS[Z]'}}",
        branch_ctx("dev", commit_date=committed),
    ) == "org.opencontainers.image.created=2019-12-31T23:00:00.000Z"


def test_naive_timestamp_is_utc():
    ctx = branch_ctx("dev", timestamp=datetime(2020, 1, 10, 0, 30))
    assert render_template("{{date 'HHmm'}}", ctx) == "0030"


def test_date_in_raw_value_and_prefix():
    assert tags(["type=raw,value=nightly-{{date 'YYYYMMDD'}}"], branch_ctx("dev")) == ["nightly-20200110"]
    assert tags(["type=sha,prefix={{date 'YYMMDD'}}-"], branch_ctx("dev")) == ["200110-860c190"]


# moment.js format tokens (momentjs.com/docs/#/displaying/format/), locale en.
MOMENT_AT = datetime(2021, 3, 7, 14, 5, 9, 45000, tzinfo=timezone.utc)  # a Sunday


@pytest.mark.parametrize(
    "fmt, expected",
    [
        ("M MM Mo MMM MMMM", "3 03 3rd Mar March"),
        ("Q Qo", "1 1st"),
        ("D DD Do", "7 07 7th"),
        ("DDD DDDD DDDo", "66 066 66th"),
        ("d do dd ddd dddd", "0 0th Su Sun Sunday"),
        ("e E", "0 7"),
        ("w wo ww", "11 11th 11"),
        ("W Wo WW", "9 9th 09"),
        ("YY YYYY Y", "21 2021 2021"),
        ("YYYYYY", "+002021"),
        ("gg gggg GG GGGG", "21 2021 21 2021"),
        ("A a", "PM pm"),
        ("H HH h hh k kk", "14 14 2 02 14 14"),
        ("m mm s ss", "5 05 9 09"),
        ("S SS SSS SSSS", "0 04 045 0450"),
        ("Z ZZ", "+00:00 +0000"),
        ("X", "1615125909"),
        ("x", "1615125909045"),
        ("[Today is] dddd", "Today is Sunday"),
        ("YYYY-MM-DDTHH:mm:ss", "2021-03-07T14:05:09"),
        (r"\Y\Y YYYY", "YY 2021"),
        ("Hmm hmmss", "1405 20509"),
        ("L", "03/07/2021"),
        ("LL", "March 7, 2021"),
        ("LTS", "2:05:09 PM"),
        ("llll", "Sun, Mar 7, 2021 2:05 PM"),
        ("N NNNN", "AD Anno Domini"),
        ("zz", "UTC"),
    ],
)
def test_moment_tokens(fmt, expected):
    assert format_moment(MOMENT_AT, fmt) == expected


@pytest.mark.parametrize(
    "day, ordinal",
    [(1, "1st"), (2, "2nd"), (3, "3rd"), (4, "4th"), (11, "11th"), (12, "12th"), (13, "13th"), (21, "21st"),
     (22, "22nd"), (23, "23rd"), (31, "31st")],
)
def test_moment_ordinals(day, ordinal):
    assert format_moment(datetime(2021, 1, day, tzinfo=timezone.utc), "Do") == ordinal


@pytest.mark.parametrize(
    "when, w, gggg, W, GGGG",
    [
        (datetime(2021, 1, 1), 1, 2021, 53, 2020),  # Friday: ISO week belongs to 2020
        (datetime(2020, 12, 27), 1, 2021, 52, 2020),  # Sunday: en week 1 of 2021 (contains Jan 1)
        (datetime(2019, 12, 31), 1, 2020, 1, 2020),
    ],
)
def test_moment_week_years(when, w, gggg, W, GGGG):
    when = when.replace(tzinfo=timezone.utc)
    assert format_moment(when, "w gggg W GGGG") == f"{w} {gggg} {W} {GGGG}"


def test_moment_hour_edges():
    midnight = datetime(2021, 1, 1, 0, 0, tzinfo=timezone.utc)
    assert format_moment(midnight, "h a k H") == "12 am 24 0"
    noon = datetime(2021, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert format_moment(noon, "h A k") == "12 PM 12"


# ---------------------------------------------------------------------------------------------
# Templates

def test_template_escapes_and_triple_stash():
    ctx = branch_ctx("a&b'c")
    assert render_template("{{branch}}", ctx) == "a&amp;b&#x27;c"  # Handlebars escapes {{ }}
    assert render_template("{{{branch}}}", ctx) == "a&b'c"
    assert render_template(r"\{{branch}}", ctx) == "{{branch}}"
    assert render_template(r"\\{{branch}}", branch_ctx("dev")) == "\\dev"
    assert render_template("{{! a comment }}x{{!-- }} --}}y", ctx) == "xy"
    assert render_template("a}}b{c", ctx) == "a}}b{c"
    assert render_template("{{ branch }}", branch_ctx("dev")) == "dev"


def test_render_template_with_version():
    ctx = tag_ctx("v1.2.3")
    assert render_template("{{major}}/{{minor}}/{{patch}}/{{version}}/{{raw}}", ctx, "v1.2.3") == "1/2/3/1.2.3/v1.2.3"
    import semver

    assert render_template("{{version}}", ctx, semver.Version.parse("2.0.0-rc.1")) == "2.0.0-rc.1"
    from packaging.version import Version

    assert render_template("{{major}}.{{minor}}", ctx, Version("3.4rc1")) == "3.4"
    assert render_template("{{version}}", ctx, "1.0dev4") == "1.0.dev4"
    with pytest.raises(RuleError, match="not available here"):
        render_template("{{version}}", ctx)
    with pytest.raises(RuleError, match="neither a SemVer nor a PEP 440"):
        render_template("{{version}}", ctx, "not-a-version")


@pytest.mark.parametrize(
    "text, message",
    [
        ("{{nope}}", "unknown expression {{nope}}"),
        ("{{branch", "unclosed '{{'"),
        ("{{}}", "empty expression"),
        ("{{#if branch}}x{{/if}}", "unsupported Handlebars syntax"),
        ("{{branch 'x'}}", "takes no arguments"),
        ("{{date}}", "needs a quoted moment.js format"),
        ("{{date 'YYYY' fmt='x'}}", "unknown attribute fmt="),
        ("{{date 'YYYY' tz='Nowhere/Atlantis'}}", "unknown time zone"),
        ("{{date 'YYYY' tz=UTC}}", "tz= needs a quoted time zone"),
        ("{{date YYYY}}", "unexpected"),
        ("{{!-- never closed", "unclosed comment"),
    ],
)
def test_render_template_errors(text, message):
    with pytest.raises(RuleError) as exc:
        render_template(text, branch_ctx("dev"))
    assert message in exc.value.message
    assert exc.value.hint


# ---------------------------------------------------------------------------------------------
# Sanitizing and Docker validity (README "Notes > Image name and tag sanitization")

@pytest.mark.parametrize(
    "raw, clean",
    [("my/branch", "my-branch"), ("1.2.3+build", "1.2.3-build"), ("a  b//c", "a-b-c"), ("ok_1.2-x", "ok_1.2-x"),
     ("ünï", "-n-")],
)
def test_sanitize(raw, clean):
    assert sanitize_tag(raw) == clean


def test_tag_invalid_after_sanitizing_is_an_error_naming_the_rule():
    with pytest.raises(RuleError) as exc:
        tags(["type=raw,value=x", "type=sha,prefix={{branch}}-"], tag_ctx("v1.2.3"))
    assert "line 2" in exc.value.message and "type=sha,prefix={{branch}}-" in exc.value.message
    assert "'-860c190'" in exc.value.message and "starts with" in exc.value.message
    with pytest.raises(RuleError, match="129 characters"):
        tags(["type=raw,value=" + "a" * 129], branch_ctx("dev"))
    assert tags(["type=raw,value=" + "a" * 128], branch_ctx("dev")) == ["a" * 128]
    with pytest.raises(RuleError, match="flavor's latest"):
        tags(["type=ref,event=tag,prefix="], tag_ctx("v1"), ["prefix=.x,onlatest=true"])


def test_enable_expression_that_is_not_boolean():
    with pytest.raises(RuleError) as exc:
        tags(["type=raw,value=x,enable={{branch}}"], branch_ctx("dev"))
    assert "line 1" in exc.value.message and "'dev'" in exc.value.message
    assert "{{is_default_branch}}" in exc.value.hint


# ---------------------------------------------------------------------------------------------
# Parsing: normalised attributes

def test_parse_rules_fills_defaults():
    rules = parse_rules([
        "# comment", "", "type=schedule", "type=semver,pattern={{version}}", r"type=match,pattern=\d",
        "type=edge", "type=ref,event=pr", "type=ref,event=branch", "latest", "type=sha",
        "  TYPE=raw , VALUE = x ",
    ])
    got = [(r.type, dict(r.attrs), r.lineno, r.priority) for r in rules]
    assert got == [
        ("schedule", {"pattern": "nightly", "enable": "true", "priority": "1000"}, 3, 1000),
        ("semver", {"pattern": "{{version}}", "value": "", "enable": "true", "priority": "900"}, 4, 900),
        ("match", {"pattern": r"\d", "group": "0", "value": "", "enable": "true", "priority": "800"}, 5, 800),
        ("edge", {"branch": "", "enable": "true", "priority": "700"}, 6, 700),
        ("ref", {"event": "pr", "prefix": "pr-", "enable": "true", "priority": "600"}, 7, 600),
        ("ref", {"event": "branch", "enable": "true", "priority": "600"}, 8, 600),
        ("raw", {"value": "latest", "enable": "true", "priority": "200"}, 9, 200),
        ("sha", {"prefix": "sha-", "format": "short", "enable": "true", "priority": "100"}, 10, 100),
        ("raw", {"value": "x", "enable": "true", "priority": "200"}, 11, 200),
    ]
    assert rules[0].line == "type=schedule"
    assert isinstance(rules[0], Rule)
    with pytest.raises(TypeError):
        rules[0].attrs["x"] = "y"  # type: ignore[index]
    assert hash(rules[0]) == hash(parse_rules(["# comment", "", "type=schedule"])[0])


def test_parse_quoted_fields():
    rules = parse_rules(['type=match,"pattern=v(\\d{1,3})",group=1', 'type=raw,"value=a,b"', 'type=raw,"va""l"'])
    assert rules[0].attrs["pattern"] == "v(\\d{1,3})"
    assert rules[1].attrs["value"] == "a,b"
    assert rules[2].attrs["value"] == 'va"l'
    assert tags(['type=match,"pattern=v(\\d{1,3})",group=1'], tag_ctx("v12.0.0")) == ["12", "latest"]


def test_parse_value_with_equals_sign():
    assert parse_rules(["type=raw,value=a=b"])[0].attrs["value"] == "a=b"


def test_parse_rules_accepts_a_string_block():
    assert [r.type for r in parse_rules("type=sha\n\ntype=edge\n")] == ["sha", "edge"]


def test_empty_rules():
    assert parse_rules([]) == ()
    assert evaluate((), Flavor(), tag_ctx("v1.2.3")) == ()


# ---------------------------------------------------------------------------------------------
# Parsing: every malformed line is a RuleError naming the line, its text and the fix

@pytest.mark.parametrize(
    "line, message, hint",
    [
        ("type=latest", "unknown type 'latest'", "type=raw"),
        ("type=Semver,pattern={{version}}", "unknown type 'Semver'", "type=semver"),
        ("type=semver", "type=semver needs a pattern", "pattern={{version}}"),
        ("type=semver,pattern=", "pattern= is empty", "pattern={{version}}"),
        ("type=pep440", "type=pep440 needs a pattern", "pattern="),
        ("type=semver,pattern={{branch}}", "{{branch}} is not available here", "{{version}}"),
        ("type=semver,pattern={{verison}}", "unknown expression {{verison}}", "{{version}}"),
        ("type=semver,pattern={{version}},format=long", "format= is not used by type=semver", "pattern="),
        ("type=sha,foo", "'foo' has no '='", "format="),
        ("type=sha,colour=red", "unknown attribute colour=", "format="),
        ("type=sha,format=medium", "format='medium' is not known", "format=short"),
        ("type=match", "type=match needs a non-empty pattern", "pattern="),
        ("type=match,pattern=v(.*",  "invalid regular expression", "fix the pattern"),
        ("type=match,pattern=v(.*),group=2", "group=2 but the pattern has 1 capturing group", "group="),
        ("type=match,pattern=v(.*),group=one", "group='one' is not a group number", "group=1"),
        ("type=match,pattern=/v(.*)/x", "flag 'x'", "flags"),
        ("type=ref", "type=ref needs event=", "event=branch"),
        ("type=ref,event=push", "event='push' is not known", "event=tag"),
        ("type=raw", "type=raw needs a value", "value=latest"),
        ("type=raw,value=", "value= is empty", "value=latest"),
        ("type=raw,value=a,b", "more than one value", "quote"),
        ("type=raw,value=x,enable=yes", "enable='yes' is not true or false", "enable=true"),
        ("type=raw,value=x,enable=True", "enable='True' is not true or false", "enable=false"),
        ("type=raw,value=x,priority=high", "priority='high' is not an integer", "priority=200"),
        ("type=raw,value=x,priority=1.5", "priority='1.5' is not an integer", "priority="),
        ("type=raw,value=x,value=y", "value= is given twice", "keep one"),
        ("type=raw,type=sha", "type= is given twice", "one type="),
        ("type=raw,=x", "has no attribute name", "name=value"),
        ("type=raw,value=x,enable=${{ github.ref == 'refs/heads/main' }}", "GitHub Actions expression",
         "{{is_default_branch}}"),
        ("type=semver,pattern={{major}},enable=${{ !startsWith(github.ref, 'refs/tags/v0.') }}",
         "GitHub Actions expression", "workflow runner"),
        ("type=raw,value={{nope}}", "value=: unknown expression {{nope}}", "{{branch}}"),
        ("type=sha,prefix={{branch", "prefix=: unclosed", "}}"),
        ("type=raw,value=x,suffix={{date}}", "suffix=: {{date}} needs a quoted moment.js format", "YYYYMMDD"),
        ("type=schedule,pattern={{date 'YYYY' tz='Mars/Olympus'}}", "unknown time zone 'Mars/Olympus'", "IANA"),
        ("type=schedule,pattern={{branch}}", "{{branch}} is not available here", "date"),
        ('type=raw,"value=x', "unclosed double quote", '"'),
        ('type=raw,val"ue=x', "double quote inside a field", "whole field"),
        ('type=raw,"value=x"y', "text after a closing double quote", "quote whole fields"),
        ("type=edge,event=tag", "event= is not used by type=edge", "branch="),
    ],
)
def test_malformed_rule_lines(line, message, hint):
    lines = ["type=semver,pattern={{version}}", "# a comment", line]
    with pytest.raises(RuleError) as exc:
        parse_rules(lines)
    err = exc.value
    assert err.message.startswith(f"tag rule line 3 ({line!r}): "), err.message
    assert message in err.message, err.message
    assert err.hint and hint in err.hint, err.hint
    assert err.exit_code == 2


@pytest.mark.parametrize(
    "line, message, hint",
    [
        ("latest=maybe", "latest='maybe' is not auto, true or false", "latest=auto"),
        ("latest", "'latest' is not key=value", "latest=auto"),
        ("onlatest=true", "onlatest= must follow prefix= or suffix=", "prefix=foo-,onlatest=true"),
        ("prefix=x,onlatest=yes", "onlatest='yes' is not true or false", "onlatest=true"),
        ("colour=red", "unknown flavor entry colour=", "latest="),
        ("labelprefix=x", "unknown flavor entry labelprefix=", "not supported"),
        ("prefix={{nope}}-", "prefix=: unknown expression {{nope}}", "{{branch}}"),
        ("suffix=-${{ matrix.os }}", "GitHub Actions expression", "workflow runner"),
        ('"prefix=x', "unclosed double quote", '"'),
        ('prefix="x', "double quote inside a field", "whole field"),
    ],
)
def test_malformed_flavor_lines(line, message, hint):
    with pytest.raises(RuleError) as exc:
        parse_flavor(["latest=auto", line])
    err = exc.value
    assert err.message.startswith(f"flavor line 2 ({line!r}): "), err.message
    assert message in err.message, err.message
    assert err.hint and hint in err.hint, err.hint


def test_hand_built_rules_and_flavor_fail_as_rule_errors():
    bad = Rule("raw", {"value": "{{nope}}", "enable": "true", "priority": "200"}, "type=raw,value={{nope}}", 1, 200)
    with pytest.raises(RuleError, match=r"line 1 .*unknown expression"):
        evaluate((bad,), Flavor(), branch_ctx("dev"))
    with pytest.raises(RuleError, match="flavor: unknown expression"):
        evaluate(parse_rules(["x"]), Flavor("true", "{{nope}}", True), branch_ctx("dev"))


def test_hash_argument_with_spaces():
    assert render_template("{{date 'YYYY' tz = 'Asia/Tokyo'}}", branch_ctx("dev")) == "2020"


def test_non_string_lines():
    with pytest.raises(RuleError, match="line 1"):
        parse_rules([None])  # type: ignore[list-item]
    with pytest.raises(RuleError, match="line 2"):
        parse_flavor(["latest=auto", 3])  # type: ignore[list-item]


# ---------------------------------------------------------------------------------------------
# The default rule set (shared/reference/process.zh.md, "多标签发布")

@pytest.mark.parametrize(
    "ctx, expected",
    [
        (tag_ctx("v1.2.3"), ["1.2.3", "1.2", "1", "latest"]),
        (tag_ctx("v1.1.5"), ["1.1.5", "1.1", "1", "latest"]),  # moving backwards is the planner's guard
        (tag_ctx("v2.0.0-rc.1"), ["2.0.0-rc.1"]),
        (tag_ctx("v0.1.2"), ["0.1.2", "0.1", "0", "latest"]),  # the 0 major is the planner's setting
        (tag_ctx("v1.2.3+build.5"), ["1.2.3", "1.2", "1", "latest"]),
        (tag_ctx("release-1"), []),
        (branch_ctx("master"), ["latest"]),
        (branch_ctx("feature/x"), []),
        (pr_ctx(7), []),
        (schedule_ctx(), ["latest"]),
    ],
)
def test_default_rules(ctx, expected):
    assert tags(DEFAULT_TAG_RULES, ctx, DEFAULT_FLAVOR) == expected


def test_default_rules_mark_latest():
    out = evaluate(parse_rules(DEFAULT_TAG_RULES), parse_flavor(DEFAULT_FLAVOR), tag_ctx("v1.2.3"))
    assert [(o.value, o.is_latest, o.rule.lineno if o.rule else None) for o in out] == [
        ("1.2.3", False, 1), ("1.2", False, 2), ("1", False, 3), ("latest", True, None)]
    out = evaluate(parse_rules(DEFAULT_TAG_RULES), parse_flavor(DEFAULT_FLAVOR), branch_ctx("master"))
    assert [(o.value, o.is_latest, o.rule.lineno) for o in out] == [("latest", False, 4)]


def test_evaluate_over_many_versions_reuses_parsed_rules():
    # The planner evaluates once per known version: same rules, a context per tag.
    rules, flavor = parse_rules(DEFAULT_TAG_RULES), parse_flavor(DEFAULT_FLAVOR)
    base = tag_ctx("v0.0.0")
    seen: dict[str, list[str]] = {}
    for major in range(3):
        for minor in range(10):
            for patch in range(10):
                tag = f"v{major}.{minor}.{patch}"
                for out in evaluate(rules, flavor, base.with_tag(tag)):
                    seen.setdefault(out.value, []).append(tag)
    assert len(seen["1.2"]) == 10 and seen["1"][0] == "v1.0.0" and len(seen["latest"]) == 300


# ---------------------------------------------------------------------------------------------
# Properties

_num = st.integers(min_value=0, max_value=10**6).map(str)
_alnum_id = st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=8).filter(
    lambda s: not (s.isdigit() and len(s) > 1 and s[0] == "0"))
_semver_tags = st.builds(
    lambda v, ma, mi, pa, pre, build: f"{v}{ma}.{mi}.{pa}" + (f"-{'.'.join(pre)}" if pre else "")
    + (f"+{'.'.join(build)}" if build else ""),
    st.sampled_from(["", "v"]), _num, _num, _num,
    st.lists(_alnum_id, max_size=4), st.lists(st.text(string.ascii_letters + string.digits + "-", min_size=1,
                                                      max_size=8), max_size=3),
)
_PATTERNS = ["{{version}}", "{{major}}.{{minor}}", "{{major}}", "{{raw}}", "v{{major}}", "{{minor}}-{{patch}}"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tag=_semver_tags, patterns=st.lists(st.sampled_from(_PATTERNS), min_size=1, max_size=4),
       latest=st.sampled_from(["auto", "true", "false"]))
def test_property_valid_semver_tags_give_valid_docker_tags(tag, patterns, latest):
    rules = parse_rules([f"type=semver,pattern={p}" for p in patterns] + list(DEFAULT_TAG_RULES))
    out = evaluate(rules, parse_flavor([f"latest={latest}"]), tag_ctx(tag))
    assert out, tag
    values = [o.value for o in out]
    assert len(values) == len(set(values))
    for value in values:
        assert is_valid_docker_tag(value), (tag, value)
    is_pre = "-" in tag.split("+")[0]
    if latest == "auto":
        assert ("latest" in values) is (not is_pre)
    if is_pre:
        assert all(o.is_latest or o.value in (tag.split("+")[0].lstrip("v"), tag.replace("+", "-")) for o in out)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.text(max_size=60), max_size=4))
def test_property_garbage_rule_lines_raise_rule_error_only(lines):
    try:
        rules = parse_rules(lines)
    except RuleError as exc:
        assert exc.message and exc.hint
        return
    for ctx in (tag_ctx("v1.2.3"), branch_ctx("master"), pr_ctx(1), schedule_ctx()):
        try:
            evaluate(rules, Flavor(), ctx)
        except RuleError:
            pass


_rule_alphabet = st.sampled_from(
    ["type=", "semver", "raw", "match", "sha", "ref", "edge", "schedule", "pep440", ",", "=", "pattern=", "value=",
     "group=", "enable=", "priority=", "prefix=", "suffix=", "event=", "format=", "branch=", "{{", "}}", "{{{",
     "}}}", "version", "major", "raw", "branch", "date", " 'YYYY'", " tz='UTC'", "(", ")", "\\d", "/", '"', "'",
     "true", "false", "1", "-", "#", " ", "${{", "tag", "pr", "long"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.lists(_rule_alphabet, max_size=12).map("".join), max_size=4),
       st.lists(st.lists(st.sampled_from(["latest=", "auto", "true", "prefix=", "suffix=", ",onlatest=", "x",
                                          "{{branch}}", "false", ",", "="]), max_size=6).map("".join), max_size=3))
def test_property_rule_like_garbage_raises_rule_error_only(lines, flavor_lines):
    try:
        rules = parse_rules(lines)
        flavor = parse_flavor(flavor_lines)
    except RuleError as exc:
        assert exc.message and exc.hint
        return
    for ctx in (tag_ctx("v1.2.3"), tag_ctx("v2.0.0-rc.1"), branch_ctx("master"), pr_ctx(1), schedule_ctx()):
        try:
            for out in evaluate(rules, flavor, ctx):
                assert is_valid_docker_tag(out.value)
        except RuleError as exc:
            assert exc.message and exc.hint


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_property_render_template_garbage(text):
    try:
        render_template(text, branch_ctx("dev"), "v1.2.3")
    except RuleError:
        pass


@settings(max_examples=200, deadline=None)
@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 12, 31), timezones=st.just(timezone.utc)),
       st.text(max_size=20))
def test_property_any_moment_format_renders(when, fmt):
    assert isinstance(format_moment(when, fmt), str)
    assert format_moment(when, "YYYY-MM-DD") == when.strftime("%Y-%m-%d").zfill(10)
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    assert format_moment(when, "X") == str((when - epoch) // timedelta(seconds=1))
    # ISO week agrees with Python's
    iso = when.isocalendar()
    assert format_moment(when, "GGGG-WW-E") == f"{iso[0]:04d}-{iso[1]:02d}-{iso[2]}"
    # en locale week: week 1 contains January 1st
    jan1 = datetime(when.year, 1, 1, tzinfo=timezone.utc)
    assert format_moment(jan1, "w") == "1"
    assert format_moment(jan1 - timedelta(days=(jan1.weekday() + 1) % 7), "w") == "1"


# -- metadata-action parity (issue 13) -------------------------------------------------------------
def values(outputs) -> list[str]:
    return [o.value for o in outputs]


@pytest.mark.parametrize("rule, tag, want", [
    # README (type=semver / type=pep440): match= takes the version from the first group
    (r"type=semver,pattern={{version}},match=v(\d.\d.\d)$", "p1/v1.2.3", ["1.2.3", "latest"]),
    (r"type=semver,pattern={{major}}.{{minor}},match=p1/v(\d.\d.\d)$", "p1/v1.2.3", ["1.2", "latest"]),
    (r"type=pep440,pattern={{version}},match=v(\d.\d.\d)$", "p1/v1.2.3", ["1.2.3", "latest"]),
    (r"type=semver,pattern={{version}},match=v(\d.\d.\d)$", "nomatch", []),  # no match: the tag as it is
    (r"type=semver,pattern={{version}},match=(x)?v(.*)", "v1.2.3", []),  # the first group did not take part
])
def test_semver_and_pep440_match(rule, tag, want):
    assert values(evaluate(parse_rules([rule]), parse_flavor([]), tag_ctx(tag))) == want


def test_semver_value_with_a_slash_is_read_as_metadata_action_reads_it():
    rules = parse_rules(["type=semver,pattern={{version}},value=1.2.3-rc/1"])
    assert values(evaluate(rules, parse_flavor([]), branch_ctx("master"))) == ["1.2.3-rc-1"]


def test_semver_match_needs_a_group():
    with pytest.raises(RuleError, match="no capturing group"):
        parse_rules([r"type=semver,pattern={{version}},match=v\d"])


def test_lenient_rules_run_what_metadata_action_runs():
    strict_errors = [r"type=match,pattern=v(\d),group=3", "type=raw,value=x-{{date YYYY-MM-DD}}"]
    for line in strict_errors:
        with pytest.raises(RuleError):
            parse_rules([line])
    rules = parse_rules(strict_errors, lenient=True)
    assert all(r.lenient for r in rules)
    # the group that is not there gives nothing; {{date NAME}} is moment's default format
    assert values(evaluate(rules, parse_flavor([]), tag_ctx("v1.0.0"))) == ["x-2020-01-10T00-30-00Z"]
    tokyo = parse_rules(["type=raw,value={{date NAME tz='Asia/Tokyo'}}"], lenient=True)
    assert values(evaluate(tokyo, parse_flavor([]), branch_ctx("master"))) == ["2020-01-10T09-30-00-09-00"]
