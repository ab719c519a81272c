"""The release context: what is being built, and why (pure).

A :class:`Context` says which git ref triggered the run and what kind of event it is. It is
detected, first match wins, from ``--tag``, GitHub Actions, GitLab CI, or local git. The
detection here is pure: the environment is passed in as a dict and local git facts as a
:class:`GitFacts` read beforehand by ``image_release.adapters.git_repo``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Callable, Mapping

from image_release.errors import ContextError

# Event kinds, as docker/metadata-action names them in `type=ref,event=...`.
TAG = "tag"
BRANCH = "branch"
PR = "pr"
SCHEDULE = "schedule"
EVENTS = (TAG, BRANCH, PR, SCHEDULE)


@dataclass(frozen=True)
class Context:
    """Where a run comes from. ``event`` is one of tag, branch, pr, schedule."""

    event: str
    ref: str  # full ref: refs/tags/v1.2.3, refs/heads/main, refs/pull/7/merge
    sha: str = ""
    tag: str | None = None  # v1.2.3 on a tag event
    branch: str | None = None  # main on a branch event; the PR head branch on a pr event
    default_branch: str | None = None
    base_ref: str | None = None  # the PR's target branch
    pr_number: int | None = None
    repository: str | None = None  # owner/name (GitHub) or group/project path (GitLab)
    source: str = "given"  # how it was detected: cli, github, gitlab, git (local git); given: made directly
    ci: str | None = None  # github or gitlab when running in that CI (also with --tag)
    server_url: str | None = None  # https://github.com, https://gitlab.example.com
    registry_image: str | None = None  # $CI_REGISTRY_IMAGE on GitLab CI
    registry: str | None = None  # $CI_REGISTRY on GitLab CI
    timestamp: datetime = field(default_factory=lambda: datetime(1970, 1, 1, tzinfo=timezone.utc))
    commit_date: datetime | None = None
    event_name: str | None = None  # the CI's own name of the event (GitHub: push, pull_request, create, ...)
    # The commit metadata-action would name (GITHUB_SHA, or the PR head with DOCKER_METADATA_PR_HEAD_SHA=true)
    # where it differs from ``sha``; None when they are the same.
    metadata_action_sha: str | None = None

    @property
    def ref_name(self) -> str:
        for prefix in ("refs/tags/", "refs/heads/"):
            if self.ref.startswith(prefix):
                return self.ref[len(prefix):]
        return self.ref

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

    @property
    def is_default_branch(self) -> bool:
        """metadata-action's ``{{is_default_branch}}``: the ref is ``refs/heads/<default branch>``.

        A schedule whose default branch is unknown counts as the default branch, as in
        metadata-action (GitHub runs schedules on the default branch's last commit, and its
        schedule payload does not name the repository). Where the default branch is known (GitLab
        gives ``CI_DEFAULT_BRANCH``, and a GitLab schedule may target any branch), it decides.
        """
        prefix = "refs/heads/"
        name = self.ref[len(prefix):] if self.ref.startswith(prefix) else ""
        if self.default_branch:
            return bool(name) and name == self.default_branch
        return self.event == SCHEDULE and bool(name)

    def with_tag(self, tag: str) -> "Context":
        return replace(self, event=TAG, ref=f"refs/tags/{tag}", tag=tag, branch=None, pr_number=None, base_ref=None,
                       metadata_action_sha=None)

    def as_metadata_action(self) -> "Context":
        """This context as metadata-action sees it: its commit (see ``metadata_action_sha``)."""
        if self.metadata_action_sha is None:
            return self
        return replace(self, sha=self.metadata_action_sha, metadata_action_sha=None)


@dataclass(frozen=True)
class GitFacts:
    """What local git says about HEAD (read by the git adapter)."""

    sha: str = ""
    exact_tags: tuple[str, ...] = ()  # tags pointing exactly at HEAD
    branch: str | None = None  # None on a detached HEAD
    default_branch: str | None = None  # origin/HEAD, else init.defaultBranch, else None
    commit_date: datetime | None = None
    remote_url: str | None = None


def detect_context(
    env: Mapping[str, str],
    *,
    cli_tag: str | None = None,
    git: GitFacts | Callable[[], GitFacts] | None = None,
    now: datetime | None = None,
    read_file: Callable[[str], str] | None = None,
) -> Context:
    """Detect the context; first match wins: ``cli_tag``, GitHub Actions, GitLab CI, local git.

    ``git`` may be a callable so that git is only read when needed. ``read_file`` reads the
    GitHub event payload (passed in to keep this function pure); without it the payload is skipped.
    """
    now = now or datetime(1970, 1, 1, tzinfo=timezone.utc)

    def facts() -> GitFacts:
        if git is None:
            return GitFacts()
        return git() if callable(git) else git

    if env.get("GITHUB_ACTIONS") == "true":
        ctx = _from_github(env, now, read_file)
    elif env.get("GITLAB_CI") == "true" or env.get("GITLAB_CI") == "1":
        ctx = _from_gitlab(env, now)
    else:
        ctx = None

    if cli_tag is not None:
        if not cli_tag.strip():
            raise ContextError("--tag is empty", hint="pass a version tag such as --tag v1.2.3")
        base = ctx or _from_git(facts(), now, require=False)
        return replace(base.with_tag(cli_tag.strip()), source="cli")
    if ctx is not None:
        return ctx
    return _from_git(facts(), now, require=True)


def _from_github(env: Mapping[str, str], now: datetime, read_file) -> Context:
    event_name = env.get("GITHUB_EVENT_NAME", "")
    ref = env.get("GITHUB_REF", "")
    sha = env.get("GITHUB_SHA", "")
    payload = _payload(env, read_file)
    repo_info = _obj(payload.get("repository"))
    common = dict(
        sha=sha,
        default_branch=_str(repo_info.get("default_branch")),
        repository=env.get("GITHUB_REPOSITORY") or _str(repo_info.get("full_name")),
        source="github",
        ci="github",
        server_url=env.get("GITHUB_SERVER_URL", "https://github.com"),
        timestamp=now,
        commit_date=_payload_commit_date(payload, sha),
        event_name=event_name or None,
    )
    if event_name in ("pull_request", "pull_request_target"):
        return _github_pr(env, event_name, ref, payload, common)
    if ref.startswith("refs/tags/"):
        tag = ref[len("refs/tags/"):]
        # metadata-action's {{base_ref}} on a tag push: the payload's base_ref (the branch pushed with it)
        base = _str(payload.get("base_ref"))
        return Context(event=TAG, ref=ref, tag=tag, base_ref=base, **common)
    event = SCHEDULE if event_name == "schedule" else BRANCH
    if ref.startswith("refs/heads/"):
        return Context(event=event, ref=ref, branch=ref[len("refs/heads/"):], **common)
    raise ContextError(
        f"GitHub Actions ref {ref!r} is not a branch, tag or pull request",
        hint="run on push, pull_request or schedule events, or pass --tag",
    )


def _github_pr(env: Mapping[str, str], event_name: str, ref: str, payload: dict, common: dict) -> Context:
    pull = _obj(payload.get("pull_request"))
    number = _int(pull.get("number")) or _int(payload.get("number"))
    if number is None and ref.startswith("refs/pull/"):
        number = _int(ref.split("/")[2])
    if event_name == "pull_request_target" and number is not None:
        # GITHUB_REF is the base branch there; metadata-action uses the PR's merge ref instead, so
        # that type=ref,event=branch and {{is_default_branch}} do not fire on a pull request.
        ref = f"refs/pull/{number}/merge"
    head_sha = _str(_obj(pull.get("head")).get("sha"))
    wants_head = env.get("DOCKER_METADATA_PR_HEAD_SHA", "").strip().lower() == "true"
    sha = common["sha"]
    if head_sha and (event_name == "pull_request" or wants_head):
        # On pull_request, GITHUB_SHA is GitHub's synthetic merge commit: use the PR's head commit, a
        # commit that exists in the repository. On pull_request_target GITHUB_SHA is the base branch's
        # commit; DOCKER_METADATA_PR_HEAD_SHA=true asks for the head there too, as in metadata-action.
        common = dict(common, sha=head_sha)
    ma_sha = head_sha if (head_sha and wants_head) else sha
    base = _str(_obj(pull.get("base")).get("ref")) or env.get("GITHUB_BASE_REF") or None
    return Context(
        event=PR,
        ref=ref or (f"refs/pull/{number}/merge" if number is not None else "refs/pull/unknown"),
        branch=env.get("GITHUB_HEAD_REF") or None,
        base_ref=base,
        pr_number=number,
        metadata_action_sha=ma_sha if ma_sha != common["sha"] else None,
        **common,
    )


def _payload(env: Mapping[str, str], read_file) -> dict:
    path = env.get("GITHUB_EVENT_PATH")
    if not path or read_file is None:
        return {}
    try:
        return _obj(json.loads(read_file(path) or "{}"))
    except (OSError, ValueError, UnicodeError):
        return {}


def _payload_commit_date(payload: dict, sha: str) -> datetime | None:
    """The commit's date from a push payload (``commits[].timestamp``, else ``head_commit``), as
    metadata-action reads it; None when the payload does not say."""
    stamps = [c.get("timestamp") for c in payload.get("commits") or () if isinstance(c, dict) and c.get("id") == sha]
    head = _obj(payload.get("head_commit"))
    if head.get("id") == sha:
        stamps.append(head.get("timestamp"))
    for stamp in stamps:
        if isinstance(stamp, str):
            try:
                when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            except ValueError:
                continue
            return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return None


def _obj(value) -> dict:
    """A JSON object from the event payload, or {} for anything else (null, a list, a string)."""
    return value if isinstance(value, dict) else {}


def _str(value) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit() and value.isascii():
        return int(value)
    return None


def _from_gitlab(env: Mapping[str, str], now: datetime) -> Context:
    sha = env.get("CI_COMMIT_SHA", "")
    default_branch = env.get("CI_DEFAULT_BRANCH") or None
    server = env.get("CI_SERVER_URL")
    common = dict(
        sha=sha,
        default_branch=default_branch,
        repository=env.get("CI_PROJECT_PATH"),
        source="gitlab",
        ci="gitlab",
        server_url=server,
        registry_image=env.get("CI_REGISTRY_IMAGE") or None,
        registry=env.get("CI_REGISTRY") or None,
        timestamp=now,
    )
    tag = env.get("CI_COMMIT_TAG")
    if tag:
        return Context(event=TAG, ref=f"refs/tags/{tag}", tag=tag, **common)
    iid = env.get("CI_MERGE_REQUEST_IID")
    if env.get("CI_PIPELINE_SOURCE") == "merge_request_event" or iid:
        return Context(
            event=PR,
            ref=f"refs/merge-requests/{iid}/head" if iid else "refs/merge-requests/unknown",
            branch=env.get("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME") or None,
            base_ref=env.get("CI_MERGE_REQUEST_TARGET_BRANCH_NAME") or None,
            pr_number=_int(iid),
            **common,
        )
    branch = env.get("CI_COMMIT_BRANCH") or env.get("CI_COMMIT_REF_NAME")
    if branch:
        event = SCHEDULE if env.get("CI_PIPELINE_SOURCE") == "schedule" else BRANCH
        return Context(event=event, ref=f"refs/heads/{branch}", branch=branch, **common)
    raise ContextError(
        "GitLab CI gives neither CI_COMMIT_TAG, CI_COMMIT_BRANCH nor a merge request",
        hint="run the job on tags, branches or merge requests, or pass --tag",
    )


def _from_git(facts: GitFacts, now: datetime, require: bool) -> Context:
    common = dict(sha=facts.sha, default_branch=facts.default_branch, source="git", timestamp=now,
                  commit_date=facts.commit_date, **_remote_location(facts.remote_url))
    versions = tuple(t for t in facts.exact_tags if _looks_like_a_version(t))
    if versions and require:
        tag = _pick_tag(versions)
        return Context(event=TAG, ref=f"refs/tags/{tag}", tag=tag, **common)
    if facts.branch:
        return Context(event=BRANCH, ref=f"refs/heads/{facts.branch}", branch=facts.branch, **common)
    if not require:
        return Context(event=BRANCH, ref="HEAD", **common)
    if not facts.sha:
        raise ContextError(
            "no release context: not in CI, no --tag, and this is not a git repository with commits",
            hint="pass --tag v1.2.3, or run inside a git checkout",
        )
    return Context(event=BRANCH, ref="HEAD", **common)


def _remote_location(remote_url: str | None) -> dict:
    """server_url and repository from the origin remote (credentials dropped), for labels and links."""
    if not remote_url:
        return {}
    from image_release.core.changelog import web_url_from_remote

    web = web_url_from_remote(remote_url)
    if not web:
        return {}
    scheme, _, rest = web.partition("://")
    host, _, path = rest.partition("/")
    if not path:
        return {}
    return {"server_url": f"{scheme}://{host}", "repository": path}


def _looks_like_a_version(tag: str) -> bool:
    """A tag on HEAD that means a release: a digit, after an optional v (``v1.2.3``, ``1.2``, ``v01``;
    malformed ones are refused with the expected form). ``deployed-prod`` or ``nightly`` on the same
    commit are not versions: they leave the build a branch build."""
    return bool(re.match(r"^[vV]?[0-9]", tag))


def _pick_tag(tags: tuple[str, ...]) -> str:
    """Of several tags on HEAD, prefer the highest SemVer one, else the first by name."""
    from image_release.core.versions import parse_tag_lenient

    parsed = [(parse_tag_lenient(t), t) for t in tags]
    versions = [(v, t) for v, t in parsed if v is not None]
    if versions:
        return max(versions, key=lambda p: p[0])[1]
    return sorted(tags)[0]
