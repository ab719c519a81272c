"""core.merge (pure): the digest records of per-platform builds, the merge's checks and the index it puts;
and core.publish's decisions for the same-version race and the merged index."""

from __future__ import annotations

import hashlib
import json

import pytest

from image_release.core import merge
from image_release.core.merge import DigestRecord, PlatformManifest, merged_index
from image_release.core.publish import PublishFacts, after_publish_actions, publish_actions, replaced_meanwhile
from image_release.errors import ConfigError

A, B, C = "reg.example/team/app", "reg.example/team/app-mirror", "other.example/x"
SHA = "a1b2c3d4" * 5
AMD, ARM = "sha256:" + "1" * 64, "sha256:" + "2" * 64
OCI = "application/vnd.oci.image.manifest.v1+json"


def rec(image=A, platform="linux/amd64", digest=AMD, commit=SHA, source=None) -> DigestRecord:
    return DigestRecord(image, platform, digest, commit, source or f"dist/digests/{merge.safe_name(image)}/"
                        f"{merge.safe_name(platform)}.json")


def found(digest, platform, revision=SHA, media_type=OCI, size=555):
    return PlatformManifest(digest, media_type, size, platform, revision, config_read=True)


def both(images=(A,)):
    records, facts = [], {}
    for i, image in enumerate(images):
        for platform, digest in (("linux/amd64", AMD), ("linux/arm64", ARM)):
            records.append(rec(image, platform, digest))
            facts[(image, digest)] = found(digest, platform) if i == 0 else PlatformManifest(digest, OCI, 555)
    return records, facts


def test_record_paths_and_files_round_trip():
    assert merge.safe_name("127.0.0.1:5000/team/app") == "127.0.0.1-5000-team-app"
    assert merge.record_path("dist/digests/", "127.0.0.1:5000/t/app", "linux/arm64/v8") == \
        "dist/digests/127.0.0.1-5000-t-app/linux-arm64-v8.json"
    text = merge.record_json(A, "linux/arm64", ARM, SHA)
    assert json.loads(text) == {"commit": SHA, "digest": ARM, "image": A, "platform": "linux/arm64", "version": 1}
    assert merge.parse_record(text, "f.json") == DigestRecord(A, "linux/arm64", ARM, SHA, "f.json")


@pytest.mark.parametrize("text, words", [
    ("not json", "not JSON"),
    ("[]", "needs image, platform and digest"),
    (json.dumps({"image": A, "platform": "linux/amd64"}), "needs image, platform and digest"),
    (json.dumps({"image": A, "platform": "linux/amd64", "digest": "sha256:abc"}), "not a sha256 digest"),
    (json.dumps({"image": A, "platform": "amd64", "digest": AMD}), "is not a platform"),
    (json.dumps({"image": A, "platform": "linux/amd64", "digest": AMD, "commit": 7}), "commit is not a string"),
])
def test_a_file_that_is_not_a_record_is_a_config_error_naming_it(text, words):
    with pytest.raises(ConfigError) as err:
        merge.parse_record(text, "dist/digests/x.json")
    assert words in err.value.message and "dist/digests/x.json" in err.value.message and err.value.hint


def test_platforms_match_with_their_default_variants():
    assert merge.same_platform("linux/arm64", "linux/arm64/v8")
    assert merge.same_platform("Linux/AMD64", "linux/amd64")
    assert not merge.same_platform("linux/arm/v6", "linux/arm")
    assert not merge.same_platform("linux/arm64", None)
    assert merge.normalize_platform(" Linux/ARM64 ") == "linux/arm64"


def test_the_index_lists_each_platform_once_sorted_and_is_the_same_for_the_same_digests():
    records, facts = both()
    index = merged_index(records, (A,), facts, SHA)
    again = merged_index(list(reversed(records)), (A,), facts, SHA)
    assert index.raw == again.raw and index.digest == "sha256:" + hashlib.sha256(index.raw).hexdigest()
    doc = json.loads(index.raw)
    assert doc["mediaType"] == merge.OCI_INDEX and doc["schemaVersion"] == 2
    assert [(m["platform"], m["digest"], m["size"]) for m in doc["manifests"]] == [
        ({"architecture": "amd64", "os": "linux"}, AMD, 555), ({"architecture": "arm64", "os": "linux"}, ARM, 555)]
    assert doc["annotations"] == {merge.REVISION: SHA}
    assert index.platforms == (("linux/amd64", AMD), ("linux/arm64", ARM))
    assert merge.platform_lines(index) == (f"linux/amd64 ({AMD})", f"linux/arm64 ({ARM})")
    assert "linux/arm64 sha256:2222" in index.describe_platforms()


def test_a_variant_goes_into_the_index_platform():
    records = [rec(platform="linux/arm/v7", digest=ARM)]
    index = merged_index(records, (A,), {(A, ARM): found(ARM, "linux/arm/v7")}, SHA)
    assert json.loads(index.raw)["manifests"][0]["platform"] == {"architecture": "arm", "os": "linux", "variant": "v7"}


def test_several_images_share_one_index_when_they_hold_the_same_digests():
    records, facts = both((A, B))
    assert merged_index(records, (A, B), facts, SHA).platforms == (("linux/amd64", AMD), ("linux/arm64", ARM))


def _fails(records, facts, images=(A,), commit=SHA, platforms=()) -> str:
    with pytest.raises(ConfigError) as err:
        merged_index(records, images, facts, commit, platforms)
    assert err.value.hint
    return err.value.message


