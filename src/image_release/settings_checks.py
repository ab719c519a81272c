"""Checks on setting values beyond their type: numbers are finite, labels and build args have bounded sizes,
and a setting that names a variable holds a name, not a secret. ``settings.parse_settings`` calls them;
``check_sizes`` also runs on each config file as Invoke reads it (``tasks/_loading.py``). Pure.
"""

from __future__ import annotations

import math
import re
from typing import Any, Mapping

from image_release.errors import ConfigError

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Each label and build arg becomes an argument of the build's command line (`--label k=v`, `--build-arg k=v`)
# and an entry of the image config: bounded, so that a runaway config fails at once, naming the limit, not
# minutes later with "Argument list too long".
MAX_ENTRIES = 1000  # labels; and build args
MAX_NAME = 256
MAX_VALUE = 16 * 1024
MAX_TOTAL = 256 * 1024  # every label and build arg together, names and values
SIZES_HINT = (f"labels and build args go on the build's command line: at most {MAX_ENTRIES} of each, names up to "
              f"{MAX_NAME} and values up to {MAX_VALUE} characters, {MAX_TOTAL // 1024} KiB in all; put bulk data in "
              "a file of the build context instead")


def check_sizes(build: Any) -> None:
    """Refuse ``build.labels`` and ``build.args`` beyond the bounds above. ``build`` is the raw mapping, of
    any shape (what is not a mapping is left to the parser); counts come before lengths, so it is fast on
    any size."""
    total = 0
    for key in ("labels", "args"):
        entries = build.get(key) if isinstance(build, Mapping) else None
        if not isinstance(entries, Mapping):
            continue
        where = f"release.build.{key}"
        if len(entries) > MAX_ENTRIES:
            raise ConfigError(f"{where} has {len(entries)} entries; at most {MAX_ENTRIES} are allowed",
                              hint=SIZES_HINT)
        for name, value in entries.items():
            n, v = len(str(name)), len(str(value))
            if n > MAX_NAME or v > MAX_VALUE:
                what = (f"a name of {n} characters (at most {MAX_NAME})" if n > MAX_NAME
                        else f"a value of {v} characters (at most {MAX_VALUE})")
                raise ConfigError(f"{where}: {str(name)[:60]!r} has {what}", hint=SIZES_HINT)
            total += n + v + 1
    if total > MAX_TOTAL:
        raise ConfigError(f"release.build.labels and args hold {total} characters together; at most {MAX_TOTAL}",
                          hint=SIZES_HINT)


def finite(v: int | float) -> bool:
    """A number a wait or a comparison can use: not nan, not infinite, not an int beyond any float."""
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def variable_name(v: str, path: str) -> str:
    """``v`` when it is a variable name (for ``release.<path>``). The error never echoes what the setting
    holds (a token pasted in the name's place would be printed): it says what the value looks like."""
    from image_release.secret_shapes import looks_like_a_secret_not_a_name

    kind = looks_like_a_secret_not_a_name(v)
    if ENV_NAME.match(v) and not kind:
        return v
    what = f"what looks like {kind}" if kind else f"a value of {len(v)} characters that is not a variable name"
    raise ConfigError(
        f"release.{path} must name an environment variable, but it holds {what} (not shown)",
        hint="settings name the variable that holds a value (letters, digits and _, e.g. MY_TOKEN); put the value "
             "itself in that variable (a CI secret), never in a config file"
             + (", and revoke it if it was ever committed" if kind else ""),
    )
