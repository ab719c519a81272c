"""core/history: the previous-release decision, pure (real git histories: tests/test_git_history.py)."""

from __future__ import annotations

from image_release.core.history import (
    FIRST_BATCH, VersionTag, ancestry_batches, candidates, first_ancestor, pick_previous, version_tags,
)
from image_release.core.versions import parse_version as V


def test_version_tags_skip_non_versions_and_tags_of_trees():
    refs = [("v1.10.0", "c"), ("nightly", "x"), ("v1.9.0", "b"), ("v9.9.9", None), ("1.9.0", "b2")]
    assert version_tags(refs) == [
        VersionTag("1.9.0", V("1.9.0"), "b2"), VersionTag("v1.9.0", V("1.9.0"), "b"),
        VersionTag("v1.10.0", V("1.10.0"), "c"),
    ]


def test_candidates_finals_skip_prereleases_and_the_same_version():
    tags = version_tags([("v0.9.0", "a"), ("v1.0.0-rc.1", "b"), ("v1.0.0-rc.2", "c"), ("v1.0.0", "d"),
                         ("1.0.0", "d"), ("v1.0.0+b7", "d")])
    assert [t.name for t in candidates(V("1.0.0"), tags)] == ["v0.9.0"]
    assert [t.name for t in candidates(V("1.0.0-rc.2"), tags)] == ["v1.0.0-rc.1", "v0.9.0"]
    assert pick_previous(V("0.9.0"), tags) is None


def test_ancestry_batches_best_first():
    tags = version_tags([(f"v1.{i}.0", str(i)) for i in range(20)])
    pool = candidates(V("2.0.0"), tags)
    batches = ancestry_batches(pool)
    assert [len(b) for b in batches] == [FIRST_BATCH, 20 - FIRST_BATCH]
    assert batches[0][0].name == "v1.19.0"
    assert ancestry_batches([]) == []
    assert first_ancestor(batches[0], {"v1.12.0", "v1.15.0", "v1.2.0"}) == "v1.15.0"
    assert first_ancestor(batches[0], {"v1.2.0"}) is None


def test_prefixed_tags_are_versions_only_with_their_prefix():
    import pytest

    from image_release.core.history import tag_version
    from image_release.errors import VersionError

    refs = [("api/v1.2.0", "a"), ("web-v0.3.0", "w"), ("v2.0.0", "r"), ("api/nightly", "n"), ("api/v1.3.0", None)]
    assert [t.name for t in version_tags(refs, "api/")] == ["api/v1.2.0"]
    assert [t.version for t in version_tags(refs, "web-")] == [V("0.3.0")]
    assert [t.name for t in version_tags(refs)] == ["v2.0.0"]
    assert tag_version("api/v1.2.0", "api/") == V("1.2.0") and tag_version("v1.0.0") == V("1.0.0")
    with pytest.raises(VersionError):
        tag_version("web-v0.3.0", "api/")
    with pytest.raises(VersionError):
        tag_version("api/v1.2.0")
