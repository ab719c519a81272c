"""The one place where errors become a message and an exit code.

Typed errors (:class:`image_release.errors.ReleaseError`) print their message and hint; Invoke's own
configuration errors (a setting of the wrong shape, an ``INVOKE_RELEASE_*`` value that cannot be
cast) become a ConfigError naming the setting; anything else is a bug in this tool or a library: one
line, and the traceback only with ``IMAGE_RELEASE_DEBUG=1``. Everything printed goes through the
run's redactor (or, before a run exists, one made from the environment).

``boundary`` wraps every task; ``guard`` wraps the executor (whose errors come before any task);
``excepthook`` catches what Invoke itself raises while it loads the configuration (after importing
the tasks module, before any executor exists), and what the checks of ``tasks/_loading.py`` raise as
Invoke reads each config file: the same one-line errors instead of a traceback.
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
    """Invoke's own errors about the configuration, as the ConfigError they are: an ``INVOKE_*`` variable
    it cannot cast (named, with what the setting takes), a config file of an unknown type, or a setting
    whose shape differs from its default (a word where a mapping belongs, or the reverse: named as the
    settings parser names it)."""
    from invoke.config import AmbiguousMergeError
    from invoke.exceptions import AmbiguousEnvVar, UnknownFileType

    if isinstance(e, UnknownFileType):
        return ConfigError(f"{e}".replace("Config files", "configuration files"),
                           hint="give -f a .yaml, .yml, .json or .py file")
    if isinstance(e, AmbiguousEnvVar):
        return ConfigError(f"two settings map to one environment variable ({e})",
                           hint="rename one of the keys: their INVOKE_* variable names collide")
    cast = _env_cast_error(e)
    if cast is not None or not isinstance(e, AmbiguousMergeError):
        return cast
    from image_release.settings import parse_settings

    for level in ("_project", "_runtime", "_user", "_system"):
        data = getattr(config, level, None) or {}
        try:
            parse_settings(data.get("release") if isinstance(data, dict) else None)
        except ConfigError as found:
            return found
    return ConfigError(f"a setting in the Invoke configuration has the wrong shape ({e})",
                       hint="compare invoke.yaml with the settings in docs/configuration.md")


def _env_cast_error(e: BaseException) -> ConfigError | None:
    """An ``INVOKE_*`` value Invoke failed to cast to its setting's type (``abc`` or ``1e999`` for a whole
    number, any text for a list): found from the failing frame of Invoke's environment loader."""
    from invoke.env import Environment

    tb = e.__traceback__
    while tb is not None and not (tb.tb_frame.f_code.co_name == "_path_set"
                                  and isinstance(tb.tb_frame.f_locals.get("self"), Environment)):
        tb = tb.tb_next
    if tb is None:
        return None
    where = tb.tb_frame.f_locals
    keys = [str(k) for k in where.get("key_path") or ()]
    name = (getattr(where["self"], "_prefix", None) or "") + "_".join(keys).upper()
    setting, old, value = ".".join(keys), where.get("old"), str(where.get("value", ""))
    if isinstance(old, (list, tuple, dict)):
        return ConfigError(f"{name} is set, but {setting} is a list: lists and mappings cannot come from the "
                           "environment", hint=f"unset {name} and set {setting} in invoke.yaml or a -f file")
    from image_release.secret_shapes import describe

    shown = repr(value) if len(value) <= 40 and not describe(value) else f"a value of {len(value)} characters"
    kind = "a whole number" if isinstance(old, int) else "a number" if isinstance(old, float) else "a value of its type"
    return ConfigError(f"{name} is {shown}, but {setting} takes {kind}",
                       hint=f"for example {name}={old!r}" if isinstance(old, (int, float)) else f"unset {name}")


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
    """The excepthook, and the checks on what Invoke reads before any task (tasks/_loading.py)."""
    global _previous_hook
    from image_release.tasks._loading import install as install_loading

    install_loading()
    if sys.excepthook is not excepthook:
        _previous_hook = sys.excepthook
        sys.excepthook = excepthook
