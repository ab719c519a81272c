"""Optional positional arguments: ``invoke build api`` as well as ``invoke build`` and ``invoke build push``.

Invoke's positional arguments are required, and a missing one takes the next word even when it is the next
task's name, so ``build(target)`` made positional would break ``invoke build`` and ``invoke version --tag v1.2.3
build push``. A task here names its optional positionals (``optional_positionals``); they stay ordinary flags
(``--target api``) for Invoke, and the parser contexts made for such a task fill them from a bare word only
when that word is not a task name, not a flag and not a flag's value.

Invoke makes the parser's contexts in ``Collection.to_contexts``, on a collection it builds itself: the
loader copies a tasks.py's ``ns`` into a new plain ``Collection``, and a project may mount ours under its own
root. So :func:`install` (run when ``image_release.tasks`` is imported) wraps that one method: contexts of
tasks without ``optional_positionals`` (every task but ours) are returned unchanged.

The one assumption about Invoke's parser (checked by tests/test_parsing.py): it asks a context's ``flags``
whether a word is a flag before it asks the context for missing positional arguments.
"""

from __future__ import annotations

from invoke import Collection
from invoke.parser import ParserContext
from invoke.util import Lexicon


class _Flags(Lexicon):
    """A context's flags, remembering the last word the parser asked about."""

    def __contains__(self, key) -> bool:
        dict.__setattr__(self, "seen", key)
        return super().__contains__(key)


class _Context(ParserContext):
    """A parser context whose optional positional arguments take a bare word only when it is meant for them."""

    def __init__(self, name, aliases, args, optional, context_names):
        super().__init__(name=name, aliases=aliases)
        self.flags = _Flags()
        for arg in args:
            self.add_arg(arg)
        self.positional_args = [self.args[n] for n in optional]
        self.context_names = context_names

    @property
    def missing_positional_args(self):
        word = self.flags.__dict__.get("seen")
        if not isinstance(word, str) or word.startswith("-") or word in self.context_names:
            return []
        if any(a.raw_value == word for a in self.args.values() if a not in self.positional_args):
            return []  # the value of the flag before it
        return [a for a in self.positional_args if a.value is None]


def with_optional_positionals(collection: Collection, contexts: list) -> list:
    """``contexts`` (``collection.to_contexts()``) with the optional positionals of its tasks working."""
    names = frozenset(n for c in contexts for n in (c.name, *c.aliases))
    return [_context(collection, c, names) for c in contexts]


def _context(collection: Collection, context: ParserContext, names: frozenset) -> ParserContext:
    optional = tuple(getattr(collection[context.name], "optional_positionals", ()))
    if not optional:
        return context
    unique = {id(a): a for a in context.args.values()}.values()
    return _Context(context.name, context.aliases, unique, optional, names)


def install() -> None:
    """Wrap ``Collection.to_contexts`` once (see the module)."""
    original = Collection.to_contexts
    if getattr(original, "optional_positionals", False):
        return

    def to_contexts(self, ignore_unknown_help=None):
        return with_optional_positionals(self, original(self, ignore_unknown_help))

    to_contexts.optional_positionals = True
    to_contexts.__doc__ = original.__doc__
    Collection.to_contexts = to_contexts
