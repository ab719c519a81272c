"""Image entries in docker/metadata-action's ``images:`` syntax (pure).

Each entry is a CSV record: a bare name (``ghcr.io/acme/app``) or attributes
(``name=ghcr.io/acme/app,enable=false``). As in metadata-action, a single entry made only of bare
fields is the old format, a comma-separated list of names (``user/app,ghcr.io/user/app``). ``enable``
is ``true``, ``false`` or, beyond metadata-action, an expression of the tag rules' global ones
(``enable={{is_default_branch}}``). Names are lower-cased, as metadata-action does (an image
reference has no upper-case letters).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from image_release.core.context import Context
from image_release.core.tag_rules import render_template
from image_release.core.tag_rules.syntax import _Problem, _reject_actions_expr, _split_csv
from image_release.core.tag_rules.templates import _GLOBAL_NAMES, _compile_checked
from image_release.errors import ConfigError

_HINT = "write a name (ghcr.io/acme/app) or name=ghcr.io/acme/app,enable=false (enable: true, false or {{is_default_branch}})"


@dataclass(frozen=True)
class ImageEntry:
    name: str  # as written
    enable: str = "true"  # true | false | an expression that gives true or false


def parse_images(entries: Sequence[str]) -> tuple[ImageEntry, ...]:
    """Parse ``release.images`` entries (ConfigError naming the entry on any problem)."""
    entries = [e for e in entries if not e.strip().startswith("#")]
    if len(entries) == 1:
        fields = _fields(entries[0], 1)
        if fields and all("=" not in f for f in fields):
            return tuple(ImageEntry(f.strip()) for f in fields if f.strip())
    # a blank entry stays as it is: the image check refuses it by name ("invalid image name")
    return tuple(_entry(text, i) if text.strip() else ImageEntry(text) for i, text in enumerate(entries, 1))


def _fields(text: str, index: int) -> list[str]:
    try:
        _reject_actions_expr(text)
        return [f for f in _split_csv(text.strip()) if f.strip()]
    except _Problem as p:
        raise ConfigError(f"release.images[{index - 1}] ({text.strip()!r}): {p.message}", hint=p.hint) from None


def _entry(text: str, index: int) -> ImageEntry:
    name, enable = "", "true"
    where = f"release.images[{index - 1}] ({text.strip()!r})"
    for field in _fields(text, index):
        key, sep, val = field.partition("=")
        key, val = key.strip().lower(), val.strip()
        if not sep:
            name = field.strip()
        elif key == "name":
            name = val
        elif key == "enable":
            try:
                tpl = _compile_checked(val, _GLOBAL_NAMES)
            except _Problem as p:
                raise ConfigError(f"{where}: enable=: {p.message}", hint=p.hint) from None
            if tpl.is_literal and val not in ("true", "false"):
                raise ConfigError(f"{where}: enable={val!r} is not true or false", hint=_HINT)
            enable = val
        else:
            raise ConfigError(f"{where}: unknown image attribute {key}=", hint=_HINT)
    if not name:
        raise ConfigError(f"{where}: the image name is empty", hint=_HINT)
    return ImageEntry(name, enable)


def enabled_images(entries: Sequence[ImageEntry], ctx: Context, *, lower: bool = False) -> tuple[str, ...]:
    """The names of the entries enabled for ``ctx``, in order, without repeats (lower-cased with
    ``lower``, as metadata-action does)."""
    out: list[str] = []
    for e in entries:
        if e.enable == "false":
            continue
        if e.enable != "true":
            got = render_template(e.enable, ctx)
            if got not in ("true", "false"):
                raise ConfigError(f"image {e.name}: enable={e.enable!r} gives {got!r}, not true or false",
                                  hint="use an expression that gives true or false, such as {{is_default_branch}}")
            if got == "false":
                continue
        name = e.name.lower() if lower else e.name
        if name not in out:
            out.append(name)
    return tuple(out)
