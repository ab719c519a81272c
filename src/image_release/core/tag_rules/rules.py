"""The rule and flavor syntax: ``tags:`` lines into :class:`Rule` objects (types, attributes,
defaults, priorities) and ``flavor:`` lines into a :class:`Flavor`, checked at parse time."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Mapping, Sequence

from image_release.core.tag_rules.syntax import _entries, _line_error, _Problem, _reject_actions_expr, _split_csv
from image_release.core.tag_rules.templates import _DATE_NAMES, _GLOBAL_NAMES, _VERSION_NAMES, _compile_checked, _Template

TYPES = ("schedule", "semver", "pep440", "match", "edge", "ref", "raw", "sha")

DEFAULT_PRIORITIES: Mapping[str, int] = MappingProxyType(
    {"schedule": 1000, "semver": 900, "pep440": 900, "match": 800, "edge": 700, "ref": 600, "raw": 200, "sha": 100}
)

_COMMON_ATTRS = frozenset({"enable", "priority", "prefix", "suffix"})

_TYPE_ATTRS: Mapping[str, frozenset[str]] = {
    "schedule": frozenset({"pattern"}),
    "semver": frozenset({"pattern", "value", "match"}),
    "pep440": frozenset({"pattern", "value", "match"}),
    "match": frozenset({"pattern", "group", "value"}),
    "edge": frozenset({"branch"}),
    "ref": frozenset({"event"}),
    "raw": frozenset({"value"}),
    "sha": frozenset({"format"}),
}

_REF_EVENTS = ("branch", "tag", "pr")

_SHA_FORMATS = ("short", "long")


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
    lenient: bool = False  # parsed as metadata-action parses it (see parse_rules)

    def describe(self) -> str:
        return f"tag rule line {self.lineno} ({self.line.strip()!r})"


@dataclass(frozen=True)
class Flavor:
    latest: str = "auto"  # auto | true | false
    prefix: str = ""
    prefix_onlatest: bool = False
    suffix: str = ""
    suffix_onlatest: bool = False


def _types_hint() -> str:
    return "types are " + ", ".join(f"type={t}" for t in TYPES)


def _attrs_hint(rtype: str) -> str:
    own = sorted(_TYPE_ATTRS[rtype])
    return f"type={rtype} takes " + ", ".join(f"{a}=" for a in own + sorted(_COMMON_ATTRS))


def _parse_rule(text: str, lenient: bool = False) -> tuple[str, dict[str, str], int]:
    """One ``tags:`` line: its type, its attributes with metadata-action's defaults, its priority."""
    _reject_actions_expr(text)
    rtype, attrs, bare = _read_fields(text)
    _check_attrs_allowed(rtype, attrs, bare)

    def template(key: str, scope: frozenset) -> _Template:
        try:
            return _compile_checked(attrs[key], scope, lenient)
        except _Problem as p:
            raise _Problem(f"{key}=: {p.message}", p.hint) from None

    _TYPE_DEFAULTS[rtype](attrs, template, lenient)
    if "value" in attrs and attrs["value"]:
        template("value", _GLOBAL_NAMES)
    for key in ("prefix", "suffix"):
        if key in attrs:
            template(key, _GLOBAL_NAMES)
    attrs.setdefault("enable", "true")
    enable = template("enable", _GLOBAL_NAMES)
    if enable.is_literal and attrs["enable"] not in ("true", "false"):
        raise _Problem(f"enable={attrs['enable']!r} is not true or false", "use enable=true, enable=false or enable={{is_default_branch}}")
    priority = _priority(rtype, attrs)
    attrs["priority"] = str(priority)
    return rtype, attrs, priority


def _read_fields(text: str) -> tuple[str, dict[str, str], list[str]]:
    """The line's fields: its type (``raw`` when none is given), its ``key=value`` attributes (keys
    lower-cased, values trimmed) and its bare fields (a field without ``=`` is the value)."""
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
    if bare:
        if len(bare) > 1 or "value" in attrs:
            raise _Problem("more than one value", "give one value per line (quote a field that holds a comma)")
        attrs["value"] = bare[0]
    return rtype or "raw", attrs, bare


def _check_attrs_allowed(rtype: str, attrs: Mapping[str, str], bare: Sequence[str]) -> None:
    allowed = _TYPE_ATTRS[rtype] | _COMMON_ATTRS
    for key in attrs:
        if key not in allowed:
            if key == "value" and bare:
                raise _Problem(f"{bare[0]!r} has no '=' (a bare field is a value) and type={rtype} takes no value",
                               _attrs_hint(rtype))
            known = key in _COMMON_ATTRS or any(key in a for a in _TYPE_ATTRS.values())
            what = f"attribute {key}= is not used by type={rtype}" if known else f"unknown attribute {key}="
            raise _Problem(what, _attrs_hint(rtype))


def _priority(rtype: str, attrs: Mapping[str, str]) -> int:
    default_priority = DEFAULT_PRIORITIES[rtype]
    if "priority" not in attrs:
        return default_priority
    if not re.fullmatch(r"[+-]?\d{1,18}", attrs["priority"]):
        raise _Problem(f"priority={attrs['priority']!r} is not an integer", f"use a number such as priority={default_priority}")
    return int(attrs["priority"])


# Type-specific defaults and checks (metadata-action's src/tag.ts, plus stricter validation). Each
# gets the attributes (to fill in), ``template(key, scope)``, which compiles and checks one, and
# whether the parse is lenient (metadata-action semantics, see parse_rules).


