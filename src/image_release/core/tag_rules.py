"""Tag rules in docker/metadata-action's ``tags:`` and ``flavor:`` syntax (pure).

A workflow's block moves over as it is::

    type=semver,pattern={{version}}
    type=semver,pattern={{major}}.{{minor}}
    type=raw,value=latest,enable={{is_default_branch}}

Semantics follow metadata-action v5 (README and ``src/tag.ts`` / ``src/meta.ts``):

- Each line is a CSV record of ``key=value`` fields (a field may be wrapped in double quotes to hold a
  comma); a field without ``=`` is the ``value``; a line without ``type=`` is ``type=raw``.
- Rules are sorted by ``priority`` (higher first; ties keep their order). Default priorities:
  schedule 1000, semver/pep440 900, match 800, edge 700, ref 600, raw 200, sha 100.
- The first enabled rule that yields a value gives the main tag; later distinct values follow.
  Under ``latest=auto`` that first rule decides whether ``latest`` is added (true for a stable
  semver/pep440 version, ``type=match`` and ``type=ref,event=tag``; false otherwise);
  ``latest=true``/``false`` force it. ``latest`` comes last.
- A semver prerelease (pep440 pre/post/dev release) collapses every pattern to ``{{version}}``
  unless the pattern is exactly ``{{raw}}``, and gets no ``latest``. A tag that is not a valid
  version makes those rules yield nothing.
- A rule's own ``prefix``/``suffix`` (even an empty one) replaces the flavor's. ``type=sha``
  (``sha-``) and ``type=ref,event=pr`` (``pr-``) have a default prefix, so the flavor's prefix
  does not apply to them unless the rule sets ``prefix=`` itself - as in metadata-action.
- Produced tags are sanitized (each run of characters outside ``[A-Za-z0-9._-]`` becomes ``-``);
  a tag still invalid for Docker (leading ``.``/``-``, over 128 characters) is a :class:`RuleError`.

Expressions (a Handlebars subset; ``{{x}}`` HTML-escapes like Handlebars, ``{{{x}}}`` does not):
``{{branch}}``, ``{{tag}}``, ``{{sha}}``, ``{{base_ref}}``, ``{{is_default_branch}}``,
``{{is_not_default_branch}}``, ``{{date 'FORMAT' tz='Zone'}}``, ``{{commit_date 'FORMAT' tz='Zone'}}``
(moment.js format tokens) in ``prefix``, ``suffix``, ``value`` and ``enable``; ``{{raw}}``,
``{{version}}``, ``{{major}}``, ``{{minor}}``, ``{{patch}}`` in semver/pep440 patterns; ``date`` and
``commit_date`` in schedule patterns. Anything else is a :class:`RuleError` at parse time.

Stricter than metadata-action, on purpose: unknown attributes, attributes a type does not use,
repeated attributes, empty patterns, bad regexes, a match ``group`` the regex does not have and
GitHub ``${{ }}`` expressions (which the workflow runner, not the action, evaluates) are errors that
name the line. Dates come only from ``ctx.timestamp`` / ``ctx.commit_date``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from types import MappingProxyType
from typing import Callable, Mapping, Sequence

from image_release.core.context import PR, SCHEDULE, TAG, Context
from image_release.errors import RuleError

__all__ = [
    "Rule",
    "Flavor",
    "TagOutput",
    "TYPES",
    "DEFAULT_PRIORITIES",
    "parse_rules",
    "parse_flavor",
    "evaluate",
    "render_template",
    "format_moment",
    "sanitize_tag",
    "is_valid_docker_tag",
]

# --------------------------------------------------------------------------------------------
# Data

TYPES = ("schedule", "semver", "pep440", "match", "edge", "ref", "raw", "sha")

DEFAULT_PRIORITIES: Mapping[str, int] = MappingProxyType(
    {"schedule": 1000, "semver": 900, "pep440": 900, "match": 800, "edge": 700, "ref": 600, "raw": 200, "sha": 100}
)

_COMMON_ATTRS = frozenset({"enable", "priority", "prefix", "suffix"})
_TYPE_ATTRS: Mapping[str, frozenset[str]] = {
    "schedule": frozenset({"pattern"}),
    "semver": frozenset({"pattern", "value"}),
    "pep440": frozenset({"pattern", "value"}),
    "match": frozenset({"pattern", "group", "value"}),
    "edge": frozenset({"branch"}),
    "ref": frozenset({"event"}),
    "raw": frozenset({"value"}),
    "sha": frozenset({"format"}),
}
_REF_EVENTS = ("branch", "tag", "pr")
_SHA_FORMATS = ("short", "long")
_SHORT_SHA = 7


@dataclass(frozen=True)
class Rule:
    """One parsed ``tags:`` line.

    ``attrs`` holds every attribute given plus the defaults metadata-action fills in (``enable``,
    ``priority``, schedule ``pattern``, ``value``, match ``group``, edge ``branch``, sha ``format``,
    the ``sha-``/``pr-`` prefixes). ``prefix``/``suffix`` are absent when neither the line nor the
    type sets them: then the flavor's apply.
    """

    type: str
    attrs: Mapping[str, str] = field(hash=False)
    line: str
    lineno: int
    priority: int

    def describe(self) -> str:
        return f"tag rule line {self.lineno} ({self.line.strip()!r})"


@dataclass(frozen=True)
class Flavor:
    latest: str = "auto"  # auto | true | false
    prefix: str = ""
    prefix_onlatest: bool = False
    suffix: str = ""
    suffix_onlatest: bool = False


@dataclass(frozen=True)
class TagOutput:
    value: str  # the final tag, prefix/suffix applied, sanitized
    rule: Rule | None  # the first rule (by priority) that produced it; None for the flavor's latest
    is_latest: bool  # the flavor's latest tag (possibly also produced by a rule)


# --------------------------------------------------------------------------------------------
# Errors


class _Problem(Exception):
    """A problem in one line/template, turned into a RuleError with the line by the caller."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.message = message
        self.hint = hint


