"""What a run tells its CI system: step outputs, a summary, secret masks and log groups.

:func:`reporter_for` picks the reporter for the environment it is given:

- GitHub Actions (``GITHUB_ACTIONS=true``): outputs appended to ``$GITHUB_OUTPUT`` (multi-line values with a
  random heredoc delimiter), a Markdown table appended to ``$GITHUB_STEP_SUMMARY``, ``::add-mask::`` once per
  secret, ``::group::``/``::endgroup::`` around long logs.
- GitLab CI (``GITLAB_CI=true``): outputs as a dotenv report (``RELEASE_VERSION=...``, default file
  ``release.env``, for ``artifacts: reports: dotenv``), collapsible log sections; masking is a project
  setting there, so ``mask`` does nothing. A run's first write replaces a report left by an earlier job or
  run; its later writes merge into it.
- Anywhere else: no outputs, plain headings.

Output names are ``version``, ``tags``, ``digest`` and ``release-url`` (:data:`OUTPUT_NAMES`); other names are
accepted too. A list value (tags) is written one item per line on GitHub, comma-separated in a dotenv file
(which cannot hold multi-line values).

docker/metadata-action's outputs go through :meth:`Reporter.set_metadata`: on GitHub as step outputs and as
environment variables for later steps (``$GITHUB_ENV``, :meth:`Reporter.set_env`); on GitLab only as the
variables (``DOCKER_METADATA_OUTPUT_*`` in the dotenv report), since a dotenv report holds 20 variables and
5 KB by default (:data:`DOTENV_LIMITS`; a larger report fails the job's artifact upload): the same values
under two names would not fit, and the variables that would overflow it are left out, the biggest and
most redundant first (``JSON``, then ``ANNOTATIONS``, ``LABELS``), with room kept for the digest and
release URL written after them.
"""

from __future__ import annotations

import os
import re
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence, TextIO, Union

from image_release.errors import ConfigError

OUTPUT_NAMES = ("version", "tags", "digest", "release-url")
DEFAULT_DOTENV = "release.env"
DOTENV_PREFIX = "RELEASE_"
DOTENV_LIST_SEPARATOR = ","
DOTENV_LIMITS = (20, 5 * 1024)  # GitLab's defaults for a dotenv report: variables, bytes
DOTENV_ROOM = (4, 512)  # kept free for the outputs written later in the run (digest, release URL)
_DROP_FIRST = ("DOCKER_METADATA_OUTPUT_JSON", "DOCKER_METADATA_OUTPUT_ANNOTATIONS", "DOCKER_METADATA_OUTPUT_LABELS")

Value = Union[str, Sequence[str]]

_GITHUB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_DOTENV_KEY = re.compile(r"^[A-Za-z0-9_]+$")
_SECTION_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _as_text(value: Value, sep: str) -> str:
    if isinstance(value, str):
        return value
    return sep.join(str(v) for v in value)


