"""Templates: the Handlebars subset of metadata-action's expressions (``{{x}}`` escapes HTML like
Handlebars does, ``{{{x}}}`` does not; ``{{date 'FORMAT' tz='Zone'}}``), compiled once and cached."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

from image_release.core.tag_rules.moment import _zone
from image_release.core.tag_rules.syntax import _Problem

if TYPE_CHECKING:  # pragma: no cover
    from image_release.core.tag_rules.env import _Env
    from image_release.core.tag_rules.version_parts import _VersionVars

_GLOBAL_NAMES = frozenset(
    {"branch", "tag", "sha", "base_ref", "is_default_branch", "is_not_default_branch", "date", "commit_date"}
)

_VERSION_NAMES = frozenset({"raw", "version", "major", "minor", "patch"})

_DATE_NAMES = frozenset({"date", "commit_date"})

_HTML_ESCAPE = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;", "`": "&#x60;", "=": "&#x3D;"}
)

_EXPR_TOKEN = re.compile(
    r"""\s*(?:
        (?P<sq>'(?:[^'\\]|\\.)*')
      | (?P<dq>"(?:[^"\\]|\\.)*")
      | (?P<key>[A-Za-z_][\w-]*)\s*=
      | (?P<id>[A-Za-z_@][\w.\-/]*)
      | (?P<other>\S+)
    )""",
    re.X | re.S,
)


@dataclass(frozen=True)
class _Expr:
    name: str
    fmt: str | None = None
    tz: str | None = None
    escape: bool = True
    # {{date NAME}}: Handlebars looks NAME up, finds nothing, and moment formats with its default
    default_format: bool = False


@dataclass(frozen=True)
class _Template:
    text: str
    parts: tuple  # str | _Expr
    names: frozenset
    is_raw_statement: bool  # exactly one mustache, {{raw}}: metadata-action's isRawStatement

    @property
    def is_literal(self) -> bool:
        return not self.names


def _describe_names(allowed: frozenset) -> str:
    shown = []
    for n in sorted(allowed):
        shown.append("{{" + n + " 'YYYYMMDD'}}" if n in _DATE_NAMES else "{{" + n + "}}")
    return ", ".join(shown) if shown else "none (plain text only)"


@lru_cache(maxsize=4096)
def _compile(text: str, allowed: frozenset, lenient: bool = False) -> _Template:
    parts: list = []
    names: set[str] = set()
    mustaches = 0
    raw_statement = False
    buf: list[str] = []
    i = 0
    while True:
        j = text.find("{{", i)
        if j < 0:
            buf.append(text[i:])
            break
        if j > 0 and text[j - 1] == "\\":
            if j > 1 and text[j - 2] == "\\":
                buf.append(text[i : j - 1])  # "\\{{" -> a backslash, then the mustache
            else:
                buf.append(text[i : j - 1] + "{{")  # "\{{" -> a literal "{{"
                i = j + 2
                continue
        else:
            buf.append(text[i:j])
        if text.startswith("{{!", j):
            end_mark = "--}}" if text.startswith("{{!--", j) else "}}"
            k = text.find(end_mark, j + 3)
            if k < 0:
                raise _Problem(f"unclosed comment in {text!r}", "close it with }}")
            i = k + len(end_mark)
            continue
        triple = text.startswith("{{{", j)
        close = "}}}" if triple else "}}"
        start = j + (3 if triple else 2)
        k = text.find(close, start)
        if k < 0:
            raise _Problem(f"unclosed '{{{{' in {text!r}", "close every {{ with }} (write \\{{ for a literal {{)")
        inner = text[start:k]
        i = k + len(close)
        expr = _parse_expr(inner, text, allowed, escape=not triple, lenient=lenient)
        literal = "".join(buf)
        buf = []
        if literal:
            parts.append(literal)
        parts.append(expr)
        names.add(expr.name)
        mustaches += 1
        raw_statement = expr.name == "raw"
    if buf and "".join(buf):
        parts.append("".join(buf))
    is_raw = mustaches == 1 and raw_statement and len(parts) == 1
    return _Template(text, tuple(parts), frozenset(names), is_raw)


def _unquote(tok: str) -> str:
    body = tok[1:-1]
    q = tok[0]
    return body.replace("\\" + q, q)


def _parse_expr(inner: str, text: str, allowed: frozenset, *, escape: bool, lenient: bool = False) -> _Expr:
    stripped = inner.strip()
    if not stripped:
        raise _Problem(f"empty expression {{{{}}}} in {text!r}", f"use one of {_describe_names(allowed)}")
    if stripped[0] in "#/^>&~" or stripped[-1] == "~" or stripped == "else":
        raise _Problem(
            f"unsupported Handlebars syntax {{{{{stripped}}}}} in {text!r}",
            f"only simple expressions are supported: {_describe_names(allowed)}",
        )
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(inner):
        m = _EXPR_TOKEN.match(inner, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
    if not tokens or tokens[0][0] != "id":
        raise _Problem(f"{{{{{stripped}}}}} in {text!r} is not an expression", f"use one of {_describe_names(allowed)}")
    name = tokens[0][1]
    if name not in allowed:
        if name in _GLOBAL_NAMES | _VERSION_NAMES:
            problem = f"{{{{{name}}}}} is not available here (in {text!r})"
        else:
            problem = f"unknown expression {{{{{name}}}}} in {text!r}"
        raise _Problem(problem, f"available here: {_describe_names(allowed)}")
    rest = tokens[1:]
    if name not in _DATE_NAMES:
        if rest:
            raise _Problem(f"{{{{{name}}}}} takes no arguments (in {text!r})", f"write {{{{{name}}}}}")
        return _Expr(name, escape=escape)
    fmt: str | None = None
    tz: str | None = None
    idx = 0
    hint = f"write {{{{{name} 'YYYYMMDD'}}}} or {{{{{name} 'YYYYMMDD-HHmmss' tz='Asia/Tokyo'}}}}"
    while idx < len(rest):
        kind, tok = rest[idx]
        if kind in ("sq", "dq", "id") and fmt is None and tz is None and (kind != "id" or lenient):
            fmt = _unquote(tok) if kind != "id" else ""  # lenient (metadata-action): an unquoted name is undefined
            idx += 1
        elif kind == "key":
            if tok != "tz":
                raise _Problem(f"unknown attribute {tok}= in {{{{{stripped}}}}} (in {text!r})", hint)
            if tz is not None:
                raise _Problem(f"tz= given twice in {{{{{stripped}}}}}", hint)
            if idx + 1 >= len(rest) or rest[idx + 1][0] not in ("sq", "dq"):
                raise _Problem(f"tz= needs a quoted time zone name in {{{{{stripped}}}}}", hint)
            tz = _unquote(rest[idx + 1][1])
            _zone(tz)  # validate now
            idx += 2
        else:
            raise _Problem(f"unexpected {tok!r} in {{{{{stripped}}}}} (in {text!r})", hint)
    if fmt is None:
        raise _Problem(f"{{{{{name}}}}} needs a quoted moment.js format (in {text!r})", hint)
    return _Expr(name, fmt=fmt, tz=tz, escape=escape, default_format=lenient and fmt == "" and rest[0][0] == "id")


def _compile_checked(text: str, allowed: frozenset, lenient: bool = False) -> _Template:
    try:
        return _compile(text, allowed, lenient)
    except RecursionError:  # pragma: no cover - defensive
        raise _Problem(f"template {text!r} is too complex", "simplify it") from None


def _render(tpl: _Template, env: "_Env", vars: "_VersionVars | None" = None) -> str:
    if tpl.is_literal:
        return "".join(tpl.parts)  # type: ignore[arg-type]
    out = []
    for part in tpl.parts:
        if type(part) is str:
            out.append(part)
            continue
        value = env.value(part, vars)
        out.append(value.translate(_HTML_ESCAPE) if part.escape else value)
    return "".join(out)
