"""Optional positionals (tasks/_parsing.py) through Invoke's real parser: ``invoke build api`` fills the
target, while ``invoke build``, ``invoke build push`` and flag values keep their meaning."""

from __future__ import annotations

import pytest
from invoke import Task, task
from invoke.parser import ParseError, Parser

from image_release.tasks._parsing import ReleaseCollection


@task
def build(c, target=None, tag=None, dry_run=False):
    """Build."""


@task
def push(c, target=None):
    """Push."""


@task
def clean(c, keep=None, target=None):
    """Clean."""


build.optional_positionals = ("target",)
clean.optional_positionals = ("target",)


def parse(*argv: str, collection=None) -> list[tuple[str, dict]]:
    ns = collection or ReleaseCollection(build, push, clean)
    result = Parser(contexts=ns.to_contexts()).parse_argv(list(argv))
    return [(ctx.name, {k: a.value for k, a in ctx.args.items() if a.value not in (None, False)}) for ctx in result]


@pytest.mark.parametrize("argv,expected", [
    (("build",), [("build", {})]),
    (("build", "api"), [("build", {"target": "api"})]),
    (("build", "push"), [("build", {}), ("push", {})]),
    (("build", "api", "push"), [("build", {"target": "api"}), ("push", {})]),
    (("build", "--dry-run", "api"), [("build", {"dry-run": True, "target": "api"})]),
    (("build", "--tag", "v1.2.3", "push"), [("build", {"tag": "v1.2.3"}), ("push", {})]),
    (("build", "--tag", "api/v1.2.0"), [("build", {"tag": "api/v1.2.0"})]),
    (("build", "--target", "web"), [("build", {"target": "web"})]),
    (("clean", "--keep", "3"), [("clean", {"keep": "3"})]),
    (("clean", "--keep", "3", "web"), [("clean", {"keep": "3", "target": "web"})]),
    (("clean", "web", "build", "api"), [("clean", {"target": "web"}), ("build", {"target": "api"})]),
])
def test_an_optional_positional_takes_only_a_word_meant_for_it(argv, expected):
    assert parse(*argv) == expected


def test_a_second_word_is_still_an_unknown_task():
    with pytest.raises(ParseError, match="No idea what 'web'"):
        parse("build", "api", "web")


def test_a_task_without_optional_positionals_is_unchanged():
    with pytest.raises(ParseError, match="No idea what 'api'"):
        parse("push", "api")


def test_invoke_alone_keeps_flags_only():
    """The assumption the module names: stock contexts (a project mounting the collection under its own
    root) do not take the word, and the flag form works there."""
    from invoke import Collection

    plain = Collection(build, push)
    assert parse("build", "--target", "api", collection=plain) == [("build", {"target": "api"})]
    with pytest.raises(ParseError):
        parse("build", "api", collection=plain)


def test_the_real_collection_marks_build_and_clean():
    from image_release.tasks import ns

    assert isinstance(ns, ReleaseCollection)
    assert {n for n in ns.task_names if getattr(ns[n], "optional_positionals", ())} == {"build", "clean"}
    assert isinstance(build, Task)