class Reporter:
    """The interface, and the plain behaviour: no outputs, no masks, headings for groups."""

    kind = "plain"

    def __init__(self, out: TextIO | None = None):
        self.out = out if out is not None else sys.stdout

    def _print(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def set_outputs(self, outputs: Mapping[str, Value]) -> None:
        """Publish step outputs (``version``, ``tags``, ``digest``, ``release-url``)."""

    def set_env(self, variables: Mapping[str, Value]) -> None:
        """Set environment variables for the job's later steps (where the CI can)."""

    def set_metadata(self, outputs: Mapping[str, Value], env: Mapping[str, Value]) -> tuple[str, ...]:
        """docker/metadata-action's outputs: as step outputs, and as the ``DOCKER_METADATA_OUTPUT_*``
        variables ``env`` (empty: none). Returns the names left out (GitLab's limits)."""
        self.set_outputs(outputs)
        if env:
            self.set_env(env)
        return ()

    def summary(self, title: str, rows: Sequence[tuple[str, str]]) -> None:
        """A short table of what the run did."""
        self._print(title)
        width = max((len(k) for k, _ in rows), default=0)
        for key, value in rows:
            lines = str(value).splitlines() or [""]
            self._print(f"  {key.ljust(width)}  {lines[0]}")
            for more in lines[1:]:
                self._print(f"  {''.ljust(width)}  {more}")

    def mask(self, value: str | None) -> None:
        """Ask the CI system to hide ``value`` in its logs (where it can)."""

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        """Fold the log lines written inside the block under ``title`` (where the CI can)."""
        self._print(f"==> {title}")
        yield


class PlainReporter(Reporter):
    """A terminal or an unknown CI: headings only."""


class GitHubReporter(Reporter):
    """GitHub Actions workflow commands and environment files."""

    kind = "github"

    def __init__(
        self,
        output_path: str | os.PathLike[str] | None,
        summary_path: str | os.PathLike[str] | None,
        out: TextIO | None = None,
        delimiter: Callable[[], str] | None = None,
        env_path: str | os.PathLike[str] | None = None,
    ):
        super().__init__(out)
        self.output_path = Path(output_path) if output_path else None
        self.env_path = Path(env_path) if env_path else None  # $GITHUB_ENV
        self.summary_path = Path(summary_path) if summary_path else None
        self._delimiter = delimiter or (lambda: f"ghadelimiter_{uuid.uuid4()}")
        self._masked: set[str] = set()

    @staticmethod
    def _escape_data(text: str) -> str:
        # Workflow command data escaping, as @actions/core does.
        return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")

    def _output_entry(self, name: str, value: str) -> str:
        if not _GITHUB_NAME.match(name):
            raise ConfigError(
                f"output name {name!r} is not valid on GitHub Actions",
                hint="use letters, digits, '-' and '_', starting with a letter or '_'",
            )
        if "\n" not in value and "\r" not in value:
            return f"{name}={value}\n"
        delimiter = self._delimiter()
        while delimiter in value:  # never true for a random UUID; kept for injected delimiters
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
        return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"

    def set_outputs(self, outputs: Mapping[str, Value]) -> None:
        if not outputs or self.output_path is None:
            return
        text = "".join(self._output_entry(name, _as_text(value, "\n")) for name, value in outputs.items())
        with open(self.output_path, "a", encoding="utf-8") as fh:
            fh.write(text)

    def set_env(self, variables: Mapping[str, Value]) -> None:
        # $GITHUB_ENV takes the same name=value and heredoc entries as $GITHUB_OUTPUT.
        if not variables or self.env_path is None:
            return
        text = "".join(self._output_entry(name, _as_text(value, "\n")) for name, value in variables.items())
        with open(self.env_path, "a", encoding="utf-8") as fh:
            fh.write(text)

    @staticmethod
    def _cell(text: str) -> str:
        text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")
        return "<br>".join(line for line in text.splitlines()) if "\n" in text else text

    def summary(self, title: str, rows: Sequence[tuple[str, str]]) -> None:
        if self.summary_path is None:
            return
        lines = [f"### {self._cell(title)}", "", "| | |", "| --- | --- |"]
        lines += [f"| {self._cell(key)} | {self._cell(value)} |" for key, value in rows]
        with open(self.summary_path, "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n\n")

    def mask(self, value: str | None) -> None:
        if not value:
            return
        # A multi-line secret is masked line by line, as GitHub's docs ask (the log is matched per line).
        for part in value.splitlines():
            if not part.strip() or part in self._masked:
                continue
            self._masked.add(part)
            self._print(f"::add-mask::{self._escape_data(part)}")

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        self._print(f"::group::{self._escape_data(title)}")
        try:
            yield
        finally:
            self._print("::endgroup::")


class GitLabReporter(Reporter):
    """GitLab CI: a dotenv report and collapsible log sections.

    One reporter serves one run: its first :meth:`set_outputs` replaces whatever report is at ``dotenv_path``
    (a file left by an earlier job or run must not lend this run its digest or release URL), later ones merge
    into what this run wrote. ``merge=True`` makes even the first write merge: for a second writer of the same
    run (another task of the same job).
    """

    kind = "gitlab"

    def __init__(
        self,
        dotenv_path: str | os.PathLike[str] = DEFAULT_DOTENV,
        out: TextIO | None = None,
        clock: Callable[[], float] = time.time,
        *,
        merge: bool = False,
    ):
        super().__init__(out)
        self.dotenv_path = Path(dotenv_path)
        self._clock = clock
        self._sections: dict[str, int] = {}
        self._merge = merge  # False until this run's first write: that one replaces the file

    @staticmethod
    def dotenv_key(name: str) -> str:
        """``release-url`` -> ``RELEASE_URL``, ``version`` -> ``RELEASE_VERSION``."""
        key = re.sub(r"[^A-Za-z0-9_]", "_", name).upper()
        if not key.startswith(DOTENV_PREFIX):
            key = DOTENV_PREFIX + key
        if not _DOTENV_KEY.match(key):
            raise ConfigError(f"output name {name!r} cannot be a dotenv variable", hint="use letters and digits")
        return key

    @staticmethod
    def dotenv_value(value: Value) -> str:
        # GitLab's dotenv parser takes one line per variable, keeps quotes as they are and strips blanks.
        if isinstance(value, str):
            items = value.splitlines()
        else:
            items = [str(v) for v in value]
        return DOTENV_LIST_SEPARATOR.join(item.strip() for item in items if item.strip())

    def _read(self) -> dict[str, str]:
        found: dict[str, str] = {}
        try:
            text = self.dotenv_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return found
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep and _DOTENV_KEY.match(key):
                found[key] = value
        return found

    def set_outputs(self, outputs: Mapping[str, Value]) -> None:
        self._write({self.dotenv_key(name): value for name, value in outputs.items()})

    def set_env(self, variables: Mapping[str, Value]) -> None:
        for key in variables:
            if not _DOTENV_KEY.match(key):
                raise ConfigError(f"variable name {key!r} cannot be a dotenv variable", hint="use letters and digits")
        self._write(variables)

    def set_metadata(self, outputs: Mapping[str, Value], env: Mapping[str, Value]) -> tuple[str, ...]:
        # the variables alone, within the report's limits: see the module doc
        env, dropped = dict(env), []
        while env and not self._fits(env):
            name = next((n for n in _DROP_FIRST if n in env), list(env)[-1])
            env.pop(name)
            dropped.append(name)
        if env:
            self.set_env(env)
        return tuple(dropped)

    def _fits(self, entries: Mapping[str, Value]) -> bool:
        merged = {**(self._read() if self._merge else {}), **{k: self.dotenv_value(v) for k, v in entries.items()}}
        size = sum(len(f"{k}={v}\n".encode()) for k, v in merged.items())
        return len(merged) + DOTENV_ROOM[0] <= DOTENV_LIMITS[0] and size + DOTENV_ROOM[1] <= DOTENV_LIMITS[1]

    def _write(self, entries: Mapping[str, Value]) -> None:
        if not entries:
            return
        # The first write of the run replaces an older report; later ones add to it (the last value wins).
        merged = self._read() if self._merge else {}
        for key, value in entries.items():
            merged[key] = self.dotenv_value(value)
        text = "".join(f"{key}={value}\n" for key, value in merged.items())
        self.dotenv_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.dotenv_path.with_name(self.dotenv_path.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, self.dotenv_path)
        self._merge = True

    def _section_name(self, title: str) -> str:
        base = _SECTION_UNSAFE.sub("_", title.lower()).strip("_") or "section"
        base = base[:60]
        n = self._sections.get(base, 0) + 1
        self._sections[base] = n
        return base if n == 1 else f"{base}_{n}"

    @contextmanager
    def group(self, title: str) -> Iterator[None]:
        name = self._section_name(title)
        header = title.replace("\r", " ").replace("\n", " ")
        self._print(f"\x1b[0Ksection_start:{int(self._clock())}:{name}[collapsed=true]\r\x1b[0K{header}")
        try:
            yield
        finally:
            self._print(f"\x1b[0Ksection_end:{int(self._clock())}:{name}\r\x1b[0K")


def reporter_for(
    env: Mapping[str, str],
    out: TextIO | None = None,
    *,
    dotenv_path: str | os.PathLike[str] | None = None,
) -> Reporter:
    """The reporter for the CI system ``env`` describes (GitHub Actions, GitLab CI, or plain).

    ``dotenv_path`` (GitLab): the report file; a relative path is taken from ``$CI_PROJECT_DIR`` when set
    (where the runner looks for ``artifacts: reports: dotenv``), else from the working directory.
    """
    out = out if out is not None else sys.stdout
    if env.get("GITHUB_ACTIONS") == "true":
        return GitHubReporter(env.get("GITHUB_OUTPUT") or None, env.get("GITHUB_STEP_SUMMARY") or None, out,
                              env_path=env.get("GITHUB_ENV") or None)
    if env.get("GITLAB_CI") == "true":
        path = Path(dotenv_path or DEFAULT_DOTENV)
        if not path.is_absolute() and env.get("CI_PROJECT_DIR"):
            path = Path(env["CI_PROJECT_DIR"]) / path
        return GitLabReporter(path, out)
    return PlainReporter(out)
