"""One release run, typed: what was asked for, the settings, and the services every step shares.

A :class:`Run` is made once per Invoke invocation (once per target of ``release.targets`` it is about:
:func:`runs_for`, ``pipeline.targets``) from a :class:`RunRequest`: the steps that will run
(the whole chain of every image-release task in the invocation, however it was entered: ``invoke
release``, ``invoke push``, a user's task with ``pre=[release]``, the collection mounted under another
name), the chain-wide flags (``--tag``, ``--dry-run``) and each step's own options. The executor
(``image_release.tasks._executor``) builds the request from the whole list of tasks before the first
one runs; a task run without that executor makes a request from its own chain.

The run reads (environment, git, registries, forges) through adapters and keeps what it read; it
writes nothing itself: steps hand their actions to the applier (``pipeline.runner``).
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from image_release.pipeline.redact import Redactor
from image_release.settings import Settings, parse_settings


@dataclass(frozen=True)
class RunRequest:
    """What an invocation asked for, known before anything runs."""

    steps: tuple[str, ...]  # every step that will run, in chain order
    requested: tuple[str, ...] = ()  # the steps whose task was called (not only reached as a chain)
    flags: Mapping[str, Any] = field(default_factory=dict)  # chain-wide: tag, dry_run
    options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per step, e.g. plan: {json}

    def option(self, step: str, name: str, default: Any = None) -> Any:
        return (self.options.get(step) or {}).get(name, default)


def runs_for(raw_settings: Mapping | None, request: RunRequest, *, top_keys=(), **kwargs) -> list["Run"]:
    """The runs of one invocation: one per release target it reaches (without ``release.targets``,
    the one run of the project). ``top_keys``: the top-level keys of the configuration files, for the
    typo hint (``relase:``). With targets, which ones run is ``pipeline.targets``' decision."""
    from image_release.pipeline.targets import target_runs

    runs = target_runs(raw_settings, request, lambda raw, **more: Run(raw, request, **kwargs, **more))
    if runs is None:
        runs = [Run(raw_settings, request, **kwargs)]
    typo = typo_of_release(top_keys)
    for run in runs:
        run.typo_of_release = typo
    if typo and runs:
        runs[0].warn(f"invoke.yaml has a top-level key `{typo}:`; image-release reads its settings from `release:`")
    return runs


def typo_of_release(keys) -> str | None:
    """A top-level configuration key that looks like a misspelt ``release`` (Invoke's own keys aside)."""
    import difflib

    invoke_keys = {"run", "runners", "sudo", "tasks", "timeouts", "release"}
    for key in keys:
        if isinstance(key, str) and key not in invoke_keys and difflib.get_close_matches(key, ["release"], cutoff=0.7):
            return key
    return None


@dataclass
class Results:
    """What the run has done so far (the applier fills it in; failures list ``published``)."""

    image_id: str | None = None
    built_refs: tuple[str, ...] = ()
    digest: str | None = None
    build_pushed: bool = False
    published: list[str] = field(default_factory=list)
    release_url: str | None = None
    notes_file: str | None = None
    pushed: dict[str, str] = field(default_factory=dict)  # image -> the digest this run pushed
    manifests: dict[str, Any] = field(default_factory=dict)  # image -> that manifest, as read back
    resolved: dict[str, dict[str, str | None]] = field(default_factory=dict)  # image -> tag -> digest read back
    signing: Any = None  # what the sign step did (pipeline.apply_sign.SignState)


@contextmanager
def _held_group(lines: list, title: str):
    lines.append(("open", title))
    try:
        yield
    finally:
        lines.append(("close",))


