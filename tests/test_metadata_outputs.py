"""metadata-action's outputs from a plan: names, formats, annotation levels, bake files."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from image_release.core import metadata_outputs as mo
from image_release.core.context import TAG, Context
from image_release.core.plan import make_plan
from image_release.settings import parse_settings

NOW = datetime(2020, 1, 10, 0, 30, tzinfo=timezone.utc)
SHA = "860c1904a1ce19322e91ac35af1ab07466440c37"


def plan(semantics="metadata-action", **raw):
    raw.setdefault("images", ["name/app", "ghcr.io/Name/App"])
    ctx = Context(event=TAG, ref="refs/tags/v1.2.3", tag="v1.2.3", sha=SHA, timestamp=NOW, repository="octo/app",
                  server_url="https://github.com", ci="github")
    return make_plan(ctx, parse_settings(dict(raw, semantics=semantics)))


def test_output_names_and_their_environment_variables():
    assert mo.OUTPUT_NAMES == ("version", "tags", "tag-names", "labels", "annotations", "json",
                               "bake-file-tags", "bake-file-labels", "bake-file-annotations", "bake-file")
    assert mo.env_name("tag-names") == "DOCKER_METADATA_OUTPUT_TAG_NAMES"
    assert mo.env_name("bake-file-annotations") == "DOCKER_METADATA_OUTPUT_BAKE_FILE_ANNOTATIONS"
    env = mo.output_env(mo.outputs(plan(), bake_dir="/tmp/x"))
    assert sorted(env) == sorted(mo.env_name(n) for n in mo.OUTPUT_NAMES)
    assert env["DOCKER_METADATA_OUTPUT_BAKE_FILE"] == "/tmp/x/docker-metadata-action-bake.json"


def test_outputs_in_metadata_action_formats():
    p = plan()
    out = mo.outputs(p, sep_tags=",")
    assert out["version"] == "1.2.3"
    assert out["tags"] == "name/app:1.2.3,name/app:1.2,name/app:1,name/app:latest," \
                          "ghcr.io/name/app:1.2.3,ghcr.io/name/app:1.2,ghcr.io/name/app:1,ghcr.io/name/app:latest"
    assert out["tag-names"] == "1.2.3,1.2,1,latest"
    assert out["labels"].splitlines() == [
        "org.opencontainers.image.created=2020-01-10T00:30:00.000Z",
        "org.opencontainers.image.description=",
        "org.opencontainers.image.licenses=",
        f"org.opencontainers.image.revision={SHA}",
        "org.opencontainers.image.source=https://github.com/octo/app",
        "org.opencontainers.image.title=app",
        "org.opencontainers.image.url=https://github.com/octo/app",
        "org.opencontainers.image.version=1.2.3",
    ]
    data = json.loads(out["json"])
    assert data["tag-names"] == ["1.2.3", "1.2", "1", "latest"]
    assert data["labels"]["org.opencontainers.image.version"] == "1.2.3"
    assert data["annotations"][0] == "manifest:org.opencontainers.image.created=2020-01-10T00:30:00.000Z"
    assert " " not in out["json"].replace("first repo", "")  # JSON.stringify: no spaces


def test_annotation_levels_and_their_descriptor_forms():
    p = plan()
    lines = mo.annotations(p, "manifest,index,manifest-descriptor,index-descriptor")
    assert len(lines) == 4 * len(p.annotations)
    for level in ("manifest:", "index:", "manifest-descriptor:", "index-descriptor:"):
        assert f"{level}org.opencontainers.image.version=1.2.3" in lines
    assert mo.annotations(p) == [f"manifest:{k}={v}" for k, v in p.annotations]


def test_bake_files():
    files = mo.bake_files(plan(), "index", "meta")
    name, text = files["bake-file-tags"]
    assert name == "docker-metadata-action-bake-tags.json"
    tags = json.loads(text)["target"]["meta"]
    assert tags["args"] == {"DOCKER_META_IMAGES": "name/app,ghcr.io/name/app", "DOCKER_META_VERSION": "1.2.3"}
    assert text.startswith('{\n  "target": {\n    "meta": {')  # JSON.stringify(x, null, 2)
    annotations = json.loads(files["bake-file-annotations"][1])["target"]["meta"]["annotations"]
    assert annotations[0].startswith("index:")
    both = json.loads(files["bake-file"][1])["target"]["meta"]
    assert list(both) == ["tags", "labels", "args"]


def test_no_tags_and_no_version():
    p = plan(tags=["type=ref,event=branch"], images=[])  # on GitHub, the default image ghcr.io/<repository>
    out = mo.outputs(p)
    assert out["version"] == "" and out["tags"] == "" and out["tag-names"] == ""
    assert json.loads(mo.bake_files(p)["bake-file-tags"][1])["target"]["docker-metadata-action"]["args"] == {
        "DOCKER_META_IMAGES": "ghcr.io/octo/app"}  # an undefined version.main is not written


def test_safe_outputs_show_what_the_run_does():
    p = plan("safe", project={"title": "T"})
    assert mo.version(p) == "1.2.3"
    assert dict(p.labels)["org.opencontainers.image.created"] == "2020-01-10T00:30:00Z"
    assert "org.opencontainers.image.description" not in dict(p.annotations)
    assert p.to_dict()["annotations"]["org.opencontainers.image.title"] == "T"
