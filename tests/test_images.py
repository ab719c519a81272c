"""Image entries in metadata-action's ``images:`` syntax: names, attributes, lower-casing."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from image_release.core.context import BRANCH, TAG, Context
from image_release.core.images import ImageEntry, enabled_images, parse_images
from image_release.core.plan import default_images, make_plan
from image_release.errors import ConfigError
from image_release.settings import parse_settings

NOW = datetime(2020, 1, 10, 0, 30, tzinfo=timezone.utc)


def branch(name: str) -> Context:
    return Context(event=BRANCH, ref=f"refs/heads/{name}", branch=name, sha="a" * 40, default_branch="main",
                   timestamp=NOW)


@pytest.mark.parametrize("entries, want", [
    (["user/app,ghcr.io/user/app"], ("user/app", "ghcr.io/user/app")),  # the old one-line format
    (["name=user/app", "name=ghcr.io/user/app,enable=false"], ("user/app",)),
    (["name=user/app,enable=true", "ghcr.io/user/app"], ("user/app", "ghcr.io/user/app")),
    (["name=a/b,enable={{is_default_branch}}", "c/d"], ("a/b", "c/d")),
    (["user/app", "user/app"], ("user/app",)),
])
def test_enabled_images(entries, want):
    assert enabled_images(parse_images(entries), branch("main")) == want


def test_names_are_lower_cased_under_metadata_action_semantics_only():
    # metadata-action lower-cases (meta.test.ts latest09); safe semantics refuse the name where the
    # images are checked (tests/test_bad_inputs.py, image-uppercase), naming it
    entries = parse_images(["ghcr.io/MyUSER/MyApp", "user/app"])
    assert enabled_images(entries, branch("main"), lower=True) == ("ghcr.io/myuser/myapp", "user/app")
    assert enabled_images(entries, branch("main")) == ("ghcr.io/MyUSER/MyApp", "user/app")
    ctx = branch("main")
    assert default_images(ctx, ["A/B"], "metadata-action") == ("a/b",)
    assert default_images(ctx, ["A/B"]) == ("A/B",)
    assert parse_images([""]) == (ImageEntry(""),)  # left for the image check: "invalid image name"


def test_enable_expression_follows_the_context():
    entries = parse_images(["name=a/b,enable={{is_default_branch}}", "name=c/d,enable={{is_not_default_branch}}"])
    assert entries[0] == ImageEntry("a/b", "{{is_default_branch}}")
    assert enabled_images(entries, branch("main")) == ("a/b",)
    assert enabled_images(entries, branch("dev")) == ("c/d",)


@pytest.mark.parametrize("entries, words", [
    (["name=a/b,enable=maybe"], "is not true or false"),
    (["name=a/b,color=red"], "unknown image attribute color="),
    (["enable=false"], "image name is empty"),
    (["name=a/b,enable={{nope}}"], "unknown expression"),
    (["name=a/b,enable=${{ github.ref == 'x' }}"], "GitHub Actions expression"),
])
def test_bad_entries_are_config_errors_at_parse_time(entries, words):
    with pytest.raises(ConfigError, match=words.replace("$", r"\$").replace("{", r"\{")) as info:
        parse_settings({"images": entries})
    assert info.value.hint


def test_every_image_disabled_keeps_the_image_local():
    settings = parse_settings({"images": ["name=a/b,enable={{is_default_branch}}"]})
    plan = make_plan(branch("dev"), settings, fallback_image="local/app")
    assert plan.local_only and not plan.push and plan.images == ("local/app",)
    assert "disabled" in plan.push_reason
    plan = make_plan(branch("main"), parse_settings({"images": ["name=a/b,enable={{is_default_branch}}"],
                                                      "tags": ["type=ref,event=branch"]}))
    assert plan.images == ("a/b",) and plan.push


def test_the_github_default_image_is_lower_case():
    ctx = Context(event=TAG, ref="refs/tags/v1.0.0", tag="v1.0.0", ci="github", repository="Octo/App")
    assert default_images(ctx, ()) == ("ghcr.io/octo/app",)
