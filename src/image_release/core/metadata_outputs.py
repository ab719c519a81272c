"""docker/metadata-action's outputs, from a plan (pure): the same names and the same formats, so the
steps of a workflow that read them keep working (``version``, ``tags``, ``tag-names``, ``labels``,
``annotations``, ``json``, the ``bake-file*`` files and the ``DOCKER_METADATA_OUTPUT_*`` variables).

The caller writes them ($GITHUB_OUTPUT, the environment, the bake files); nothing here does. Under
``release.semantics: metadata-action`` they are metadata-action's own for the same inputs; under
``safe`` they show what this run does (the guarded tags, this project's labels).

Annotation levels come from ``DOCKER_METADATA_ANNOTATIONS_LEVELS`` (default ``manifest``; e.g.
``manifest,index`` or ``manifest-descriptor,index-descriptor``): each annotation is written once
per level as ``LEVEL:KEY=VALUE``.
"""

from __future__ import annotations

import json
import os
import re

from image_release.core.plan import ReleasePlan

OUTPUT_NAMES = ("version", "tags", "tag-names", "labels", "annotations", "json",
                "bake-file-tags", "bake-file-labels", "bake-file-annotations", "bake-file")
DEFAULT_LEVELS = "manifest"
DEFAULT_BAKE_TARGET = "docker-metadata-action"
BAKE_FILE_NAMES = {
    "bake-file-tags": "docker-metadata-action-bake-tags.json",
    "bake-file-labels": "docker-metadata-action-bake-labels.json",
    "bake-file-annotations": "docker-metadata-action-bake-annotations.json",
    "bake-file": "docker-metadata-action-bake.json",
}


def env_name(output: str) -> str:
    """The variable metadata-action exports an output as: ``tag-names`` -> ``DOCKER_METADATA_OUTPUT_TAG_NAMES``."""
    return "DOCKER_METADATA_OUTPUT_" + re.sub(r"\W", "_", output, flags=re.ASCII).upper()


def version(plan: ReleasePlan) -> str:
    """metadata-action's ``version``: the first tag (``version.main``), or ``""`` when there is none."""
    tags = plan.tags
    return tags[0] if tags else ""


def tag_names(plan: ReleasePlan) -> list[str]:
    """``tag-names``: the tags without image names."""
    return list(plan.tags)


def image_names(plan: ReleasePlan) -> list[str]:
    """The images the tags are given to (none when the run has no image of ``release.images``)."""
    return [] if plan.local_only else list(plan.images)


def tags(plan: ReleasePlan) -> list[str]:
    """``tags``: ``image:tag`` for every image and tag (the bare tags when there is no image)."""
    names = tag_names(plan)
    images = image_names(plan)
    if not images:
        return names
    return [f"{image}:{tag}" for image in images for tag in names]


def labels(plan: ReleasePlan) -> list[str]:
    """``labels``: ``KEY=VALUE`` lines."""
    return [f"{k}={v}" for k, v in plan.labels]


def annotations(plan: ReleasePlan, levels: str = DEFAULT_LEVELS) -> list[str]:
    """``annotations``: ``LEVEL:KEY=VALUE`` for each level of ``levels`` (comma-separated)."""
    return [f"{level}:{k}={v}" for level in levels.split(",") for k, v in plan.annotations]


def json_output(plan: ReleasePlan, levels: str = DEFAULT_LEVELS) -> dict:
    """The ``json`` output as an object (:func:`outputs` gives it as metadata-action's string)."""
    return {"tags": tags(plan), "tag-names": tag_names(plan), "labels": dict(plan.labels),
            "annotations": annotations(plan, levels)}


def _bake_args(plan: ReleasePlan) -> dict:
    args = {"DOCKER_META_IMAGES": ",".join(image_names(plan))}
    if version(plan):  # JSON.stringify drops an undefined version.main
        args["DOCKER_META_VERSION"] = version(plan)
    return args


def bake_definitions(plan: ReleasePlan, levels: str = DEFAULT_LEVELS, target: str = DEFAULT_BAKE_TARGET) -> dict:
    """Each bake file's definition, by output name (``bake-file-tags``, ``-labels``, ``-annotations``,
    and ``bake-file`` with tags, labels and args)."""
    def file(body: dict) -> dict:
        return {"target": {target: body}}

    return {
        "bake-file-tags": file({"tags": tags(plan), "args": _bake_args(plan)}),
        "bake-file-labels": file({"labels": dict(plan.labels)}),
        "bake-file-annotations": file({"annotations": annotations(plan, levels)}),
        "bake-file": file({"tags": tags(plan), "labels": dict(plan.labels), "args": _bake_args(plan)}),
    }


def bake_files(plan: ReleasePlan, levels: str = DEFAULT_LEVELS, target: str = DEFAULT_BAKE_TARGET) -> dict[str, tuple[str, str]]:
    """output name -> (file name, contents), the contents as metadata-action writes them
    (``JSON.stringify(definition, null, 2)``)."""
    return {name: (BAKE_FILE_NAMES[name], json.dumps(body, indent=2, ensure_ascii=False))
            for name, body in bake_definitions(plan, levels, target).items()}


def outputs(plan: ReleasePlan, *, levels: str = DEFAULT_LEVELS, sep_tags: str = "\n", sep_labels: str = "\n",
            sep_annotations: str = "\n", bake_target: str = DEFAULT_BAKE_TARGET, bake_dir: str = "") -> dict[str, str]:
    """Every output by name, as metadata-action sets it; the ``bake-file*`` outputs are the paths of
    the files of :func:`bake_files` in ``bake_dir`` (the caller writes them there)."""
    out = {
        "version": version(plan),
        "tags": sep_tags.join(tags(plan)),
        "tag-names": sep_tags.join(tag_names(plan)),
        "labels": sep_labels.join(labels(plan)),
        "annotations": sep_annotations.join(annotations(plan, levels)),
        "json": json.dumps(json_output(plan, levels), separators=(",", ":"), ensure_ascii=False),
    }
    for name in BAKE_FILE_NAMES:
        out[name] = os.path.join(bake_dir, BAKE_FILE_NAMES[name])
    return out


def output_env(values: dict[str, str]) -> dict[str, str]:
    """The ``DOCKER_METADATA_OUTPUT_*`` variables for :func:`outputs` (metadata-action exports them
    unless ``DOCKER_METADATA_SET_OUTPUT_ENV`` is false)."""
    return {env_name(k): v for k, v in values.items()}
