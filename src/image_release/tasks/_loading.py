"""What Invoke does before any task runs, made safe: reading the configuration files, and its debug log.

Invoke reads the project's ``invoke.yaml`` right after it imports the tasks module, and a ``-f`` file
later, with its own ``Config`` class (a tasks module cannot choose it, and Invoke offers no hook between
reading a file and using it). It then merges what it read by deep copies and crawls every key for
``INVOKE_*`` variables, with work that grows with the square of the number of keys: a YAML alias bomb or
60,000 labels take minutes and gigabytes before any task could check them. So :func:`install`, called when
``image_release.tasks`` is imported, wraps Config's file loaders, and each file is checked as it is read:

- it must be a regular file (a FIFO would block, ``/dev/zero`` never ends) of at most ``MAX_FILE_BYTES``,
  UTF-8 text;
- a YAML or JSON syntax error is one line naming the file, line and column (tabs get their own words);
- YAML whose aliases expand to more than ``MAX_VALUES`` values (a "billion laughs"), or refer to
  themselves, is refused before a single object is built;
- its top level is a mapping, and its ``release.build`` labels and args are within
  ``settings_checks.check_sizes``' bounds;
- a runtime file (``-f FILE``, ``INVOKE_RUNTIME_CONFIG``) that does not exist is an error (Invoke skips
  it silently).

What these raise is a :class:`ConfigError`, which ``tasks/_boundary.excepthook`` prints as one error line
(exit 2). Files that pass are loaded as Invoke loads them (YAML 1.1 safe loading, ``json``, a Python file).

:func:`install` also puts a filter on the ``invoke`` logger: ``invoke -d`` prints the values of
``INVOKE_*`` variables and of every config file before any run (and so before any redactor) exists; the
filter redacts the values the environment says are secret, the ``INVOKE_RELEASE_*`` values that look like
secrets (a token as a build arg), and anything shaped like a known token.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from typing import Any, Callable

from image_release.errors import ConfigError

MAX_FILE_BYTES = 1024 * 1024  # a configuration file; the biggest real ones are a few KiB
MAX_VALUES = 100_000  # scalars, lists and mappings of one YAML file, once its aliases are expanded
_INSTALLED = "_image_release_checked_loaders"


def install() -> None:
    """Wrap Invoke's config file loaders and filter its debug log (once per process)."""
    from invoke.config import Config

    if getattr(Config, _INSTALLED, False):
        return
    Config._load_yaml = Config._load_yml = _checked(_parse_yaml)
    Config._load_json = _checked(_parse_json)
    Config._load_py = _checked_py(Config._load_py)
    Config.load_runtime = _runtime_must_exist(Config.load_runtime)
    setattr(Config, _INSTALLED, True)
    logging.getLogger("invoke").addFilter(_DebugRedaction())


# -- config files -----------------------------------------------------------------------------------


def _checked(parse: Callable[[str, str], Any]):
    def load(self, path) -> Any:
        data = parse(_read_text(path), _shown(path))
        _check_data(data, _shown(path))
        return data

    return load


def _checked_py(original):
    def load(self, path) -> Any:
        _read_text(path)  # a regular file of bounded size, before Python runs it
        data = original(self, path)
        _check_data(data, _shown(path))
        return data

    return load


def _runtime_must_exist(original):
    def load_runtime(self, merge: bool = True) -> None:
        original(self, merge=merge)
        path = self._runtime_path
        if path is not None and not self._runtime_found:  # Invoke leaves it None when the file is missing
            raise ConfigError(f"the configuration file {_shown(path)} does not exist",
                              hint="check the path given with -f (or in INVOKE_RUNTIME_CONFIG)")

    return load_runtime