def test_a_missing_digest_is_an_error_naming_its_record():
    records, facts = both()
    facts[(A, ARM)] = None
    msg = _fails(records, facts)
    assert f"{A}@{ARM}" in msg and "not in the registry" in msg and "linux-arm64.json" in msg


def test_a_duplicate_platform_is_an_error_naming_both_records():
    records, facts = both()
    third = "sha256:" + "3" * 64
    records.append(rec(platform="linux/arm64", digest=third, source="more/arm64.json"))
    facts[(A, third)] = found(third, "linux/arm64")
    msg = _fails(records, facts)
    assert "two records for linux/arm64" in msg and "more/arm64.json" in msg and "linux-arm64.json" in msg


def test_a_digest_of_another_commit_is_an_error_by_its_record_and_by_its_label():
    records, facts = both()
    records[1] = rec(platform="linux/arm64", digest=ARM, commit="f" * 40)
    assert "built from commit ffffffffffff" in _fails(records, facts)
    records, facts = both()
    facts[(A, ARM)] = found(ARM, "linux/arm64", revision="e" * 40)
    assert "has commit eeeeeeeeeeee" in _fails(records, facts)
    facts[(A, ARM)] = found(ARM, "linux/arm64", revision=None)
    assert f"no {merge.REVISION} label" in _fails(records, facts)


def test_a_record_of_another_image_or_an_image_without_records_is_an_error():
    records, facts = both()
    assert "not an image of this release" in _fails(records + [rec(image=C)], facts)
    assert f"no digest record for {B}" in _fails(records, facts, images=(A, B))


def test_a_platform_the_registry_holds_otherwise_or_an_index_is_an_error():
    records, facts = both()
    facts[(A, ARM)] = found(ARM, "linux/amd64")
    assert "is a linux/amd64 image" in _fails(records, facts)
    facts[(A, ARM)] = found(ARM, None, media_type=merge.OCI_INDEX)
    assert "not a one-platform image manifest" in _fails(records, facts)


def test_the_platforms_of_the_settings_are_all_required_and_nothing_else():
    records, facts = both()
    assert "missing linux/s390x" in _fails(records, facts, platforms=("linux/amd64", "linux/arm64", "linux/s390x"))
    assert "not listed: linux/arm64" in _fails(records, facts, platforms=("linux/amd64",))
    assert merged_index(records, (A,), facts, SHA, ("linux/arm64", "linux/amd64")).digest


def test_images_with_different_digests_for_a_platform_are_an_error():
    records, facts = both((A, B))
    other = "sha256:" + "4" * 64
    records[-1] = rec(B, "linux/arm64", other)
    facts[(B, other)] = PlatformManifest(other, OCI, 555)
    assert "different per-platform digests" in _fails(records, facts, images=(A, B))


# -- core.publish: the race guard and the index as the version's image --------------------------------------


def test_only_an_image_put_under_the_version_tag_since_the_plan_read_it_is_marked_before_the_put():
    old, theirs, ours = "sha256:" + "a" * 64, "sha256:" + "b" * 64, "sha256:" + "c" * 64
    assert replaced_meanwhile(old, theirs, ours) == theirs  # another run published meanwhile
    assert replaced_meanwhile(None, theirs, ours) == theirs  # a first release raced by another
    assert replaced_meanwhile(old, old, ours) is None  # MarkReplaced has marked it already
    assert replaced_meanwhile(old, ours, ours) is None  # the same content: nothing is replaced
    assert replaced_meanwhile(old, None, ours) is None  # the tag went away: nothing to mark
    assert after_publish_actions(A, ()) == []
    (finish,) = after_publish_actions(A, (theirs, theirs))
    assert finish.digests == (theirs,)


def _plan(version="1.2.3"):
    from datetime import datetime, timezone

    from image_release.core.context import TAG, Context
    from image_release.core.plan import make_plan
    from image_release.settings import parse_settings

    ctx = Context(event=TAG, ref=f"refs/tags/v{version}", tag=f"v{version}", sha=SHA, source="cli",
                  timestamp=datetime(2026, 1, 1, tzinfo=timezone.utc))
    return make_plan(ctx, parse_settings({"images": [A]}))


def test_publish_actions_carry_the_index_and_the_guard_and_replace_nothing_for_the_same_digest():
    from image_release.core.actions import DeleteIfUntagged, MarkReplaced, PushVersion

    records, facts = both()
    index = merged_index(records, (A,), facts, SHA)
    old = "sha256:" + "9" * 64
    acts = publish_actions(_plan(), PublishFacts(A, old_digest=old, ours=index.digest), index)
    push = next(a for a in acts if isinstance(a, PushVersion))
    assert push.index is index and push.guarded and push.replaces == old and push.tag == "1.2.3"
    assert "put the image index" in push.describe() and "linux/arm64" in push.describe()
    title, text = push.details()
    assert index.digest in title and json.loads(text) == json.loads(index.raw)
    assert any(isinstance(a, MarkReplaced) for a in acts) and any(isinstance(a, DeleteIfUntagged) for a in acts)
    again = publish_actions(_plan(), PublishFacts(A, old_digest=index.digest, ours=index.digest), index)
    assert not any(isinstance(a, (MarkReplaced, DeleteIfUntagged)) for a in again), "a re-run replaces nothing"
    built = next(a for a in publish_actions(_plan(), PublishFacts(A)) if isinstance(a, PushVersion))
    assert built.index is None and built.details() is None and built.replaces is None and built.guarded