def _line_error(kind: str, lineno: int, line: str, problem: _Problem) -> RuleError:
    return RuleError(f"{kind} line {lineno} ({line.strip()!r}): {problem.message}", hint=problem.hint)


# --------------------------------------------------------------------------------------------
# Templates (a Handlebars subset)

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
def _compile(text: str, allowed: frozenset) -> _Template:
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
        expr = _parse_expr(inner, text, allowed, escape=not triple)
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


def _parse_expr(inner: str, text: str, allowed: frozenset, *, escape: bool) -> _Expr:
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
        if kind in ("sq", "dq") and fmt is None and tz is None:
            fmt = _unquote(tok)
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
    return _Expr(name, fmt=fmt, tz=tz, escape=escape)


def _compile_checked(text: str, allowed: frozenset) -> _Template:
    try:
        return _compile(text, allowed)
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


# --------------------------------------------------------------------------------------------
# Dates: moment.js format tokens (locale en)

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_WEEKDAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")  # moment: 0 = Sunday
_LONG_FORMATS = {
    "LTS": "h:mm:ss A", "LT": "h:mm A", "L": "MM/DD/YYYY", "LL": "MMMM D, YYYY",
    "LLL": "MMMM D, YYYY h:mm A", "LLLL": "dddd, MMMM D, YYYY h:mm A",
    "l": "M/D/YYYY", "ll": "MMM D, YYYY", "lll": "MMM D, YYYY h:mm A", "llll": "ddd, MMM D, YYYY h:mm A",
}
_LOCAL_TOKENS = re.compile(r"(\[[^\[]*\])|(\\)?(LTS|LT|LL?L?L?|l{1,4})")
# moment's formattingTokens, verbatim (including its "w[o|w]" quirk).
_FORMAT_TOKENS = re.compile(
    r"(\[[^\[]*\])|(\\)?([Hh]mm(ss)?|Mo|MM?M?M?|Do|DDDo|DD?D?D?|ddd?d?|do?|w[o|w]?|W[o|W]?|Qo?|N{1,5}|YYYYYY|"
    r"YYYYY|YYYY|YY|y{2,4}|yo?|gg(ggg?)?|GG(GGG?)?|e|E|a|A|hh?|HH?|kk?|mm?|ss?|S{1,9}|x|X|zz?|ZZ?|.)",
    re.S,
)


def _ordinal(n: int) -> str:
    b = n % 10
    if (n % 100) // 10 == 1:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(b, "th")
    return f"{n}{suffix}"


def _zf(n: int, width: int, force_sign: bool = False) -> str:
    sign = "-" if n < 0 else ("+" if force_sign else "")
    return sign + str(abs(n)).zfill(width)


def _js_day(d: date) -> int:
    return (d.weekday() + 1) % 7  # Sunday = 0


def _first_week_offset(year: int, dow: int, doy: int) -> int:
    fwd = 7 + dow - doy
    fwdlw = (7 + _js_day(date(year, 1, fwd)) - dow) % 7
    return -fwdlw + fwd - 1


def _days_in_year(year: int) -> int:
    return 366 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 365


def _weeks_in_year(year: int, dow: int, doy: int) -> int:
    return (_days_in_year(year) - _first_week_offset(year, dow, doy) + _first_week_offset(year + 1, dow, doy)) // 7


def _locale_week(d: datetime) -> tuple[int, int]:
    """moment's week()/weekYear() for locale en (week starts Sunday, Jan 1 is in week 1)."""
    dow, doy = 0, 6
    year = d.year
    offset = _first_week_offset(year, dow, doy)
    week = (d.timetuple().tm_yday - offset - 1) // 7 + 1
    if week < 1:
        return week + _weeks_in_year(year - 1, dow, doy), year - 1
    if week > _weeks_in_year(year, dow, doy):
        return week - _weeks_in_year(year, dow, doy), year + 1
    return week, year


def _ms(d: datetime) -> int:
    return d.microsecond // 1000


def _offset(d: datetime, sep: str) -> str:
    off = d.utcoffset() or timedelta(0)
    minutes = int(off.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}{sep}{minutes % 60:02d}"


def _hour12(d: datetime) -> int:
    return d.hour % 12 or 12


def _epoch_ms(d: datetime) -> int:
    delta = d - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86400 + delta.seconds) * 1000 + delta.microseconds // 1000


