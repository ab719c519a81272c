"""The runs of a monorepo invocation (``release.targets``): one per target the invocation is about.

``pipeline.run.runs_for`` calls :func:`target_runs`; the decisions are ``core.targets``'. Which
targets run:

- ``--target NAME`` (``invoke build``, ``invoke clean``): that one;
- ``invoke clean`` (retention alone): every target;
- a tag (``--tag api/v1.2.0``, or the CI's tag): the target that owns it, and no other;
- local git with tags on HEAD: each target that has one of its tags there;
- otherwise (a branch, a pull request, a schedule): every target whose paths changed since its last
  build, read here: the revision label of the image its first branch tag points at (the first that
  does not hold the commit's short sha), then the
  commits since that revision that touch its paths (``git log REV..HEAD -- PATHS``, the clone
  deepened first when it is shallow and ``release.notes.deepen`` allows). A target whose last build
  cannot be known is built; a build that publishes nothing looks nothing up and builds every target.

Every target run writes its CI outputs under its own names (``api-version``, ``api-tags``, ...; on
GitLab ``RELEASE_API_VERSION``), and, when it is the invocation's only run, under the plain names
too (:class:`TargetReporter`).
"""

from __future__ import annotations

import json
from typing import Any, Callable, Mapping

from image_release.core.context import TAG
from image_release.core.targets import REVISION_LABEL, Change, change_decision, owner_or_error
from image_release.errors import ConfigError, GitError, RegistryError, ReleaseError


def target_runs(raw: Mapping | None, request, make_run: Callable[..., Any]) -> list | None:
    """The runs of this invocation, one per target it is about; None without ``release.targets``.
    ``make_run(raw, target=, targets=, reporter=)`` makes one run."""
    from image_release.target_settings import parse_targets

    parsed = parse_targets(raw)
    if not parsed:
        return None
    targets = tuple(p.target for p in parsed)
    runs, base = [], None
    for p in parsed:
        run = make_run(p.raw, target=p.target, targets=targets, reporter=base)
        base = base or run.reporter
        runs.append(run)
    chosen = select(runs, request, targets)
    for run in chosen:
        run.report_as(TargetReporter(base, run.target.name, sole=len(chosen) == 1))
    return chosen


def named_target(request, targets):
    """The target ``--target NAME`` asks for (build or clean), or None."""
    names = {request.option(step, "target") for step in ("build", "retention")} - {None, ""}
    if len(names) > 1:
        raise ConfigError(f"two tasks of this command name different targets ({', '.join(sorted(names))})",
                          hint="name one target, or none (a tag selects its own target)")
    if not names:
        return None
    name = names.pop()
    for t in targets:
        if t.name == name:
            return t
    raise ConfigError(f"--target {name}: no such target in release.targets",
                      hint=f"the targets are {', '.join(t.name for t in targets)}")


def select(runs: list, request, targets) -> list:
    """The runs this invocation is about (see the module doc)."""
    named = named_target(request, targets)
    pool = [r for r in runs if named is None or r.target is named]
    if set(request.steps) <= {"retention"}:
        return pool
    from image_release.pipeline.steps.planning import read_context

    base = read_context(runs[0], as_target=False)
    if base.event == TAG and base.source != "git":
        owner = owner_or_error(targets, base.tag)
        if named is not None and owner is not named:
            raise ConfigError(f"--target {named.name}, but the tag {base.tag} is {owner.name}'s",
                              hint=f"drop --target, or release a tag of {named.name} ({named.tag_prefix}v1.2.3)")
        return [r for r in runs if r.target is owner]
    tagged = [r for r in pool if r.context.event == TAG]
    if tagged or named is not None:
        return tagged or pool
    return changed(pool)


def changed(runs: list) -> list:
    """The runs whose target changed since its last build (each run says why it is built or not)."""
    out = []
    for run in runs:
        change = change_of(run)
        note(run, f"target {run.target.name}: {'built' if change.build else 'not built'} - {change.reason}")
        if change.build:
            out.append(run)
    if runs and not out:
        note(runs[0], "no target changed since its last build: nothing to build")
    return out


