"""The line syntax shared by ``tags:`` and ``flavor:`` entries: CSV records of ``key=value`` fields,
blank and ``#`` comment lines, and the problems a line can have (turned into a :class:`RuleError`
that names the line)."""

from __future__ import annotations

from typing import Sequence

from image_release.errors import RuleError


class _Problem(Exception):
    """A problem in one line/template, turned into a RuleError with the line by the caller."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.message = message
        self.hint = hint


def _line_error(kind: str, lineno: int, line: str, problem: _Problem) -> RuleError:
    return RuleError(f"{kind} line {lineno} ({line.strip()!r}): {problem.message}", hint=problem.hint)


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
