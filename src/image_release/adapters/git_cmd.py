"""The one way image-release runs ``git`` (subprocess; no library).

Every git process of the tool goes through :func:`run` (or :func:`spawn`, which does not raise):

- the environment: ``GIT_TERMINAL_PROMPT=0`` (never wait for a password), ``GIT_OPTIONAL_LOCKS=0``
  (reads never take the index lock, so a ``git status`` cannot disturb the user's own git),
  ``LC_ALL=C`` (messages are classified by their text); stdin is closed and the process runs in
  its own session, without a controlling terminal, so ssh cannot prompt on ``/dev/tty`` either;
- ``-c log.showSignature=false -c core.quotePath=false -c color.ui=false``: output parsed as
  plain text, whatever the user's configuration says;
- a timeout for every process (:data:`LOCAL_TIMEOUT` for reads of the repository, shorter or
  longer ones given by network commands); on timeout the whole process group is killed;
- errors: a :class:`~image_release.errors.GitError` with git's own ``fatal:`` line and a hint;
  credentials in URLs (``https://user:token@host``) are redacted from git's messages first.

stdout is read in one go with stderr spooled to a temporary file: for a 3 MB ``git log`` that is
much cheaper than ``communicate()``'s select loop.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

from image_release.errors import GitError

LOCAL_TIMEOUT = 300.0  # seconds: a guard against a hung git, not a limit on large repositories
CONFIG = ("-c", "log.showSignature=false", "-c", "core.quotePath=false", "-c", "color.ui=false")
NOT_A_REPOSITORY = "not a git repository"


def git_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment every git process gets (a copy of ``base``, default ``os.environ``)."""
    env = dict(os.environ if base is None else base)
    env["GIT_TERMINAL_PROMPT"] = "0"  # never wait for a password on a fetch
    env["GIT_OPTIONAL_LOCKS"] = "0"  # reads must not take the index lock
    env["LC_ALL"] = "C"  # stable messages, classified below
    return env


# A URL's userinfo runs to the last "@" of the URL: a token may hold "/", ":" or "%2F". A URL ends
# at whitespace, a quote or an angle bracket, as in git's messages.
_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^\s'\"<>]*@")


def redact(text: str) -> str:
    """Credentials in URLs (``https://user:token@host``) replaced by ``***``: git repeats remote
    URLs in its messages, and CI remotes often carry a token."""
    return _USERINFO.sub(lambda m: f"{m.group('scheme')}***@", text)


def spawn(root: str | os.PathLike, *args: str, timeout: float = LOCAL_TIMEOUT) -> tuple[int, str, str]:
    """Run ``git args`` in ``root``: (exit code, stdout, stderr with credentials redacted).

    Raises GitError only when git cannot run at all: ``root`` is no directory, git is not
    installed, or the timeout passed."""
    path = Path(root)
    if not path.is_dir():
        raise GitError(f"{path} does not exist or is not a directory", hint="pass the path of a git checkout")
    argv = ["git", *CONFIG, *args]
    timed_out = threading.Event()
    try:
        with tempfile.TemporaryFile() as errf:
            proc = subprocess.Popen(argv, cwd=path, env=git_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=errf, start_new_session=True)
            timer = threading.Timer(timeout, _kill, (proc, timed_out))
            timer.start()
            try:
                raw = proc.stdout.read()
                code = proc.wait()
            except BaseException:
                _kill(proc, None)
                proc.wait()
                raise
            finally:
                timer.cancel()
                proc.stdout.close()
            errf.seek(0)
            err = errf.read()
    except FileNotFoundError:
        raise GitError("git is not installed (no `git` on PATH)",
                       hint="install git (Debian: apt-get install git)") from None
    if timed_out.is_set():
        raise GitError(f"git {args[0]} did not finish within {timeout:.0f} s in {path}",
                       hint="check the network and the remote, or fetch the history before the release")
    return code, raw.decode("utf-8", "replace"), redact(err.decode("utf-8", "replace").strip())


def _kill(proc: subprocess.Popen, flag: threading.Event | None) -> None:
    if flag is not None:
        flag.set()
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # git and its helpers (remote-https, ssh)
    except (ProcessLookupError, PermissionError):
        pass


def run(root: str | os.PathLike, *args: str, timeout: float = LOCAL_TIMEOUT, what: str = "",
        ok: tuple[int, ...] = (0,)) -> str:
    """Run ``git args`` in ``root`` and return its stdout; a GitError (see :func:`error`) when the
    exit code is not in ``ok``. ``what`` names the step in the message (default ``git <command>``)."""
    code, out, err = spawn(root, *args, timeout=timeout)
    if code not in ok:
        raise error(root, err, what or f"git {args[0]}")
    return out


def error(root: str | os.PathLike, stderr: str, what: str) -> GitError:
    """The GitError for a failed git process: the common causes by name with their fix, else
    git's own ``fatal:`` line. ``stderr`` is already redacted (:func:`spawn` does it)."""
    path = Path(root)
    low = stderr.lower()
    if NOT_A_REPOSITORY in low:
        return GitError(f"{path} is not a git repository", hint="run in a git checkout or pass its path")
    if "dubious ownership" in low:
        return GitError(f"git refuses {path}: owned by another user (safe.directory)",
                        hint=f"git config --global --add safe.directory {path}")
    if "does not have any commits yet" in low:
        return no_commits(path)
    lines = stderr.splitlines()
    last = lines[-1] if lines else "no message"
    first = next((ln for ln in lines if ln.startswith("fatal:")), last)
    return GitError(f"{what} failed in {path}: {first.removeprefix('fatal: ')}")


def no_commits(path: str | os.PathLike) -> GitError:
    """The error of every history read in a repository without commits."""
    return GitError(f"the git repository {path} has no commits yet: there is no history to release",
                    hint="commit the project (`git add -A && git commit`), tag that commit, then release the tag")
