"""SLSA provenance v1 for a published image, from what a run knows (pure: no I/O, no clock).

The predicate (https://slsa.dev/spec/v1.0/provenance) says which source was built, how and by whom:

- ``buildDefinition.buildType``: this tool's build template (``BUILD_TYPE``);
- ``buildDefinition.externalParameters``: the source (repository URL, ref), the Dockerfile and context,
  the platforms, and the build argument **names**: values can be secrets and never appear (a mapping
  given as ``build_args`` contributes its keys only);
- ``buildDefinition.resolvedDependencies``: the source at its commit (``gitCommit`` digest);
- ``runDetails.builder.id`` and ``runDetails.metadata.invocationId`` (the CI run URL), plus the start and
  finish times only when given, so a re-run of the same commit can give the same statement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from image_release.core.signing import SigningError

BUILD_TYPE = "urn:image-release:build:v1"
LOCAL_BUILDER = "urn:image-release:builder:local"
_ARG_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_COMMIT = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")


@dataclass(frozen=True)
class BuildFacts:
    """What the run knows about the build. ``build_args`` holds names only (see ``arg_names``)."""

    repository_url: str  # https://github.com/acme/app (or any git URL)
    commit: str  # full sha
    ref: str = ""  # refs/tags/v1.2.3
    builder_id: str = LOCAL_BUILDER  # e.g. https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1.2.3
    run_url: str = ""  # the CI run, e.g. https://github.com/acme/app/actions/runs/123/attempts/1
    build_args: tuple[str, ...] = ()
    dockerfile: str = ""
    context: str = ""
    platforms: tuple[str, ...] = ()
    started_on: str = ""  # RFC 3339, only when the caller wants it recorded
    finished_on: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)  # more externalParameters (names, never secrets)


def arg_names(build_args: Mapping[str, Any] | Iterable[str]) -> tuple[str, ...]:
    """The sorted, unique build argument names: a mapping gives its keys (never its values); a string
    ``NAME=value`` is refused rather than recorded, since its value could be a secret."""
    names = list(build_args.keys()) if isinstance(build_args, Mapping) else list(build_args)
    for name in names:
        if not isinstance(name, str) or not _ARG_NAME.match(name):
            shown = name.split("=", 1)[0] + "=..." if isinstance(name, str) and "=" in name else repr(name)
            raise SigningError(f"build argument name {shown} is not a plain name",
                               hint="pass the names of the build arguments only, never NAME=value")
    return tuple(sorted(set(names)))


def source_uri(repository_url: str, ref: str = "") -> str:
    """``git+https://host/owner/repo@refs/tags/v1`` (SLSA's convention for git sources)."""
    uri = repository_url if repository_url.startswith("git+") else f"git+{repository_url}"
    return f"{uri}@{ref}" if ref else uri


def provenance_predicate(facts: BuildFacts) -> dict[str, Any]:
    """The SLSA v1 provenance predicate for ``facts``."""
    if not facts.repository_url:
        raise SigningError("provenance needs the source repository URL",
                           hint="run in CI, or set the repository (release.repository) for a local run")
    if not _COMMIT.match(facts.commit or ""):
        raise SigningError(f"provenance needs the full commit sha, got {facts.commit!r}",
                           hint="build from a git checkout (git rev-parse HEAD)")
    external: dict[str, Any] = {"source": {"uri": source_uri(facts.repository_url, facts.ref)}}
    if facts.ref:
        external["ref"] = facts.ref
    if facts.dockerfile:
        external["dockerfile"] = facts.dockerfile
    if facts.context:
        external["context"] = facts.context
    if facts.platforms:
        external["platforms"] = list(facts.platforms)
    names = arg_names(facts.build_args)
    if names:
        external["buildArgs"] = list(names)
    for key, value in facts.extra.items():
        external.setdefault(key, value)
    metadata: dict[str, Any] = {}
    if facts.run_url:
        metadata["invocationId"] = facts.run_url
    if facts.started_on:
        metadata["startedOn"] = facts.started_on
    if facts.finished_on:
        metadata["finishedOn"] = facts.finished_on
    run_details: dict[str, Any] = {"builder": {"id": facts.builder_id or LOCAL_BUILDER}}
    if metadata:
        run_details["metadata"] = metadata
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": external,
            "resolvedDependencies": [
                {"uri": source_uri(facts.repository_url), "digest": {"gitCommit": facts.commit}},
            ],
        },
        "runDetails": run_details,
    }


def ci_builder(env: Mapping[str, str], ci: str | None) -> tuple[str, str]:
    """(builder id, run URL) from the CI's variables (``env`` is given, not read): on GitHub Actions the
    workflow file at its ref and the run attempt; on GitLab CI the server's runner and the job URL."""
    if ci == "github":
        server = env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        repo, run_id = env.get("GITHUB_REPOSITORY", ""), env.get("GITHUB_RUN_ID", "")
        run = f"{server}/{repo}/actions/runs/{run_id}/attempts/{env.get('GITHUB_RUN_ATTEMPT', '1')}" if (
            repo and run_id) else ""
        workflow_ref = env.get("GITHUB_WORKFLOW_REF", "")
        return (f"{server}/{workflow_ref}" if workflow_ref else LOCAL_BUILDER), run
    if ci == "gitlab":
        server = env.get("CI_SERVER_URL", "").rstrip("/")
        return (f"{server}/runner" if server else LOCAL_BUILDER), env.get("CI_JOB_URL", "")
    return LOCAL_BUILDER, ""


def facts_from_context(context: Any, env: Mapping[str, str], **more: Any) -> BuildFacts:
    """BuildFacts from the run's ``core.context.Context`` (repository, sha, ref, CI) and the CI variables
    in ``env``; ``more`` sets the other fields (build_args names, dockerfile, context, platforms, ...)."""
    server = (context.server_url or "").rstrip("/")
    repository_url = f"{server}/{context.repository}" if server and context.repository else ""
    builder_id, run_url = ci_builder(env, context.ci)
    values: dict[str, Any] = dict(repository_url=repository_url, commit=context.sha, ref=context.ref,
                                  builder_id=builder_id, run_url=run_url)
    values.update(more)
    return BuildFacts(**values)
