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
- semver/pep440 read the git tag, or ``value=``; ``match=REGEX`` takes the version from its first
  group (``match=v(\\d.\\d.\\d)$`` on ``p1/v1.2.3``), and ``/`` becomes ``-`` before parsing.
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
name the line. ``parse_rules(lines, lenient=True)`` (``release.semantics: metadata-action``) runs
two of them as metadata-action does instead: a missing match group (the rule gives nothing) and an
unquoted date format (moment's default format). Dates come only from ``ctx.timestamp`` /
``ctx.commit_date``.

The package holds one concept per module: ``syntax`` (the CSV line syntax), ``rules`` (rule and
flavor parsing), ``templates`` (the Handlebars subset), ``moment`` (moment.js date formats),
``version_parts`` (node-semver / PEP 440 parsing for the rules), ``env`` (what the expressions give
for a context) and ``evaluator`` (the tags for a context).
"""

from __future__ import annotations

from image_release.core.tag_rules.evaluator import TagOutput, evaluate, is_valid_docker_tag, render_template, sanitize_tag
from image_release.core.tag_rules.moment import format_moment
from image_release.core.tag_rules.rules import DEFAULT_PRIORITIES, TYPES, Flavor, Rule, parse_flavor, parse_rules

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
