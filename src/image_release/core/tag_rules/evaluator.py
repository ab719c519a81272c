"""Evaluation: the tags the rules give for a context, as metadata-action computes them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from image_release.core.context import Context
from image_release.core.tag_rules.env import _Env
from image_release.core.tag_rules.rules import Flavor, Rule, _compile_regex, _types_hint
from image_release.core.tag_rules.syntax import _Problem
from image_release.core.tag_rules.templates import (
    _DATE_NAMES,
    _GLOBAL_NAMES,
    _VERSION_NAMES,
    _compile,
    _compile_checked,
    _render,
    _Template,
)
from image_release.core.tag_rules.version_parts import _parse_pep440, _parse_semver, _version_vars
from image_release.errors import RuleError


@dataclass(frozen=True)
class TagOutput:
    value: str  # the final tag, prefix/suffix applied, sanitized
    rule: Rule | None  # the first rule (by priority) that produced it; None for the flavor's latest
    is_latest: bool  # the flavor's latest tag (possibly also produced by a rule)


_INVALID_TAG_CHARS = re.compile(r"[^a-zA-Z0-9._-]+")

_DOCKER_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def sanitize_tag(value: str) -> str:
    """metadata-action's sanitizeTag: each run of characters outside ``[A-Za-z0-9._-]`` becomes ``-``."""
    return _INVALID_TAG_CHARS.sub("-", value)


def is_valid_docker_tag(value: str) -> bool:
    return _DOCKER_TAG.fullmatch(value) is not None


def _tpl(text: str, scope: frozenset, rule: Rule | None = None) -> _Template:
    # Templates were validated by parse_rules; the cache makes this a dictionary lookup.
    return _compile(text, scope, rule is not None and rule.lenient)


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
            val = _render(_tpl(attrs["prefix"], _GLOBAL_NAMES, rule), env) + val
        elif self.flavor.prefix:
            val = _render(_flavor_tpl(self.flavor.prefix), env) + val
        if "suffix" in attrs:
            val = val + _render(_tpl(attrs["suffix"], _GLOBAL_NAMES, rule), env)
        elif self.flavor.suffix:
            val = val + _render(_flavor_tpl(self.flavor.suffix), env)
        return val

    def enabled(self, rule: Rule) -> bool:
        enable = rule.attrs["enable"]
        if enable == "true":
            return True
        if enable == "false":
            return False
        got = _render(_tpl(enable, _GLOBAL_NAMES, rule), self.env)
        if got not in ("true", "false"):
            raise RuleError(
                f"{rule.describe()}: enable={enable!r} gives {got!r}, not true or false",
                hint="use an expression that gives true or false, such as {{is_default_branch}}",
            )
        return got == "true"

    def run(self, rule: Rule) -> tuple[str, bool] | None:
        """The rule's value (prefix/suffix applied, not yet sanitized) and its latest=auto vote."""
        run = getattr(self, "_run_" + rule.type, None)
        if run is None:  # pragma: no cover - parse_rules only makes known types
            raise RuleError(f"{rule.describe()}: unknown type {rule.type!r}", hint=_types_hint())
        return run(rule)

    def _source_text(self, rule: Rule) -> str | None:
        """What a semver, pep440 or match rule reads: its ``value``, else the git tag (None: no tag)."""
        if rule.attrs["value"]:
            return _render(_tpl(rule.attrs["value"], _GLOBAL_NAMES, rule), self.env)
        return self.env.tag if self.env.is_tag else None

    def _run_version(self, rule: Rule, parse) -> tuple[str, bool] | None:
        vraw = self._source_text(rule)
        if vraw is None:
            return None
        if rule.attrs.get("match"):
            # metadata-action: the first group of the first match; no match leaves the text as it is
            found = _compile_regex(rule.attrs["match"], slashed=False)[0].search(vraw)
            if found is not None:
                if found.group(1) is None:
                    return None
                vraw = found.group(1)
        vars = parse(vraw.replace("/", "-"))
        if vars is None:
            return None  # metadata-action warns and skips: not a valid version
        pattern = _tpl(rule.attrs["pattern"], _VERSION_NAMES, rule)
        if vars.unstable:
            out = _render(pattern, self.env, vars) if pattern.is_raw_statement else vars.version
            return self.set_value(out, rule), False
        return self.set_value(_render(pattern, self.env, vars), rule), True

    def _run_semver(self, rule: Rule) -> tuple[str, bool] | None:
        return self._run_version(rule, _parse_semver)

    def _run_pep440(self, rule: Rule) -> tuple[str, bool] | None:
        return self._run_version(rule, _parse_pep440)

    def _run_match(self, rule: Rule) -> tuple[str, bool] | None:
        vraw = self._source_text(rule)
        if vraw is None:
            return None
        regex, every = _compile_regex(rule.attrs["pattern"])
        group = int(rule.attrs["group"])
        if every:
            found = [m.group(0) for m in regex.finditer(vraw)]
            got = found[group] if group < len(found) else None
        else:
            m = regex.search(vraw)
            got = m.group(group) if m and group <= regex.groups else None  # a lenient rule's missing group
        if got is None:
            return None
        return self.set_value(got, rule), True

    def _run_ref(self, rule: Rule) -> tuple[str, bool] | None:
        env = self.env
        event = rule.attrs["event"]
        if event == "branch":
            return (self.set_value(env.branch, rule), False) if env.branch else None
        if event == "tag":
            return (self.set_value(env.tag, rule), True) if env.is_tag else None
        return (self.set_value(env.pr, rule), False) if env.is_pr else None

    def _run_raw(self, rule: Rule) -> tuple[str, bool] | None:
        return self.set_value(_render(_tpl(rule.attrs["value"], _GLOBAL_NAMES, rule), self.env), rule), False

    def _run_sha(self, rule: Rule) -> tuple[str, bool] | None:
        env = self.env
        if not env.sha:
            return None
        val = env.short_sha if rule.attrs["format"] == "short" else env.sha
        return self.set_value(val, rule), False

    def _run_edge(self, rule: Rule) -> tuple[str, bool] | None:
        env = self.env
        if not env.branch:
            return None
        target = rule.attrs["branch"] or env.ctx.default_branch
        if target != env.branch:
            return None
        return self.set_value("edge", rule), False

    def _run_schedule(self, rule: Rule) -> tuple[str, bool] | None:
        if not self.env.is_schedule:
            return None
        return self.set_value(_render(_tpl(rule.attrs["pattern"], _DATE_NAMES, rule), self.env), rule), False


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