class Run:
    """State and shared services of one run. Steps read through it; the applier writes."""

    def __init__(self, raw_settings: Mapping | None, request: RunRequest, *, env: Mapping[str, str] | None = None,
                 root: str | Path | None = None, invoke_dry: bool = False, out=None, err=None,
                 now: datetime | None = None, target=None, targets=(), reporter=None):
        self.env = dict(os.environ if env is None else env)
        self.root = Path(root or os.getcwd())
        raw = dict(raw_settings or {})
        for key in ("tag", "dry_run"):
            if request.flags.get(key) not in (None, False):
                raw[key] = request.flags[key]
        self.settings: Settings = parse_settings(raw)
        self.request = request
        self.dry_run = bool(self.settings.dry_run or invoke_dry)
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self.now = now or datetime.now(timezone.utc).replace(microsecond=0)
        self.redactor = Redactor.from_env(self.env, self.settings)
        self.results = Results()
        self.done: set[str] = set()
        self.checked: set[str] = set()  # steps whose checks have run
        self.registry_tags: dict[str, list[str] | None] = {}  # image -> its tag list, as read for the plan
        self.unreachable: dict[str, Exception] = {}  # image -> why its registry could not be reached
        self.cache: dict[str, Any] = {}  # reads more than one step uses (the git history for the notes)
        self.typo_of_release: str | None = None  # a top-level config key like `relase:`
        self.forge_clients: dict[Any, Any] = {}
        self.target = target  # core.targets.Target of release.targets, or None: the whole project
        self.targets = tuple(targets)  # every target of release.targets (a tag belongs to the longest prefix)
        self._context = None
        self._plan = None
        self._git = None
        self._reporter = reporter  # the invocation's, shared by its target runs
        self._registries: dict[str, Any] = {}
        self._engine = None
        self._warm: threading.Thread | None = None
        self._secret_lock = threading.Lock()
        self._held = threading.local()  # output kept by held()
        self._registry_lock = threading.RLock()
        # No ::add-mask:: for what came from the environment: on GitHub Actions the runner already masks the
        # secrets it put there, and the command would print the raw value on this process's own stdout,
        # where `tee`, log files and artifacts keep it. Only what the run learns itself is masked (secret).
        self._env_values = frozenset(v for v in self.env.values() if v)

    # -- output -----------------------------------------------------------------------------------
    def say(self, text: str = "") -> None:
        self._write(self._out, self.redactor(text))

    def warn(self, text: str) -> None:
        self._write(self._err, self.redactor(f"warning: {text}"))

    def _write(self, stream, line: str) -> None:
        held = getattr(self._held, "lines", None)
        if held is not None:
            held.append(("line", stream, line))
            return
        print(line, file=stream, flush=True)

    @contextmanager
    def held(self):
        """This thread's output (lines, warnings, groups) kept instead of written, for work done on several
        threads at once; :meth:`replay` writes it afterwards, in the order the caller chooses."""
        lines: list[tuple] = []
        self._held.lines = lines
        try:
            yield lines
        finally:
            self._held.lines = None

    def replay(self, lines: list[tuple]) -> None:
        """Write what :meth:`held` kept, groups included."""
        groups = []
        for entry in lines:
            if entry[0] == "open":
                groups.append(self.reporter.group(entry[1]))
                groups[-1].__enter__()
            elif entry[0] == "close" and groups:
                groups.pop().__exit__(None, None, None)
            elif entry[0] == "line":
                print(entry[2], file=entry[1], flush=True)
        while groups:
            groups.pop().__exit__(None, None, None)

    @property
    def reporter(self):
        if self._reporter is None:
            from image_release.adapters.ci_output import reporter_for

            self._reporter = reporter_for(self.env, out=self._out)
        return self._reporter

    def report_as(self, reporter) -> None:
        """Write the CI outputs through ``reporter`` (a target run's names: pipeline.targets)."""
        self._reporter = reporter

    def group(self, title: str):
        held = getattr(self._held, "lines", None)
        return self.reporter.group(title) if held is None else _held_group(held, title)

    def secret(self, value: str | None, user: str | None = None) -> None:
        """A secret learnt while running (a resolved password, a token; ``user``: the name it is sent with in
        Basic auth): never printed from now on, in any form. It is registered with the CI's masking only
        when the CI cannot know it (not a value of the environment: a password from the Docker config or a
        credential helper, a token fetched from a token endpoint)."""
        if value:
            with self._secret_lock:  # registry clients report fetched tokens from worker threads
                self.redactor.add(value, user=user)
                if value not in self._env_values:
                    self.reporter.mask(value)

    # -- what the run is about --------------------------------------------------------------------
    @property
    def context(self):
        if self._context is None:
            from image_release.pipeline.steps.planning import read_context

            self._context = read_context(self)
        return self._context

    @property
    def plan(self):
        if self._plan is None:
            from image_release.pipeline.steps.planning import read_and_plan

            self._plan = read_and_plan(self)
        return self._plan

    @property
    def git_tag(self) -> str | None:
        """The git tag of a tag run, in full (``api/v1.2.0`` for a target, whose ``context.tag`` is
        ``v1.2.0``): what the forge release and the changelog are for."""
        from image_release.core.targets import git_tag_of

        return git_tag_of(self.context)

    @property
    def git(self):
        """The project's git repository (adapters.git_repo.GitRepo): each read once per run."""
        if self._git is None:
            from image_release.adapters.git_repo import GitRepo

            self._git = GitRepo(self.root)
        return self._git

    def will_run(self, step: str) -> bool:
        return step in self.request.steps

    def path(self, rel: str) -> Path:
        p = Path(rel)
        return p if p.is_absolute() else self.root / p

    # -- services ---------------------------------------------------------------------------------
    def registry_for(self, image: str):
        """(ImageName, RegistryClient) for an image name; one client per registry host."""
        from image_release.core.image_ref import parse_image

        name = parse_image(image)
        with self._registry_lock:  # asked from the plan's read threads and the publish threads
            if name.registry not in self._registries:
                self._registries[name.registry] = self._registry_client(name.registry)
            return name, self._registries[name.registry]

    def _registry_client(self, host: str):
        from image_release.adapters.registry import RegistryClient
        from image_release.adapters.registry_auth import resolve_credentials

        s = self.settings
        names = (s.registry_username_env, s.registry_password_env) if s.registry_username_env else None
        creds = resolve_credentials(host, self.env, names)
        if creds is not None:
            self.secret(creds.password, user=creds.username)
        return RegistryClient(
            host, credentials=creds, retry=self.retry_policy(), timeout=s.registry_timeout, log=self.warn,
            on_secret=self.secret,  # a fetched bearer token: redacted, and masked where the CI cannot know it
        )

    def retry_policy(self):
        """The one retry policy (release.retry), for every registry and forge call."""
        from image_release.adapters.http_retry import RetryPolicy

        return RetryPolicy.from_settings(self.settings)

    def deleter_for(self, image: str):
        """The deleter for ``image``: GHCR and GitLab through their APIs, any other registry through the
        run's OCI client (same credentials, retries and request counts)."""
        from image_release.adapters.deleters import OciDeleter, deleter_from_settings

        name, client = self.registry_for(image)
        deleter = deleter_from_settings(image, self.settings, self.env, credentials=client.credentials,
                                        gitlab_registry_host=self.context.registry, log=self.warn)
        if isinstance(deleter, OciDeleter):
            return OciDeleter(client, name.repository)
        return deleter

    def engine(self):
        if self._engine is None:
            from image_release.adapters.engine import Engine

            # docker_host=None: the SDK reads DOCKER_HOST with its TLS settings (DOCKER_TLS_VERIFY,
            # DOCKER_CERT_PATH), as GitLab's docker:dind service needs.
            self._engine = Engine(docker_host=None, out=self._err, env=self.env, redact=self.redactor)
        warm = self._warm
        if warm is not None and warm is not threading.current_thread():
            warm.join()
            self._warm = None
        return self._engine

    def warm_engine(self) -> None:
        """Reach the engine in the background (the docker SDK import, the daemon's version, which CLI
        builds with BuildKit) while the plan is read and checked; the build waits for it. It only
        reads; a failure here is left for the build to report with its own message."""
        if self._warm is not None or self._engine is not None:
            return
        engine = self.engine()

        def check():
            try:
                engine.check()
            except Exception:  # noqa: BLE001 - the build step reports engine trouble properly
                pass

        self._warm = threading.Thread(target=check, name="image-release-engine", daemon=True)
        self._warm.start()
