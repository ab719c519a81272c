"""Optional positionals (tasks/_parsing.py) through Invoke's real parser: ``invoke build api`` fills the
target, while ``invoke build``, ``invoke build push`` and flag values keep their meaning."""

from __future__ import annotations

import pytest
import types

from invoke import Collection, Task, task
from invoke.parser import ParseError, Parser

from image_release.tasks._parsing import install

install()  # what importing image_release.tasks does


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
    ns = collection or Collection(build, push, clean)
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


def test_a_collection_mounted_under_another_root_keeps_the_positional():
    root = Collection("root")
    root.add_collection(Collection("images", build, push))
    assert parse("images.build", "api", "images.push", collection=root) == [
        ("images.build", {"target": "api"}), ("images.push", {})]
    assert parse("images.build", "images.push", collection=root) == [("images.build", {}), ("images.push", {})]


def test_the_copy_invoke_makes_of_a_tasks_py_keeps_the_positional():
    """Invoke's loader copies a tasks.py's ``ns`` into a new plain Collection (Collection.from_module)."""
    from image_release.tasks import ns

    module = types.ModuleType("tasks")
    module.ns = ns
    loaded = Collection.from_module(module)
    assert type(loaded) is Collection
    assert parse("build", "api", "push", collection=loaded) == [("build", {"target": "api"}), ("push", {})]
    assert parse("version", "--tag", "v1.2.3", "build", "push", collection=loaded) == [
        ("version", {"tag": "v1.2.3"}), ("build", {}), ("push", {})]


def test_install_wraps_invoke_once_and_leaves_other_tasks_alone():
    wrapped = Collection.to_contexts
    install()
    assert Collection.to_contexts is wrapped
    plain = Collection(push)
    assert [type(c).__name__ for c in plain.to_contexts()] == ["ParserContext"]


def test_the_real_collection_marks_build_and_clean():
    from image_release.tasks import ns

    assert {n for n in ns.task_names if getattr(ns[n], "optional_positionals", ())} == {"build", "clean"}
    assert isinstance(build, Task)