def _fraction(width: int) -> Callable[[datetime], str]:
    def fmt(d: datetime) -> str:
        ms = _ms(d)
        if width == 1:
            return str(ms // 100)
        if width == 2:
            return _zf(ms // 10, 2)
        return _zf(ms, 3) + "0" * (width - 3)

    return fmt


_TOKEN_FUNCS: dict[str, Callable[[datetime], str]] = {
    "M": lambda d: str(d.month),
    "MM": lambda d: _zf(d.month, 2),
    "Mo": lambda d: _ordinal(d.month),
    "MMM": lambda d: _MONTHS[d.month - 1][:3],
    "MMMM": lambda d: _MONTHS[d.month - 1],
    "Q": lambda d: str((d.month - 1) // 3 + 1),
    "Qo": lambda d: _ordinal((d.month - 1) // 3 + 1),
    "D": lambda d: str(d.day),
    "DD": lambda d: _zf(d.day, 2),
    "Do": lambda d: _ordinal(d.day),
    "DDD": lambda d: str(d.timetuple().tm_yday),
    "DDDD": lambda d: _zf(d.timetuple().tm_yday, 3),
    "DDDo": lambda d: _ordinal(d.timetuple().tm_yday),
    "d": lambda d: str(_js_day(d)),
    "do": lambda d: _ordinal(_js_day(d)),
    "dd": lambda d: _WEEKDAYS[_js_day(d)][:2],
    "ddd": lambda d: _WEEKDAYS[_js_day(d)][:3],
    "dddd": lambda d: _WEEKDAYS[_js_day(d)],
    "e": lambda d: str(_js_day(d)),  # locale en: the week starts on Sunday
    "E": lambda d: str(d.isoweekday()),
    "w": lambda d: str(_locale_week(d)[0]),
    "ww": lambda d: _zf(_locale_week(d)[0], 2),
    "wo": lambda d: _ordinal(_locale_week(d)[0]),
    "W": lambda d: str(d.isocalendar()[1]),
    "WW": lambda d: _zf(d.isocalendar()[1], 2),
    "Wo": lambda d: _ordinal(d.isocalendar()[1]),
    "Y": lambda d: _zf(d.year, 4) if d.year <= 9999 else f"+{d.year}",
    "YY": lambda d: _zf(d.year % 100, 2),
    "YYYY": lambda d: _zf(d.year, 4),
    "YYYYY": lambda d: _zf(d.year, 5),
    "YYYYYY": lambda d: _zf(d.year, 6, force_sign=True),
    "y": lambda d: str(d.year),
    "yy": lambda d: _zf(d.year, 2),
    "yyy": lambda d: _zf(d.year, 3),
    "yyyy": lambda d: _zf(d.year, 4),
    "yo": lambda d: _ordinal(d.year),
    "N": lambda d: "AD",
    "NN": lambda d: "AD",
    "NNN": lambda d: "AD",
    "NNNN": lambda d: "Anno Domini",
    "NNNNN": lambda d: "AD",
    "gg": lambda d: _zf(_locale_week(d)[1] % 100, 2),
    "gggg": lambda d: _zf(_locale_week(d)[1], 4),
    "ggggg": lambda d: _zf(_locale_week(d)[1], 5),
    "GG": lambda d: _zf(d.isocalendar()[0] % 100, 2),
    "GGGG": lambda d: _zf(d.isocalendar()[0], 4),
    "GGGGG": lambda d: _zf(d.isocalendar()[0], 5),
    "a": lambda d: "pm" if d.hour > 11 else "am",
    "A": lambda d: "PM" if d.hour > 11 else "AM",
    "H": lambda d: str(d.hour),
    "HH": lambda d: _zf(d.hour, 2),
    "h": lambda d: str(_hour12(d)),
    "hh": lambda d: _zf(_hour12(d), 2),
    "k": lambda d: str(d.hour or 24),
    "kk": lambda d: _zf(d.hour or 24, 2),
    "m": lambda d: str(d.minute),
    "mm": lambda d: _zf(d.minute, 2),
    "s": lambda d: str(d.second),
    "ss": lambda d: _zf(d.second, 2),
    "Hmm": lambda d: f"{d.hour}{d.minute:02d}",
    "Hmmss": lambda d: f"{d.hour}{d.minute:02d}{d.second:02d}",
    "hmm": lambda d: f"{_hour12(d)}{d.minute:02d}",
    "hmmss": lambda d: f"{_hour12(d)}{d.minute:02d}{d.second:02d}",
    "X": lambda d: str(_epoch_ms(d) // 1000),
    "x": lambda d: str(_epoch_ms(d)),
    "Z": lambda d: _offset(d, ":"),
    "ZZ": lambda d: _offset(d, ""),
    "z": lambda d: d.tzname() or "",
    "zz": lambda d: d.tzname() or "",
}
for _w in range(1, 10):
    _TOKEN_FUNCS["S" * _w] = _fraction(_w)


def _expand_long_formats(fmt: str) -> str:
    def repl(m: re.Match) -> str:
        return _LONG_FORMATS.get(m.group(0), m.group(0))

    for _ in range(5):
        new = _LOCAL_TOKENS.sub(repl, fmt)
        if new == fmt:
            break
        fmt = new
    return fmt


@lru_cache(maxsize=512)
def _compile_moment(fmt: str) -> tuple:
    pieces: list = []
    for m in _FORMAT_TOKENS.finditer(_expand_long_formats(fmt)):
        tok = m.group(0)
        func = _TOKEN_FUNCS.get(tok)
        if func is not None:
            pieces.append(func)
        elif tok.startswith("[") and len(tok) > 1:
            pieces.append(tok[1:-1] if tok.endswith("]") else tok[1:])
        else:
            pieces.append(tok.replace("\\", ""))
    return tuple(pieces)


def format_moment(when: datetime, fmt: str) -> str:
    """Format ``when`` with a moment.js format string (locale en)."""
    return "".join(p if type(p) is str else p(when) for p in _compile_moment(fmt))


@lru_cache(maxsize=128)
def _zone(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return timezone.utc
    import zoneinfo

    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError, TypeError):
        pass
    # moment-timezone matches zone names case-insensitively.
    known = _zones_by_lower_name().get(name.lower())
    if known is not None:
        return zoneinfo.ZoneInfo(known)
    raise _Problem(
        f"unknown time zone {name!r}",
        "use an IANA zone name such as tz='UTC' or tz='Europe/Paris' (install the tzdata package if none work)",
    )


@lru_cache(maxsize=1)
def _zones_by_lower_name() -> Mapping[str, str]:
    import zoneinfo

    try:
        return {z.lower(): z for z in zoneinfo.available_timezones()}
    except Exception:  # pragma: no cover - a broken tz database
        return {}


# --------------------------------------------------------------------------------------------
# Versions


@dataclass(frozen=True)
class _VersionVars:
    raw: str
    version: str
    major: int
    minor: int
    patch: int
    unstable: bool  # semver prerelease, or pep440 pre/post/dev release


_NUM = r"(?:0|[1-9]\d*)"
_PRE_ID = r"(?:\d*[a-zA-Z-][a-zA-Z0-9-]*|0|[1-9]\d*)"
# node-semver's strict FULL regex: an optional leading "v", no leading zeros.
_SEMVER_RE = re.compile(
    rf"^v?({_NUM})\.({_NUM})\.({_NUM})(?:-({_PRE_ID}(?:\.{_PRE_ID})*))?(?:\+([a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*))?$",
    re.ASCII,
)
_MAX_SAFE_INTEGER = 2**53 - 1


@lru_cache(maxsize=4096)
def _parse_semver(text: str) -> _VersionVars | None:
    """Parse like node-semver's ``semver.valid``/``semver.parse`` (what metadata-action uses)."""
    raw = text.strip()
    if len(raw) > 256:
        return None
    m = _SEMVER_RE.match(raw)
    if not m:
        return None
    major, minor, patch = int(m.group(1)), int(m.group(2)), int(m.group(3))
    if max(major, minor, patch) > _MAX_SAFE_INTEGER:
        return None
    pre = m.group(4)
    version = f"{major}.{minor}.{patch}" + (f"-{pre}" if pre else "")  # node-semver drops build metadata
    return _VersionVars(raw, version, major, minor, patch, bool(pre))


@lru_cache(maxsize=4096)
def _parse_pep440(text: str) -> _VersionVars | None:
    from packaging.version import InvalidVersion, Version

    try:
        v = Version(text)
    except (InvalidVersion, TypeError, ValueError):
        return None
    unstable = v.is_prerelease or v.is_postrelease or v.is_devrelease
    return _VersionVars(text, str(v), v.major, v.minor, v.micro, unstable)


def _version_vars(version) -> _VersionVars:
    if isinstance(version, _VersionVars):
        return version
    if isinstance(version, str):
        got = _parse_semver(version) or _parse_pep440(version)
        if got is None:
            raise RuleError(f"{version!r} is neither a SemVer nor a PEP 440 version", hint="pass a version such as v1.2.3")
        return got
    try:
        import semver as _semver

        if isinstance(version, _semver.Version):
            got = _parse_semver(str(version))
            if got is not None:
                return got
    except ImportError:  # pragma: no cover
        pass
    try:
        from packaging.version import Version as _PVersion

        if isinstance(version, _PVersion):
            got = _parse_pep440(str(version))
            if got is not None:
                return got
    except ImportError:  # pragma: no cover
        pass
    raise RuleError(f"{version!r} is not a version", hint="pass a str, semver.Version or packaging Version")


# --------------------------------------------------------------------------------------------
# Evaluation environment (one per evaluate/render call)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


class _Env:
    __slots__ = ("ctx", "is_tag", "tag", "branch", "is_pr", "pr", "is_schedule", "sha", "short_sha", "_cache")

    def __init__(self, ctx: Context):
        self.ctx = ctx
        ref = ctx.ref or ""
        self.is_tag = ctx.event == TAG or ref.startswith("refs/tags/")
        self.tag = (ctx.tag or ref[len("refs/tags/"):]) if self.is_tag else ""
        if ref.startswith("refs/heads/"):
            self.branch = ref[len("refs/heads/"):]
        else:
            self.branch = ""
        self.is_pr = ctx.event == PR or ref.startswith("refs/pull/")
        if ctx.pr_number is not None:
            self.pr = str(ctx.pr_number)
        else:
            pr = ref[len("refs/pull/"):] if ref.startswith("refs/pull/") else ""
            self.pr = pr[: -len("/merge")] if pr.endswith("/merge") else pr
        self.is_schedule = ctx.event == SCHEDULE
        self.sha = ctx.sha or ""
        self.short_sha = self.sha[:_SHORT_SHA]
        self._cache: dict = {}

    def is_default_branch(self) -> bool:
        # metadata-action: the ref minus refs/heads/ equals the repository's default branch. A
        # schedule counts as the default branch only when the branch is unknown (GitHub runs
        # schedules there); GitLab schedules name their branch, which may be another one.
        ref = self.ctx.ref or ""
        name = ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref
        if not name:
            return False
        if self.ctx.default_branch:
            return name == self.ctx.default_branch
        return self.is_schedule

    def base_ref(self) -> str:
        if self.is_tag or self.is_pr:
            base = self.ctx.base_ref or ""
            return base[len("refs/heads/"):] if base.startswith("refs/heads/") else base
        return ""

    def value(self, expr: _Expr, vars: _VersionVars | None) -> str:
        name = expr.name
        if name in _VERSION_NAMES:
            assert vars is not None
            return str(getattr(vars, name))
        key = (name, expr.fmt, expr.tz)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if name == "branch":
            out = self.branch
        elif name == "tag":
            out = self.tag
        elif name == "sha":
            out = self.short_sha
        elif name == "base_ref":
            out = self.base_ref()
        elif name == "is_default_branch":
            out = "true" if self.is_default_branch() else "false"
        elif name == "is_not_default_branch":
            out = "false" if self.is_default_branch() else "true"
        else:  # date, commit_date
            when = self.ctx.timestamp
            if name == "commit_date" and self.ctx.commit_date is not None:
                when = self.ctx.commit_date
            zone = _zone(expr.tz) if expr.tz else timezone.utc
            out = format_moment(_aware(when).astimezone(zone), expr.fmt or "")
        self._cache[key] = out
        return out


# --------------------------------------------------------------------------------------------
# Parsing


def _split_csv(line: str) -> list[str]:
    """Split one CSV record (comma-separated, double quotes wrap a field, "" is a quote)."""
    fields: list[str] = []
    i, n = 0, len(line)
    while True:
        j = i
        while j < n and line[j] in " \t":
            j += 1
        if j < n and line[j] == '"':
            k = j + 1
            buf = []
            while True:
                q = line.find('"', k)
                if q < 0:
                    raise _Problem("unclosed double quote", 'close the quoted field with "')
                buf.append(line[k:q])
                if q + 1 < n and line[q + 1] == '"':
                    buf.append('"')
                    k = q + 2
                    continue
                k = q + 1
                break
            while k < n and line[k] in " \t":
                k += 1
            if k < n and line[k] != ",":
                raise _Problem("text after a closing double quote", 'quote whole fields: "pattern=a,b"')
            fields.append("".join(buf))
            if k >= n:
                return fields
            i = k + 1
        else:
            c = line.find(",", i)
            part = line[i:] if c < 0 else line[i:c]
            if '"' in part:
                raise _Problem(
                    "a double quote inside a field",
                    'double quotes may only wrap a whole field, e.g. "pattern=\\d{1,3}"',
                )
            fields.append(part)
            if c < 0:
                return fields
            i = c + 1


def _reject_actions_expr(line: str) -> None:
    if "${{" in line:
        raise _Problem(
            "contains a GitHub Actions expression ${{ ... }}",
            "the workflow runner evaluates ${{ }} before metadata-action sees it; here use a literal or a "
            "global expression such as {{is_default_branch}} or {{tag}}",
        )


def _strip_comment_line(line: str) -> str | None:
    s = line.strip()
    if not s or s.startswith("#"):
        return None
    return s


def _types_hint() -> str:
    return "types are " + ", ".join(f"type={t}" for t in TYPES)


def _attrs_hint(rtype: str) -> str:
    own = sorted(_TYPE_ATTRS[rtype])
    return f"type={rtype} takes " + ", ".join(f"{a}=" for a in own + sorted(_COMMON_ATTRS))


def _parse_rule(text: str) -> tuple[str, dict[str, str], int]:
    _reject_actions_expr(text)
    rtype: str | None = None
    attrs: dict[str, str] = {}
    bare: list[str] = []
    for raw_field in _split_csv(text):
        if not raw_field.strip():
            continue
        key, sep, val = raw_field.partition("=")
        key = key.strip().lower()
        val = val.strip()
        if not sep:
            bare.append(raw_field.strip())
            continue
        if not key:
            raise _Problem(f"field {raw_field.strip()!r} has no attribute name", "write name=value")
        if key == "type":
            if rtype is not None:
                raise _Problem("type= is given twice", "give one type= per line")
            if val not in TYPES:
                raise _Problem(f"unknown type {val!r}", _types_hint())
            rtype = val
            continue
        if key in attrs:
            raise _Problem(f"attribute {key}= is given twice", f"keep one {key}=")
        attrs[key] = val
    if rtype is None:
        rtype = "raw"
    if bare:
        if len(bare) > 1 or "value" in attrs:
            raise _Problem("more than one value", "give one value per line (quote a field that holds a comma)")
        attrs["value"] = bare[0]
    allowed = _TYPE_ATTRS[rtype] | _COMMON_ATTRS
    for key in attrs:
        if key not in allowed:
            if key == "value" and bare:
                raise _Problem(f"{bare[0]!r} has no '=' (a bare field is a value) and type={rtype} takes no value",
                               _attrs_hint(rtype))
            known = key in _COMMON_ATTRS or any(key in a for a in _TYPE_ATTRS.values())
            what = f"attribute {key}= is not used by type={rtype}" if known else f"unknown attribute {key}="
            raise _Problem(what, _attrs_hint(rtype))

    def template(key: str, scope: frozenset) -> _Template:
        try:
            return _compile_checked(attrs[key], scope)
        except _Problem as p:
            raise _Problem(f"{key}=: {p.message}", p.hint) from None

    # Type-specific defaults and checks (metadata-action's src/tag.ts, plus stricter validation).
    if rtype == "schedule":
        attrs.setdefault("pattern", "nightly")
        template("pattern", _DATE_NAMES)
    elif rtype in ("semver", "pep440"):
        if "pattern" not in attrs:
            raise _Problem(f"type={rtype} needs a pattern", "add pattern={{version}} (or {{major}}.{{minor}} ...)")
        if not attrs["pattern"]:
            raise _Problem("pattern= is empty", "write pattern={{version}}")
        template("pattern", _VERSION_NAMES)
        attrs.setdefault("value", "")
    elif rtype == "match":
        if not attrs.get("pattern"):
            raise _Problem("type=match needs a non-empty pattern (a regular expression)", r"add pattern=v(\d.\d.\d),group=1")
        attrs.setdefault("group", "0")
        group = attrs["group"]
        if not group.isdigit() or not group.isascii():
            raise _Problem(f"group={group!r} is not a group number", "use group=0 (the whole match) or group=1, 2, ...")
        regex, every = _compile_regex(attrs["pattern"])
        if not every and int(group) > regex.groups:
            raise _Problem(
                f"group={group} but the pattern has {regex.groups} capturing group(s)",
                "add parentheses to the pattern or lower group=",
            )
        attrs["group"] = str(int(group))
        attrs.setdefault("value", "")
    elif rtype == "edge":
        attrs.setdefault("branch", "")
    elif rtype == "ref":
        if "event" not in attrs:
            raise _Problem("type=ref needs event=", "add event=branch, event=tag or event=pr")
        if attrs["event"] not in _REF_EVENTS:
            raise _Problem(f"event={attrs['event']!r} is not known", "use event=branch, event=tag or event=pr")
        if attrs["event"] == "pr":
            attrs.setdefault("prefix", "pr-")
    elif rtype == "raw":
        if "value" not in attrs:
            raise _Problem("type=raw needs a value", "write type=raw,value=latest (or just latest)")
        if not attrs["value"]:
            raise _Problem("value= is empty", "write type=raw,value=latest")
    elif rtype == "sha":
        attrs.setdefault("prefix", "sha-")
        attrs.setdefault("format", "short")
        if attrs["format"] not in _SHA_FORMATS:
            raise _Problem(f"format={attrs['format']!r} is not known", "use format=short or format=long")

    if "value" in attrs and attrs["value"]:
        template("value", _GLOBAL_NAMES)
    for key in ("prefix", "suffix"):
        if key in attrs:
            template(key, _GLOBAL_NAMES)

    attrs.setdefault("enable", "true")
    enable = template("enable", _GLOBAL_NAMES)
    if enable.is_literal and attrs["enable"] not in ("true", "false"):
        raise _Problem(f"enable={attrs['enable']!r} is not true or false", "use enable=true, enable=false or enable={{is_default_branch}}")

    default_priority = DEFAULT_PRIORITIES[rtype]
    if "priority" in attrs:
        if not re.fullmatch(r"[+-]?\d{1,18}", attrs["priority"]):
            raise _Problem(f"priority={attrs['priority']!r} is not an integer", f"use a number such as priority={default_priority}")
        priority = int(attrs["priority"])
    else:
        priority = default_priority
    attrs["priority"] = str(priority)
    return rtype, attrs, priority


@lru_cache(maxsize=1024)
def _compile_regex(pattern: str) -> "tuple[re.Pattern[str], bool]":
    """Compile a metadata-action match pattern: a JS regex, optionally written /body/flags.

    Returns the regex and whether it has JS's ``g`` flag: then ``String.match`` returns every
    whole match instead of the groups, so ``group=N`` picks the N-th match (kept, as in the action).
    """
    body, flags = pattern, ""
    slashed = re.match(r"^/(.+)/(.*)$", pattern, re.S)
    if slashed:
        body, flags = slashed.group(1), slashed.group(2)
    re_flags = re.ASCII
    every = "g" in flags
    for f in flags:
        if f == "i":
            re_flags |= re.IGNORECASE
        elif f == "m":
            re_flags |= re.MULTILINE
        elif f == "s":
            re_flags |= re.DOTALL
        elif f in "gud":
            continue
        else:
            raise _Problem(
                f"regular expression flag {f!r} in {pattern!r} is not supported",
                "write /body/flags with flags from g, i, m, s, u, d - or drop the slashes for a plain pattern",
            )
    body = re.sub(r"\(\?<(?![=!])", "(?P<", body)  # JS named groups -> Python
    try:
        return re.compile(body, re_flags), every
    except (re.error, OverflowError, RecursionError, ValueError) as exc:
        raise _Problem(f"invalid regular expression {pattern!r}: {exc}", r"fix the pattern, e.g. pattern=v(\d+\.\d+\.\d+)") from None


def parse_rules(lines: Sequence[str]) -> tuple[Rule, ...]:
    """Parse ``tags:`` lines (blank lines and ``#`` comment lines are skipped; ``lineno`` is 1-based).

    Returns the rules in input order; :func:`evaluate` sorts by priority. An empty input gives no
    rules (metadata-action would fall back to its own defaults: see ``default_rules``).
    """
    rules: list[Rule] = []
    for lineno, line, text in _entries(lines, "tag rule", "rule"):
        try:
            rtype, attrs, priority = _parse_rule(text)
        except _Problem as p:
            raise _line_error("tag rule", lineno, line, p) from None
        rules.append(Rule(rtype, MappingProxyType(attrs), line.strip(), lineno, priority))
    return tuple(rules)


def _entries(lines: Sequence[str] | str, kind: str, what: str):
    """(line number, line, text) of each rule or flavor line that is not blank or a comment; line
    numbers count every line, so they match the user's config. A block scalar string is split."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    for lineno, line in enumerate(lines, 1):
        if not isinstance(line, str):
            raise RuleError(f"{kind} line {lineno} is {line!r}, not text", hint=f"give each {what} as a string")
        text = _strip_comment_line(line)
        if text is not None:
            yield lineno, line, text


def parse_flavor(lines: Sequence[str]) -> Flavor:
    """Parse ``flavor:`` lines: ``latest=auto|true|false``, ``prefix=...[,onlatest=true]``, ``suffix=...``."""
    latest, prefix, prefix_on, suffix, suffix_on = "auto", "", False, "", False
    for lineno, line, text in _entries(lines, "flavor", "flavor entry"):
        try:
            _reject_actions_expr(text)
            onlatest_for: str | None = None
            for raw_field in _split_csv(text):
                if not raw_field.strip():
                    continue
                key, sep, val = raw_field.partition("=")
                key, val = key.strip().lower(), val.strip()
                if not sep or not key:
                    raise _Problem(f"{raw_field.strip()!r} is not key=value", "write latest=auto, prefix=... or suffix=...")
                if key == "latest":
                    if val not in ("auto", "true", "false"):
                        raise _Problem(f"latest={val!r} is not auto, true or false", "use latest=auto, latest=true or latest=false")
                    latest = val
                elif key in ("prefix", "suffix"):
                    try:
                        _compile_checked(val, _GLOBAL_NAMES)
                    except _Problem as p:
                        raise _Problem(f"{key}=: {p.message}", p.hint) from None
                    if key == "prefix":
                        prefix = val
                    else:
                        suffix = val
                    onlatest_for = key
                elif key == "onlatest":
                    if val not in ("true", "false"):
                        raise _Problem(f"onlatest={val!r} is not true or false", "use onlatest=true or onlatest=false")
                    if onlatest_for is None:
                        raise _Problem("onlatest= must follow prefix= or suffix= on the same line", "write prefix=foo-,onlatest=true")
                    if onlatest_for == "prefix":
                        prefix_on = val == "true"
                    else:
                        suffix_on = val == "true"
                else:
                    hint = "flavor takes latest=, prefix=, suffix= and onlatest="
                    if key == "labelprefix":
                        hint = "labelprefix= is not supported; " + hint
                    raise _Problem(f"unknown flavor entry {key}=", hint)
        except _Problem as p:
            raise _line_error("flavor", lineno, line, p) from None
    return Flavor(latest, prefix, prefix_on, suffix, suffix_on)


# --------------------------------------------------------------------------------------------
# Evaluation

_INVALID_TAG_CHARS = re.compile(r"[^a-zA-Z0-9._-]+")
_DOCKER_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def sanitize_tag(value: str) -> str:
    """metadata-action's sanitizeTag: each run of characters outside ``[A-Za-z0-9._-]`` becomes ``-``."""
    return _INVALID_TAG_CHARS.sub("-", value)


def is_valid_docker_tag(value: str) -> bool:
    return _DOCKER_TAG.fullmatch(value) is not None


def _tpl(text: str, scope: frozenset) -> _Template:
    # Templates were validated by parse_rules; the cache makes this a dictionary lookup.
    return _compile(text, scope)


def _flavor_tpl(text: str) -> _Template:
    try:
        return _compile(text, _GLOBAL_NAMES)
    except _Problem as p:  # only for a Flavor built by hand instead of parsed
        raise RuleError(f"flavor: {p.message}", hint=p.hint) from None


class _Evaluator:
    __slots__ = ("flavor", "env", "auto")

    def __init__(self, flavor: Flavor, env: _Env):
        self.flavor = flavor
        self.env = env
        self.auto = flavor.latest == "auto"

    def latest(self, auto_value: bool) -> bool:
        return auto_value if self.auto else self.flavor.latest == "true"

    def set_value(self, val: str, rule: Rule) -> str:
        attrs = rule.attrs
        env = self.env
        if "prefix" in attrs:
            val = _render(_tpl(attrs["prefix"], _GLOBAL_NAMES), env) + val
        elif self.flavor.prefix:
            val = _render(_flavor_tpl(self.flavor.prefix), env) + val
        if "suffix" in attrs:
            val = val + _render(_tpl(attrs["suffix"], _GLOBAL_NAMES), env)
        elif self.flavor.suffix:
            val = val + _render(_flavor_tpl(self.flavor.suffix), env)
        return val

    def enabled(self, rule: Rule) -> bool:
        enable = rule.attrs["enable"]
        if enable == "true":
            return True
        if enable == "false":
            return False
        got = _render(_tpl(enable, _GLOBAL_NAMES), self.env)
        if got not in ("true", "false"):
            raise RuleError(
                f"{rule.describe()}: enable={enable!r} gives {got!r}, not true or false",
                hint="use an expression that gives true or false, such as {{is_default_branch}}",
            )
        return got == "true"

    def run(self, rule: Rule) -> tuple[str, bool] | None:
        """The rule's value (prefix/suffix applied, not yet sanitized) and its latest=auto vote."""
        env = self.env
        attrs = rule.attrs
        rtype = rule.type
        if rtype in ("semver", "pep440"):
            if not env.is_tag and not attrs["value"]:
                return None
            if attrs["value"]:
                vraw = _render(_tpl(attrs["value"], _GLOBAL_NAMES), env)
            else:
                vraw = env.tag.replace("/", "-")
            vars = _parse_semver(vraw) if rtype == "semver" else _parse_pep440(vraw)
            if vars is None:
                return None  # metadata-action warns and skips: not a valid version
            pattern = _tpl(attrs["pattern"], _VERSION_NAMES)
            if vars.unstable:
                out = _render(pattern, env, vars) if pattern.is_raw_statement else vars.version
                return self.set_value(out, rule), False
            return self.set_value(_render(pattern, env, vars), rule), True
        if rtype == "match":
            if not env.is_tag and not attrs["value"]:
                return None
            vraw = _render(_tpl(attrs["value"], _GLOBAL_NAMES), env) if attrs["value"] else env.tag
            regex, every = _compile_regex(attrs["pattern"])
            group = int(attrs["group"])
            if every:
                found = [m.group(0) for m in regex.finditer(vraw)]
                got = found[group] if group < len(found) else None
            else:
                m = regex.search(vraw)
                got = m.group(group) if m else None
            if got is None:
                return None
            return self.set_value(got, rule), True
        if rtype == "ref":
            event = attrs["event"]
            if event == "branch":
                return (self.set_value(env.branch, rule), False) if env.branch else None
            if event == "tag":
                return (self.set_value(env.tag, rule), True) if env.is_tag else None
            return (self.set_value(env.pr, rule), False) if env.is_pr else None
        if rtype == "raw":
            return self.set_value(_render(_tpl(attrs["value"], _GLOBAL_NAMES), env), rule), False
        if rtype == "sha":
            if not env.sha:
                return None
            val = env.short_sha if attrs["format"] == "short" else env.sha
            return self.set_value(val, rule), False
        if rtype == "edge":
            if not env.branch:
                return None
            target = attrs["branch"] or env.ctx.default_branch
            if target != env.branch:
                return None
            return self.set_value("edge", rule), False
        if rtype == "schedule":
            if not env.is_schedule:
                return None
            return self.set_value(_render(_tpl(attrs["pattern"], _DATE_NAMES), env), rule), False
        raise RuleError(f"{rule.describe()}: unknown type {rtype!r}", hint=_types_hint())  # pragma: no cover


def _checked(value: str, where: str) -> str:
    tag = sanitize_tag(value)
    if not is_valid_docker_tag(tag):
        if len(tag) > 128:
            why = f"it is {len(tag)} characters long (at most 128)"
        else:
            why = "it starts with '.' or '-'"
        raise RuleError(
            f"{where} gives the tag {tag!r}, which is not a valid Docker tag: {why}",
            hint="change the rule's value, prefix or pattern; a tag is [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}",
        )
    return tag


def evaluate(rules: Sequence[Rule], flavor: Flavor, ctx: Context) -> tuple[TagOutput, ...]:
    """The tags the rules give for ``ctx``, as metadata-action computes them.

    Order: the main tag (first rule by priority that yields), then the other values in priority
    order, then ``latest`` when the flavor adds it. Duplicates are dropped (the first wins; a rule
    value equal to the latest tag is marked ``is_latest``). Raises :class:`RuleError` for a tag that
    is invalid for Docker or an ``enable`` expression that is not true/false.
    """
    ev = _Evaluator(flavor, _Env(ctx))
    ordered = sorted(rules, key=lambda r: -r.priority)  # stable: ties keep input order
    out: list[TagOutput] = []
    seen: dict[str, int] = {}
    latest: bool | None = None
    for rule in ordered:
        try:
            if not ev.enabled(rule):
                continue
            res = ev.run(rule)
        except _Problem as p:  # only for a Rule/Flavor built by hand instead of parsed
            raise RuleError(f"{rule.describe()}: {p.message}", hint=p.hint) from None
        if res is None:
            continue
        value, auto_vote = res
        if not value:
            continue
        value = _checked(value, rule.describe())
        if latest is None:
            latest = ev.latest(auto_vote)
        if value not in seen:
            seen[value] = len(out)
            out.append(TagOutput(value, rule, False))
    if out and latest:
        env = ev.env
        pre = _render(_flavor_tpl(flavor.prefix), env) if flavor.prefix_onlatest and flavor.prefix else ""
        suf = _render(_flavor_tpl(flavor.suffix), env) if flavor.suffix_onlatest and flavor.suffix else ""
        value = _checked(f"{pre}latest{suf}", "the flavor's latest tag")
        if value in seen:
            idx = seen[value]
            out[idx] = TagOutput(value, out[idx].rule, True)
        else:
            out.append(TagOutput(value, None, True))
    return tuple(out)


def render_template(text: str, ctx: Context, version=None) -> str:
    """Render ``{{...}}`` expressions in ``text`` (for labels and other uses).

    The global expressions are always available; ``{{raw}}``, ``{{version}}``, ``{{major}}``,
    ``{{minor}}``, ``{{patch}}`` when ``version`` is given (a tag string such as ``v1.2.3`` - SemVer,
    else PEP 440 - a ``semver.Version`` or a ``packaging.version.Version``). ``{{x}}`` escapes HTML
    characters like Handlebars does; ``{{{x}}}`` does not.
    """
    vars = _version_vars(version) if version is not None else None
    scope = _GLOBAL_NAMES | _VERSION_NAMES if vars is not None else _GLOBAL_NAMES
    try:
        tpl = _compile_checked(text, scope)
    except _Problem as p:
        raise RuleError(f"template {text!r}: {p.message}", hint=p.hint) from None
    return _render(tpl, _Env(ctx), vars)