def _read_text(path) -> str:
    """The file's text: a regular file (checked on the open file, without blocking on a FIFO) of bounded size.
    A missing file raises FileNotFoundError, which Invoke takes as "no such file, try the next suffix"."""
    shown = _shown(path)
    try:
        fd = os.open(os.path.expanduser(str(path)), os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise
    except OSError as e:
        raise ConfigError(f"cannot read the configuration file {shown}: {e.strerror}",
                          hint="check the path and its permissions") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ConfigError(f"the configuration file {shown} is not a regular file ({_kind(info.st_mode)})",
                              hint="give a YAML, JSON or Python file")
        if info.st_size > MAX_FILE_BYTES:
            raise ConfigError(f"the configuration file {shown} has {info.st_size} bytes; at most {MAX_FILE_BYTES} "
                              "are read", hint="a configuration holds settings, not data: move bulk data to files")
        data = os.read(fd, MAX_FILE_BYTES + 1)
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ConfigError(f"the configuration file {shown} is not UTF-8 text (byte {e.start})",
                          hint="save it as UTF-8") from None


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a file"


def _shown(path) -> str:
    """A path as the user would write it: relative to the working directory when inside it."""
    path = os.path.expanduser(str(path))
    rel = os.path.relpath(path) if os.path.isabs(path) else path
    return rel if not rel.startswith("..") else path


def _check_data(data: Any, shown: str) -> None:
    from image_release.settings_checks import check_sizes

    if data is None:
        return
    if not isinstance(data, dict):
        raise ConfigError(f"the configuration file {shown} must hold a mapping at its top level, not a "
                          f"{type(data).__name__}", hint="write `release:` followed by indented settings")
    release = data.get("release")
    if isinstance(release, dict):
        check_sizes(release.get("build"))


def _parse_json(text: str, shown: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{shown}:{e.lineno}:{e.colno}: {e.msg}", hint="fix the JSON at that line and column") from None
    except RecursionError:
        raise ConfigError(f"the configuration file {shown} is nested too deeply", hint="flatten it") from None


def _parse_yaml(text: str, shown: str) -> Any:
    yaml, loader_class = _yaml()
    loader = loader_class(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(yaml, node, shown)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as e:
        raise _yaml_error(e, shown, text) from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{shown}: {e}", hint="fix the YAML syntax") from None
    except RecursionError:
        raise ConfigError(f"the configuration file {shown} is nested too deeply", hint="flatten it") from None
    finally:
        loader.dispose()


def _yaml():
    """PyYAML's LibYAML loader when installed (ten times faster on a big file), else the YAML Invoke reads
    with (its vendored copy): the same YAML 1.1 safe loading either way."""
    try:
        import yaml

        return yaml, yaml.CSafeLoader
    except (ImportError, AttributeError):
        from invoke.util import yaml

        return yaml, yaml.SafeLoader


def _yaml_error(e, shown: str, text: str) -> ConfigError:
    mark = e.problem_mark or e.context_mark
    where = f"{shown}:{mark.line + 1}:{mark.column + 1}" if mark else shown
    problem = e.problem or e.context or "invalid YAML"
    if mark is not None and _char_at(text, mark.line, mark.column) == "\t":
        return ConfigError(f"{where}: a tab character; YAML indents with spaces only",
                           hint="replace the tabs with spaces (two per level, as the examples do)")
    context = e.context if e.problem and e.context else None
    cm = e.context_mark
    if context and cm is not None and (cm.line, cm.column) != (mark.line, mark.column):
        context += f" at line {cm.line + 1}, column {cm.column + 1}"
    return ConfigError(f"{where}: {problem}" + (f" ({context})" if context else ""),
                       hint="fix the YAML at that line and column (indent with spaces; quote a value that holds "
                            "': ' or ' #', or starts with one of [ ] { } & * ! | > ' \" % @ `)")


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.splitlines()
    return lines[line][column:column + 1] if 0 <= line < len(lines) else ""


def _check_expansion(yaml, root, shown: str) -> None:
    """Count the values the document holds once every alias is expanded, on the node graph (where an alias
    is one shared node, so this takes time in the size of the file, not of the expansion): aliases may add
    up to ``MAX_VALUES`` values to those written out."""
    def children(node) -> list:
        if isinstance(node, yaml.SequenceNode):
            return node.value
        if isinstance(node, yaml.MappingNode):
            return [n for pair in node.value for n in pair]
        return []

    seen, todo = {id(root)}, [root]
    while todo:
        for child in children(todo.pop()):
            if id(child) not in seen:
                seen.add(id(child))
                todo.append(child)
    limit = len(seen) + MAX_VALUES
    sizes: dict[int, int] = {}
    busy: set[int] = set()

    def size(node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in busy:
            raise ConfigError(f"the configuration file {shown} has an alias inside the value it names "
                              f"(line {node.start_mark.line + 1})", hint="remove the self-reference")
        busy.add(key)
        total = 1
        for child in children(node):
            total += size(child)
            if total > limit:
                raise ConfigError(
                    f"the aliases of the configuration file {shown} expand to more than {MAX_VALUES} values beyond "
                    f"those written out: they repeat the value at line {node.start_mark.line + 1} over and over",
                    hint="a configuration holds settings: use fewer aliases (&name / *name), or none")
        busy.discard(key)
        sizes[key] = total
        return total

    size(root)


# -- Invoke's debug log -----------------------------------------------------------------------------


class _DebugRedaction(logging.Filter):
    """Redacts secrets in the ``invoke`` logger's records (``invoke -d``, ``INVOKE_DEBUG``)."""

    def __init__(self):
        super().__init__()
        self._redact: Callable[[str], str] | None = None

    def filter(self, record: logging.LogRecord) -> bool:
        if self._redact is None:
            self._redact = _debug_redactor(os.environ)
        message = record.getMessage()
        clean = self._redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


def _debug_redactor(env) -> Callable[[str], str]:
    from image_release.pipeline.redact import MASK, Redactor
    from image_release.secret_shapes import describe, shapes_pattern

    redactor = Redactor.from_env(env)
    for name, value in env.items():
        if name.startswith("INVOKE_") and value and describe(value):
            redactor.add(value)
    shapes = shapes_pattern()
    return lambda text: shapes.sub(MASK, redactor(text))