def _schedule_defaults(attrs: dict[str, str], template, lenient: bool) -> None:
    attrs.setdefault("pattern", "nightly")
    template("pattern", _DATE_NAMES)


def _version_defaults(rtype: str):
    def defaults(attrs: dict[str, str], template, lenient: bool) -> None:
        if "pattern" not in attrs:
            raise _Problem(f"type={rtype} needs a pattern", "add pattern={{version}} (or {{major}}.{{minor}} ...)")
        if not attrs["pattern"]:
            raise _Problem("pattern= is empty", "write pattern={{version}}")
        template("pattern", _VERSION_NAMES)
        attrs.setdefault("value", "")
        if attrs.get("match"):
            regex, _ = _compile_regex(attrs["match"], slashed=False)
            if regex.groups < 1:
                raise _Problem(
                    f"match={attrs['match']!r} has no capturing group: the version is the first group",
                    r"put the version in parentheses, e.g. match=v(\d.\d.\d)$ or match=p1/v(.*)",
                )

    return defaults


def _match_defaults(attrs: dict[str, str], template, lenient: bool) -> None:
    if not attrs.get("pattern"):
        raise _Problem("type=match needs a non-empty pattern (a regular expression)", r"add pattern=v(\d.\d.\d),group=1")
    attrs.setdefault("group", "0")
    group = attrs["group"]
    if not group.isdigit() or not group.isascii():
        raise _Problem(f"group={group!r} is not a group number", "use group=0 (the whole match) or group=1, 2, ...")
    regex, every = _compile_regex(attrs["pattern"])
    if not every and int(group) > regex.groups and not lenient:
        raise _Problem(
            f"group={group} but the pattern has {regex.groups} capturing group(s)",
            "add parentheses to the pattern or lower group=",
        )
    attrs["group"] = str(int(group))
    attrs.setdefault("value", "")


def _edge_defaults(attrs: dict[str, str], template, lenient: bool) -> None:
    attrs.setdefault("branch", "")


def _ref_defaults(attrs: dict[str, str], template, lenient: bool) -> None:
    if "event" not in attrs:
        raise _Problem("type=ref needs event=", "add event=branch, event=tag or event=pr")
    if attrs["event"] not in _REF_EVENTS:
        raise _Problem(f"event={attrs['event']!r} is not known", "use event=branch, event=tag or event=pr")
    if attrs["event"] == "pr":
        attrs.setdefault("prefix", "pr-")


def _raw_defaults(attrs: dict[str, str], template, lenient: bool) -> None:
    if "value" not in attrs:
        raise _Problem("type=raw needs a value", "write type=raw,value=latest (or just latest)")
    if not attrs["value"]:
        raise _Problem("value= is empty", "write type=raw,value=latest")


def _sha_defaults(attrs: dict[str, str], template, lenient: bool) -> None:
    attrs.setdefault("prefix", "sha-")
    attrs.setdefault("format", "short")
    if attrs["format"] not in _SHA_FORMATS:
        raise _Problem(f"format={attrs['format']!r} is not known", "use format=short or format=long")


_TYPE_DEFAULTS = {
    "schedule": _schedule_defaults,
    "semver": _version_defaults("semver"),
    "pep440": _version_defaults("pep440"),
    "match": _match_defaults,
    "edge": _edge_defaults,
    "ref": _ref_defaults,
    "raw": _raw_defaults,
    "sha": _sha_defaults,
}


@lru_cache(maxsize=1024)
def _compile_regex(pattern: str, slashed: bool = True) -> "tuple[re.Pattern[str], bool]":
    """Compile a metadata-action match pattern: a JS regex, optionally written /body/flags (a
    ``type=match`` pattern; a semver/pep440 ``match=`` is always a plain body: ``slashed=False``).

    Returns the regex and whether it has JS's ``g`` flag: then ``String.match`` returns every
    whole match instead of the groups, so ``group=N`` picks the N-th match (kept, as in the action).
    """
    body, flags = pattern, ""
    with_slashes = re.match(r"^/(.+)/(.*)$", pattern, re.S) if slashed else None
    if with_slashes:
        body, flags = with_slashes.group(1), with_slashes.group(2)
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


def parse_rules(lines: Sequence[str], *, lenient: bool = False) -> tuple[Rule, ...]:
    """Parse ``tags:`` lines (blank lines and ``#`` comment lines are skipped; ``lineno`` is 1-based).

    Returns the rules in input order; :func:`evaluate` sorts by priority. An empty input gives no
    rules (metadata-action would fall back to its own defaults: see ``default_rules``).

    ``lenient`` (metadata-action semantics) accepts two things metadata-action runs where the strict
    parse names a mistake: a match ``group`` the pattern does not have (the rule then gives nothing,
    as metadata-action warns and skips it) and an unquoted date format (``{{date YYYY}}``: Handlebars
    finds no such name, and moment formats with its default, ``YYYY-MM-DDTHH:mm:ssZ``).
    """
    rules: list[Rule] = []
    for lineno, line, text in _entries(lines, "tag rule", "rule"):
        try:
            rtype, attrs, priority = _parse_rule(text, lenient)
        except _Problem as p:
            raise _line_error("tag rule", lineno, line, p) from None
        rules.append(Rule(rtype, MappingProxyType(attrs), line.strip(), lineno, priority, lenient))
    return tuple(rules)


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
