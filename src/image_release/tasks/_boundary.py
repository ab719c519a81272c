"""The one place where errors become a message and an exit code.

Typed errors (:class:`image_release.errors.ReleaseError`) print their message and hint; anything
else is a bug in this tool or a library: one line, redacted, and the traceback only with
``IMAGE_RELEASE_DEBUG=1`` (also redacted). Secrets never reach the terminal either way.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback

from invoke.exceptions import Exit

from image_release.errors import ReleaseError


def boundary(fn):
    @functools.wraps(fn)
    def wrapper(c, *args, **kwargs):
        try:
            return fn(c, *args, **kwargs)
        except ReleaseError as e:
            _print(c, f"error: {e}")
            raise Exit(code=e.exit_code) from None
        except (Exit, KeyboardInterrupt):
            raise
        except BrokenPipeError:  # `invoke version --json | head`: the reader left, nothing is wrong
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise Exit(code=0) from None
        except Exception as e:  # noqa: BLE001 - the boundary
            text = f"internal error in image-release: {type(e).__name__}: {e}"
            if os.environ.get("IMAGE_RELEASE_DEBUG") == "1":
                text += "\n" + "".join(traceback.format_exc())
            else:
                text += "\n  hint: re-run with IMAGE_RELEASE_DEBUG=1 for the traceback, and report it"
            _print(c, text)
            raise Exit(code=70) from None

    return wrapper


def _print(c, text: str) -> None:
    from image_release.pipeline.redact import Redactor
    from image_release.pipeline.session import _SESSIONS

    entry = _SESSIONS.get(id(c.config))
    redact = entry[1].redactor if entry else Redactor.from_env(os.environ)
    print(redact(text), file=sys.stderr, flush=True)
