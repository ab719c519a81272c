"""One release run: settings parsed once, context detected once, plan computed once, shared by
every task of the chain (Invoke keeps one Config for the whole run; the session is keyed on it).

This module is the glue between the pure core and the adapters. It reads (environment, git, the
registry's tag lists); the writing steps live in ``image_release.pipeline.steps``.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from image_release.core.context import Context, detect_context
from image_release.core.plan import ReleasePlan, known_versions_from_tags, make_plan, versions_in_registry
from image_release.errors import ReleaseError
from image_release.pipeline.redact import Redactor
from image_release.settings import Settings, parse_settings

_SESSIONS: dict[int, tuple[Any, "Session"]] = {}


@dataclass
class Results:
    image_id: str | None = None
    built_refs: tuple[str, ...] = ()
    digest: str | None = None
    build_pushed: bool = False
    published: list[str] = field(default_factory=list)
    release_url: str | None = None
    notes_file: str | None = None


class Session:
    """State and shared services of one run. Create with :func:`session_for`."""

    def __init__(self, raw_settings: Mapping | None, *, env: Mapping[str, str] | None = None,
                 root: str | Path | None = None, invoke_dry: bool = False, called: tuple[str, ...] = (),
                 out=None, err=None, now: datetime | None = None):
        self.env = dict(os.environ if env is None else env)
        self.root = Path(root or os.getcwd())
        self.settings: Settings = parse_settings(raw_settings)
        self.dry_run = bool(self.settings.dry_run or invoke_dry)
        self.called = tuple(called)
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self.now = now or datetime.now(timezone.utc).replace(microsecond=0)
        self.redactor = Redactor.from_env(self.env, self.settings)
        self.results = Results()
        self._context: Context | None = None
        self._plan: ReleasePlan | None = None
        self._reporter = None
        self._registries: dict[str, Any] = {}
        self.forge_clients: dict[Any, Any] = {}  # per forge target, see pipeline.forges.client_for
        self.done: set[str] = set()
        for secret in self.redactor.values:
            self.reporter.mask(secret)

    # -- output ---------------------------------------------------------------------------
    def say(self, text: str = "") -> None:
        print(self.redactor(text), file=self._out, flush=True)

    def warn(self, text: str) -> None:
        print(self.redactor(f"warning: {text}"), file=self._err, flush=True)

    @property
    def reporter(self):
        if self._reporter is None:
            from image_release.adapters.ci_output import reporter_for

            self._reporter = reporter_for(self.env, out=self._out)
        return self._reporter

    def group(self, title: str):
        return self.reporter.group(title)

    # -- context and plan -----------------------------------------------------------------
    @property
    def context(self) -> Context:
        if self._context is None:
            from image_release.adapters.git_repo import read_facts

            self._context = detect_context(
                self.env,
                cli_tag=self.settings.tag,
                git=lambda: read_facts(self.root),
                now=self.now,
                read_file=lambda p: Path(p).read_text(),
            )
        return self._context

    @property
    def plan(self) -> ReleasePlan:
        if self._plan is None:
            ctx = self.context
            # A bad tag is rejected before any read or write (VersionError names the form).
            from image_release.core.plan import release_version

            release_version(ctx)
            warnings: list[str] = []
            known = self._known_versions(ctx, warnings) if ctx.event == "tag" else []
            self._plan = make_plan(
                ctx, self.settings, known_versions=known,
                fallback_image=f"local/{_slug(self.settings.project.get('title') or self.root.name)}",
                warnings=warnings,
            )
        return self._plan

    def _known_versions(self, ctx: Context, warnings: list[str]):
        from image_release.adapters import git_repo

        tags: list[str] = []
        kv = self.settings.known_versions
        if kv.get("git", True):
            tags += git_repo.tag_names(self.root)
        if kv.get("remote", True) and ctx.ci:
            tags += git_repo.remote_tag_names(self.root)
        versions = known_versions_from_tags(tags)
        # The registry is asked when the plan decides what is published or is what was asked for;
        # `invoke build` or `invoke build tag` publish nothing and skip the request.
        wanted = not self.called or any(t in self.called for t in ("version", "push", "release"))
        if kv.get("registry", True) and wanted:
            from image_release.core.plan import default_images

            for image in default_images(ctx, self.settings.images):
                try:
                    name, client = self.registry_for(image)
                    versions += versions_in_registry(client.list_tags(name.repository), self.settings)
                except ReleaseError as e:
                    warnings.append(
                        f"could not read the tags of {image} ({e.message}); floating tags are decided from git tags only"
                    )
        return versions

    # -- adapters -------------------------------------------------------------------------
    def registry_for(self, image: str):
        """(ImageName, RegistryClient) for an image name; clients are shared per registry host."""
        from image_release.adapters.http_retry import RetryPolicy
        from image_release.adapters.registry import RegistryClient
        from image_release.adapters.registry_auth import resolve_credentials
        from image_release.core.image_ref import parse_image

        name = parse_image(image)
        host = name.registry
        if host not in self._registries:
            s = self.settings
            names = (s.registry_username_env, s.registry_password_env) if s.registry_username_env else None
            creds = resolve_credentials(host, self.env, names)
            if creds is not None and creds.password:
                self.redactor.add(creds.password)
                self.reporter.mask(creds.password)
            self._registries[host] = RegistryClient(
                host,
                credentials=creds,
                retry=RetryPolicy(attempts=s.retry_attempts, base_delay=s.retry_base_delay, max_delay=s.retry_max_delay),
                timeout=s.registry_timeout,
                log=self.warn,
            )
        return name, self._registries[host]

    def engine(self):
        if not hasattr(self, "_engine"):
            from image_release.adapters.engine import Engine

            # docker_host=None: the SDK reads DOCKER_HOST with its TLS settings (DOCKER_TLS_VERIFY,
            # DOCKER_CERT_PATH), as GitLab's docker:dind service needs.
            self._engine = Engine(docker_host=None, out=self._err, env=self.env)
        warm = getattr(self, "_warm", None)
        if warm is not None and warm is not threading.current_thread():
            warm.join()
            self._warm = None
        return self._engine

    def warm_engine(self) -> None:
        """Reach the engine in the background (the docker SDK import, the daemon's version, which CLI
        builds with BuildKit) while the plan is read and checked; the build waits for it. It only
        reads; a failure here is left for the build to report with its own message."""
        if hasattr(self, "_warm"):
            return
        engine = self.engine()

        def check():
            try:
                engine.check()
            except Exception:  # noqa: BLE001 - the build step reports engine trouble properly
                pass

        self._warm = threading.Thread(target=check, name="image-release-engine", daemon=True)
        self._warm.start()

    def path(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else self.root / p


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-._") or "app"


def session_for(c, *, tag: str | None = None, dry_run: bool = False, **overrides) -> Session:
    """The session of this Invoke run (created on first use, then shared by every task).

    ``tag``/``dry_run`` are the flags the calling task got. The chain-aware executor has already
    made them run-wide settings; without it (a project that set another executor), a flag that
    would reach only the last task of a chain is refused rather than silently ignored.
    """
    from image_release.errors import ContextError

    config = c.config
    key = id(config)
    entry = _SESSIONS.get(key)
    if entry is None or entry[0] is not config:
        raw = dict(config.get("release") or {}) if hasattr(config, "get") else {}
        if tag:
            raw["tag"] = tag
        if dry_run:
            raw["dry_run"] = True
        root = getattr(config, "_project_prefix", None) or None
        invoke_dry = bool(config.get("run", {}).get("dry", False)) if hasattr(config, "get") else False
        called = tuple(config.get("release_called", ()) or ())
        entry = (config, Session(raw, root=root, invoke_dry=invoke_dry, called=called, **overrides))
        _SESSIONS[key] = entry
    session = entry[1]
    if (tag and tag.strip() != session.settings.tag) or (dry_run and not session.dry_run):
        raise ContextError(
            "a flag given to the last task did not reach the tasks that ran before it",
            hint="run through `image-release`, or keep Invoke's executor as image-release sets it "
                 "(tasks.executor_class: image_release.tasks._executor.ReleaseExecutor in invoke.yaml)",
        )
    return session