def note(run, text: str) -> None:
    """A line about the selection: on stdout, or stderr when stdout is JSON (``version --json``)."""
    if run.request.option("plan", "json"):
        print(run.redactor(text), file=run._err, flush=True)
    else:
        run.say(text)


def change_of(run) -> Change:
    """Whether ``run``'s target is built on this branch (reads the registry and git)."""
    plan = run.plan
    if not plan.push or not plan.tags:
        return Change(True, f"this build publishes nothing, so no last build is looked up ({plan.push_reason})")
    short = plan.context.short_sha
    # the first branch tag another commit's build would also have (not `sha-1a2b3c4`, never built before)
    tag = next((t for t in plan.tags if not short or short not in t), plan.tags[0])
    image = plan.images[0]
    ref = f"{image}:{tag}"
    revision, why = last_revision(run, image, tag)
    commits = None
    if revision is not None:
        commits, why = commits_since(run, revision)
    return change_decision(run.target, ref, revision, why, commits, plan.context.sha)


def last_revision(run, image: str, tag: str) -> tuple[str | None, str | None]:
    """The revision label of ``image:tag`` in the registry (for an index, of its first image), or
    (None, why not)."""
    from image_release.adapters.signatures import get_blob

    ref = f"{image}:{tag}"
    try:
        name, client = run.registry_for(image)
        data = json.loads(client.get_manifest(name.repository, tag).raw)
        if isinstance(data.get("manifests"), list):
            first = next(m["digest"] for m in data["manifests"] if _is_image(m))
            data = json.loads(client.get_manifest(name.repository, first).raw)
        blob = get_blob(client, name.repository, data["config"]["digest"])
        labels = (json.loads(blob or b"{}").get("config") or {}).get("Labels") or {}
    except RegistryError as e:
        if e.status == 404:
            return None, f"{ref} does not exist yet"
        return None, f"{ref} could not be read: {e.message}"
    except ReleaseError as e:
        return None, f"{ref} could not be read: {e.message}"
    except (ValueError, KeyError, TypeError, StopIteration, AttributeError):
        return None, f"{ref} has no image config to read"
    revision = labels.get(REVISION_LABEL)
    if not isinstance(revision, str) or not revision.strip():
        return None, f"{ref} has no {REVISION_LABEL} label"
    return revision.strip(), None


def _is_image(descriptor: Mapping) -> bool:
    platform = descriptor.get("platform") or {}
    return platform.get("os") != "unknown" and bool(descriptor.get("digest"))  # not BuildKit's attestations


def commits_since(run, revision: str) -> tuple[list | None, str | None]:
    """The commits since ``revision`` that touch the target's paths, or (None, why not)."""
    from image_release.adapters import git_history

    if not run.git.is_repository:
        return None, "not a git repository"
    try:
        git_history.ensure_history(run.git, revision, deepen=run.settings.notes.deepen)
        return git_history.commits_between(run.git, revision, "HEAD", paths=run.target.paths), None
    except GitError as e:
        return None, f"git cannot compare {revision[:12]} with HEAD: {e.message}"


class TargetReporter:
    """A target run's view of the invocation's reporter: outputs under ``<target>-<name>`` (and the
    plain name when this is the only run), the environment only when this is the only run, the
    summary titled with the target."""

    def __init__(self, base, name: str, *, sole: bool):
        self.base, self.name, self.sole = base, name, sole

    def __getattr__(self, attr):
        return getattr(self.base, attr)

    def _named(self, outputs: Mapping) -> dict:
        named = {f"{self.name}-{k}": v for k, v in outputs.items()}
        return {**named, **outputs} if self.sole else named

    def set_outputs(self, outputs: Mapping) -> None:
        self.base.set_outputs(self._named(outputs))

    def set_env(self, variables: Mapping) -> None:
        if self.sole:
            self.base.set_env(variables)

    def set_metadata(self, outputs: Mapping, env: Mapping):
        return self.base.set_metadata(self._named(outputs), env if self.sole else {})

    def summary(self, title: str, rows) -> None:
        self.base.summary(f"{title}: {self.name}", rows)
