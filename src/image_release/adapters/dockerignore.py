"""Which files a build sends to the builder: the build context minus what ``.dockerignore`` excludes.

BuildKit reads ``<Dockerfile>.dockerignore`` next to the Dockerfile first, then ``<context>/.dockerignore``;
the classic builder reads the latter. Patterns are matched as Docker matches them (the docker SDK's
``PatternMatcher``, the same rules as the CLI: ``**``, ``!`` exceptions, leading ``/`` ignored).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable


def ignore_file(context: Path, dockerfile: Path) -> Path | None:
    """The .dockerignore a build of ``dockerfile`` in ``context`` uses, or None."""
    for candidate in (dockerfile.with_name(dockerfile.name + ".dockerignore"), context / ".dockerignore"):
        if candidate.is_file():
            return candidate
    return None


def patterns(path: Path | None) -> list[str]:
    if path is None:
        return []
    out = []
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out.append(line.lstrip("/") if not line.startswith("!") else "!" + line[1:].lstrip("/"))
    return out


def sent_to_builder(context: Path, dockerfile: Path, files: Iterable[Path]) -> list[Path]:
    """Those of ``files`` (absolute) that are inside ``context`` and not excluded by its .dockerignore."""
    from docker.utils.build import PatternMatcher

    matcher = PatternMatcher(patterns(ignore_file(context, dockerfile)))
    root = context.resolve()
    out = []
    for f in files:
        try:
            rel = f.resolve().relative_to(root).as_posix()
        except ValueError:
            continue  # outside the context: never sent
        if not matcher.matches(rel):
            out.append(f)
    return sorted(out)
