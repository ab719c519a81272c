"""The one place where errors become a message and an exit code.

Typed errors (:class:`image_release.errors.ReleaseError`) print their message and hint; Invoke's own
configuration errors (a setting of the wrong shape, an ``INVOKE_RELEASE_*`` value that cannot be
cast) become a ConfigError naming the setting; anything else is a bug in this tool or a library: one
line, and the traceback only with ``IMAGE_RELEASE_DEBUG=1``. Everything printed goes through the
run's redactor (or, before a run exists, one made from the environment).

``boundary`` wraps every task; ``guard`` wraps the executor (whose errors come before any task);
``excepthook`` catches what Invoke itself raises while it loads the configuration (after importing
the tasks module, before any executor exists): the same one-line errors instead of a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import traceback

from invoke.exceptions import Exit

from image_release.errors import ConfigError, ReleaseError


def boundary(fn):
    @functools.wraps(fn)
    def wrapper(c, *args, **kwargs):
        holder = getattr(c, "release_run", None)
        with guard(lambda: getattr(holder, "redactor", None)):
            return fn(c, *args, **kwargs)

    return wrapper


@contextlib.contextmanager
def guard(redactor=lambda: None, config=None):
    """Turn what escapes the block into a message on stderr and an ``Exit``. ``config``: the Invoke
    config, to name the setting behind an Invoke merge error."""
    try:
        yield
    except (Exit, KeyboardInterrupt):
        raise
    except BrokenPipeError:  # `invoke version --json | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise Exit(code=0) from None
    except Exception as e:  # noqa: BLE001 - the boundary
        raise exit_for(e, redactor(), config) from None


def exit_for(e: BaseException, redact=None, config=None) -> Exit:
    """Print ``e`` (redacted) and return the Exit to raise: 2 for input errors, 1 for other typed errors,
    70 for a bug."""
    if redact is None:
        from image_release.pipeline.redact import Redactor

        redact = Redactor.from_env(os.environ)
    error = e if isinstance(e, ReleaseError) else _invoke_config_error(e, config)
    if error is not None:
        text, code = f"error: {error}", error.exit_code
    else:
        text, code = f"internal error in image-release: {type(e).__name__}: {e}", 70
        if os.environ.get("IMAGE_RELEASE_DEBUG") == "1":
            text += "\n" + "".join(traceback.format_exception(e))
        else:
            text += "\n  hint: re-run with IMAGE_RELEASE_DEBUG=1 for the traceback, and report it"
    print(redact(text), file=sys.stderr, flush=True)
    return Exit(code=code)


def _invoke_config_error(e: BaseException, config) -> ConfigError | None:
    """Invoke refuses to merge a setting whose shape differs from its default (a word where a mapping
    belongs, or the reverse): name the setting as the settings parser does."""
    from invoke.config import AmbiguousMergeError

    if not isinstance(e, AmbiguousMergeError):
        return None
    from image_release.settings import parse_settings

    for level in ("_project", "_runtime", "_user", "_system"):
        data = getattr(config, level, None) or {}
        try:
            parse_settings(data.get("release") if isinstance(data, dict) else None)
        except ConfigError as found:
            return found
    return ConfigError(f"a setting in the Invoke configuration has the wrong shape ({e})",
                       hint="compare invoke.yaml with the settings in docs/configuration.md")


def excepthook(kind, value, tb) -> None:
    """``sys.excepthook`` for an ``invoke`` process that imported these tasks: a configuration error
    Invoke raises outside any task becomes one error line and exit code 2; anything else is left to
    the hook that was there before."""
    error = value if isinstance(value, ReleaseError) else _invoke_config_error(value, _config_in(tb))
    if error is None:
        _previous_hook(kind, value, tb)
        return
    exit_for(error)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(error.exit_code)


def _config_in(tb):
    """The Invoke Config whose loading failed, from the failing frames (to name the setting)."""
    from invoke import Config

    while tb is not None:
        candidate = tb.tb_frame.f_locals.get("self")
        if isinstance(candidate, Config):
            return candidate
        tb = tb.tb_next
    return None


_previous_hook = sys.excepthook


def install() -> None:
    global _previous_hook
    if sys.excepthook is not excepthook:
        _previous_hook = sys.excepthook
        sys.excepthook = excepthook
