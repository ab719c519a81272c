"""The release body (pure): image information, usage, changelog, system requirements.

:class:`NotesInput` holds everything the notes say, as plain data; :func:`render_notes` renders it
with a Jinja2 template, the built-in ``templates/release-notes.md.j2`` or a user template's text
(a file named in settings, read by the caller); :func:`limit_body` cuts the result to what a forge
accepts (GitHub: 125,000 characters) with a visible note.

Secrets: the run example shows environment variable NAMES with placeholder values only; an entry
given as ``NAME=value`` is reduced to its name, the value is never rendered.

Jinja2 is imported lazily (inside :func:`render_notes`) so importing this module stays cheap.
The built-in template is package data, read once through ``importlib.resources``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping

from image_release.core.changelog import Changelog, Entry
from image_release.errors import ConfigError, RuleError

GITHUB_BODY_LIMIT = 125_000
GITLAB_BODY_LIMIT = 1_000_000
DEFAULT_TEMPLATE = "release-notes.md.j2"
DEFAULT_REQUIREMENTS: tuple[str, ...] = ("Docker 20.10+ or any OCI runtime",)

# Kinds of moved tags, in the order the pull lines are shown.
VERSION, MINOR, MAJOR, LATEST = "version", "minor", "major", "latest"
KIND_ORDER = (VERSION, MINOR, MAJOR, LATEST)

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PORT = re.compile(r"^[0-9A-Za-z.:\[\]/-]+$")


@dataclass(frozen=True)
class MovedTag:
    """A tag this release moved: ``kind`` is version, minor, major, latest (or any other rule name),
    ``tag`` the Docker tag (``1.2.3``, ``1.2``, ``1``, ``latest``)."""

    kind: str
    tag: str


@dataclass(frozen=True)
class NotesInput:
    project: str  # "AnuNeko OpenAI API server"
    version: str  # "1.2.3" (SemVer, as shown)
    tag: str  # "v1.2.3"
    previous_tag: str | None = None
    prerelease: bool = False
    images: tuple[str, ...] = ()  # repositories: "ghcr.io/o/app"; the first one is used in examples
    published: tuple[str, ...] = ()  # every ref published: "ghcr.io/o/app:1.2.3", ...
    digest: str | None = None  # "sha256:..." of the pushed manifest (or index)
    moved_tags: tuple[MovedTag, ...] = ()  # only the tags this release actually moved
    ports: tuple[str, ...] = ()  # "8000:8000"
    env: tuple[str, ...] = ()  # environment variable NAMES ("ANUNEKO_TOKEN")
    platforms: tuple[str, ...] = ()  # "linux/amd64", ...
    changelog: Changelog | None = None
    requirements: tuple[str, ...] = ()  # from settings; empty means DEFAULT_REQUIREMENTS
    history_note: str | None = None  # "changelog may be incomplete: shallow clone ..." (HistoryStatus.note)
    date: str | None = None  # release date, "2026-11-29" (the caller reads the clock)
    signed: Any = None  # core.signing_plan.SignedNote: the image is signed; how to verify it
    extra: Mapping[str, Any] = field(default_factory=dict)  # anything else, for user templates
    latest_branch: str | None = None  # the rules also move `latest` on every push to this branch


# --- the parts computed for templates ------------------------------------------------------------


def env_names(env: tuple[str, ...]) -> tuple[str, ...]:
    """Names only: ``NAME=value`` keeps ``NAME``; invalid names are a ConfigError."""
    names = []
    for item in env:
        name = str(item).split("=", 1)[0].strip()
        if not _ENV_NAME.match(name):
            raise ConfigError(
                f"run example: {name!r} is not an environment variable name",
                hint="list variable names (letters, digits, _), e.g. APP_TOKEN; values are never shown",
            )
        if name not in names:
            names.append(name)
    return tuple(names)


def placeholder(name: str) -> str:
    return f"your_{name.lower()}_here"


def _check_ports(ports: tuple[str, ...]) -> tuple[str, ...]:
    for p in ports:
        if not _PORT.match(str(p)):
            raise ConfigError(
                f"run example: {p!r} is not a port mapping",
                hint='use the docker run -p form, e.g. "8000:8000" or "127.0.0.1:8080:80/tcp"',
            )
    return tuple(str(p) for p in ports)


def primary_image(inp: NotesInput) -> str | None:
    if inp.images:
        return inp.images[0]
    if inp.published:
        return _split_ref(inp.published[0])[0]
    return None


def _split_ref(ref: str) -> tuple[str, str | None]:
    """``host:5000/a/b:tag`` -> (``host:5000/a/b``, ``tag``)."""
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1:]
    return ref, None


LATEST_STABLE = "newest stable release"
LATEST_OR_BRANCH = "newest stable release or {branch} build, whichever was published last"


def latest_meaning(inp: "NotesInput") -> str:
    """What ``latest`` is under the rules in force: the newest stable release, or, where the rules
    also move it on every push to the default branch (the process document's default), whichever
    of the two was published last."""
    if inp.latest_branch:
        return LATEST_OR_BRANCH.format(branch=inp.latest_branch)
    return LATEST_STABLE


def _kind_note(kind: str, tag: str, inp: "NotesInput | None" = None) -> str:
    if kind == VERSION:
        return "this release"
    if kind == MINOR:
        return f"newest {tag}.x"
    if kind == MAJOR:
        return f"newest {tag}.x.x" if tag.isdigit() else f"newest {tag}"
    if kind == LATEST:
        return latest_meaning(inp) if inp is not None else LATEST_STABLE
    return ""


def pulls(inp: NotesInput) -> list[dict[str, str]]:
    """``docker pull`` targets for the tags this release moved, version first then minor, major,
    latest, other kinds. Without moved tags: the published refs of the first image."""
    image = primary_image(inp)
    out: list[dict[str, str]] = []
    if inp.moved_tags and image:
        rank = {k: i for i, k in enumerate(KIND_ORDER)}
        ordered = sorted(enumerate(inp.moved_tags), key=lambda it: (rank.get(it[1].kind, len(rank)), it[0]))
        seen = set()
        for _, mt in ordered:
            ref = f"{image}:{mt.tag}"
            if ref in seen:
                continue
            seen.add(ref)
            out.append({"kind": mt.kind, "tag": mt.tag, "ref": ref, "note": _kind_note(mt.kind, mt.tag, inp)})
    elif image:
        for ref in inp.published:
            repo, tag = _split_ref(ref)
            if repo == image and tag:
                out.append({"kind": "", "tag": tag, "ref": ref, "note": ""})
    return out


def pull_lines(items: list[dict[str, str]]) -> list[str]:
    """``docker pull REF  # note`` lines with the comments aligned."""
    width = max((len(i["ref"]) for i in items if i["note"]), default=0)
    lines = []
    for i in items:
        cmd = f"docker pull {i['ref']}"
        lines.append(f"{cmd.ljust(width + 12)}  # {i['note']}" if i["note"] else cmd)
    return lines


def run_command(inp: NotesInput, items: list[dict[str, str]]) -> str | None:
    """The ``docker run`` example: ports and env names from settings, the immutable version ref."""
    image = primary_image(inp)
    if not image:
        return None
    version_ref = next((i["ref"] for i in items if i["kind"] == VERSION), None)
    ref = version_ref or (items[0]["ref"] if items else (inp.published[0] if inp.published else image))
    ports = _check_ports(tuple(inp.ports))
    names = env_names(tuple(inp.env))
    opts = [f"-p {p}" for p in ports] + [f"-e {n}={placeholder(n)}" for n in names]
    head = "docker run -d" if ports else "docker run --rm"
    if not opts:
        return f"{head} {ref}"
    return " \\\n  ".join([head, *opts, ref])


def requirements(inp: NotesInput) -> list[str]:
    reqs = [str(r) for r in (inp.requirements or DEFAULT_REQUIREMENTS)]
    if inp.platforms:
        reqs.append("Platforms: " + ", ".join(inp.platforms))
    return reqs


def md(text: Any) -> str:
    """Inline text for Markdown: raw HTML is neutralised (``<`` becomes ``&lt;``)."""
    return str(text).replace("<", "&lt;")


def entry_markdown(e: Entry) -> str:
    """One changelog entry as a Markdown list item, with its links and breaking-change notes
    (the ``entry`` filter; a Python function rather than a template macro because a whole-history
    changelog renders tens of thousands of them)."""
    scope = f"**{md(e.scope)}:** " if e.scope else ""
    pr = ""
    if e.pr is not None:
        pr = f" ([#{e.pr}]({e.pr_url}))" if e.pr_url else f" (#{e.pr})"
    sha = f"[`{e.short_sha}`]({e.url})" if e.url else f"`{e.short_sha}`"
    line = f"- {scope}{md(e.description)}{pr} ({sha})"
    if e.breaking_notes:
        line += "".join(f"\n  - {md(n)}" for n in e.breaking_notes)
    return line


def template_context(inp: NotesInput) -> dict[str, Any]:
    """Everything a template sees. User templates get the same names (documented in the built-in
    template's header)."""
    items = pulls(inp)
    image = primary_image(inp)
    cl = inp.changelog
    return {
        "input": inp,
        "project": inp.project,
        "version": inp.version,
        "tag": inp.tag,
        "previous_tag": inp.previous_tag if inp.previous_tag is not None else (cl.previous_tag if cl else None),
        "prerelease": inp.prerelease,
        "images": list(inp.images) or ([image] if image else []),
        "image": image,
        "published": list(inp.published),
        "digest": inp.digest,
        "digest_ref": f"{image}@{inp.digest}" if (image and inp.digest) else None,
        "moved": {m.kind: m.tag for m in inp.moved_tags},
        "pulls": items,
        "pull_lines": pull_lines(items),
        "run_command": run_command(inp, items),
        "env_names": list(env_names(tuple(inp.env))),
        "ports": list(inp.ports),
        "platforms": list(inp.platforms),
        "changelog": cl,
        "sections": list(cl.sections) if cl else [],
        "compare_url": cl.compare_url if cl else None,
        "requirements": requirements(inp),
        "history_note": inp.history_note,
        "date": inp.date,
        "signed": inp.signed,
        "latest_meaning": latest_meaning(inp),
        "extra": dict(inp.extra),
    }


# --- rendering ------------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def default_template_text() -> str:
    """The built-in template (package data)."""
    from importlib.resources import files

    return (files("image_release") / "templates" / DEFAULT_TEMPLATE).read_text(encoding="utf-8")


def _template_line(exc: BaseException, name: str) -> int | None:
    lineno = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == name:
            lineno = tb.tb_lineno
        tb = tb.tb_next
    return lineno


_TRAILING_WS = re.compile(r"[ \t]+$", re.MULTILINE)
_BLANK_RUNS = re.compile(r"\n{3,}")


def _tidy(text: str) -> str:
    """No trailing spaces, no runs of blank lines, one final newline."""
    if " \n" in text or "\t\n" in text or text.endswith((" ", "\t")):  # regexes only when needed: bodies can be MBs
        text = _TRAILING_WS.sub("", text)
    if "\n\n\n" in text:
        text = _BLANK_RUNS.sub("\n\n", text)
    return text.strip("\n") + "\n"


@lru_cache(maxsize=8)
def _compile(template_text: str, name: str):
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FunctionLoader(lambda n: (template_text, name, lambda: True) if n == name else None),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # Markdown, not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md
    env.filters["entry"] = entry_markdown
    return env.get_template(name)


def render_notes(inp: NotesInput, template_text: str | None = None, *, template_name: str | None = None) -> str:
    """Render the release body. ``template_text`` (a user template's content) replaces the built-in
    one; ``template_name`` (its file path) names it in errors. A template that does not parse or
    fails while rendering is a RuleError naming the file and line. Runs of blank lines are
    collapsed and the text ends with one newline."""
    try:
        import jinja2
    except ImportError:  # pragma: no cover - Jinja2 is a dependency
        raise ConfigError("rendering release notes needs Jinja2", hint="pip install Jinja2") from None

    if template_text is None:
        text, name = default_template_text(), template_name or f"{DEFAULT_TEMPLATE} (built-in)"
    else:
        text, name = template_text, template_name or "release notes template"
    ctx = template_context(inp)  # may raise ConfigError for a bad run example
    try:
        template = _compile(text, name)
    except jinja2.TemplateSyntaxError as exc:
        raise RuleError(
            f"{name}, line {exc.lineno}: {exc.message}",
            hint="fix the Jinja2 syntax (https://jinja.palletsprojects.com/templates/)",
        ) from None
    try:
        out = template.render(**ctx)
    except jinja2.UndefinedError as exc:
        line = _template_line(exc, name)
        where = f"{name}, line {line}" if line else name
        raise RuleError(
            f"{where}: {exc.message}",
            hint="use only the variables listed at the top of the built-in release-notes.md.j2",
        ) from None
    except Exception as exc:  # a filter or expression failed inside the template
        line = _template_line(exc, name)
        where = f"{name}, line {line}" if line else name
        raise RuleError(f"{where}: {type(exc).__name__}: {exc}", hint="fix the template expression") from None
    return _tidy(out)


def limit_body(
    text: str,
    limit: int = GITHUB_BODY_LIMIT,
    *,
    full_notes_at: str = "the release notes file",
    forge: str = "GitHub",
) -> str:
    """``text`` unchanged when it fits in ``limit`` characters; else cut at a line boundary, with an
    open code fence closed and a visible note at the end: "… cut: N characters over GitHub's limit;
    the full notes are in <full_notes_at>". The result is never longer than ``limit``."""
    if limit <= 0:
        raise ConfigError(f"body limit must be positive, got {limit}", hint="use the forge's limit, e.g. 125000")
    if len(text) <= limit:
        return text
    over = len(text) - limit
    note = f"\n\n> … cut: {over:,} characters over {forge}'s limit; the full notes are in {full_notes_at}\n"
    fence = "```\n"
    budget = limit - len(note) - len(fence)
    if budget <= 0:
        return note.strip()[:limit]
    head = text[:budget]
    nl = head.rfind("\n")
    if nl > 0:
        head = head[:nl]  # whole lines only; a single huge line is cut hard
    head = head.rstrip("\n")
    fences = sum(1 for ln in head.splitlines() if ln.lstrip().startswith("```"))
    if fences % 2:
        head += "\n```"
    return (head + note)[:limit]
