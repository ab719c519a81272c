"""What the engine says when something fails: the daemon's and BuildKit's messages, read and classified.

Pure text functions: a failed build's message and hint, and the failing step and its last output parsed
from BuildKit's plain progress. (Images reach a registry through the tool's own client, never through the
daemon: adapters/layout_push.py.)
"""

from __future__ import annotations

import re


def short(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 400 else text[:400] + "..."


def event_error(event: dict) -> str:
    """The message of an ``{"error": ..., "errorDetail": ...}`` event of a build or push stream."""
    detail = event.get("errorDetail")
    if isinstance(detail, dict) and detail.get("message"):
        return str(detail["message"]).strip()
    return str(event.get("error") or detail or "unknown error").strip()


def api_message(exc) -> str:
    explanation = getattr(exc, "explanation", None)
    if explanation:
        return str(explanation).strip()
    return short(exc)


def status_text(event: dict) -> str:
    parts = [str(event.get("id") or ""), str(event.get("status") or ""), str(event.get("progress") or "")]
    return " ".join(p for p in parts if p).strip()


def build_message(final: str, step: str, output: list[str]) -> str:
    text = f"image build failed: {final}"
    if step:
        text += f"\n  step: {step}"
    if output:
        text += "\n  last output:\n" + "\n".join("    " + line for line in output[-10:])
    return text


def build_hint(message: str, buildkit: bool) -> str:
    low = message.lower()
    if "requires buildkit" in low or ("--mount" in low and not buildkit):
        return "this Dockerfile uses BuildKit syntax: set buildkit to auto or on with a BuildKit-capable client"
    if "target stage" in low or "failed to reach build target" in low:
        return "check the target setting against the stage names (FROM ... AS name) in the Dockerfile"
    if "pull access denied" in low or "registry-1.docker.io" in low or "no such host" in low \
            or "manifest unknown" in low or "not found: manifest" in low:
        return "a base image could not be found or pulled: build it locally first or use a reachable registry"
    if "returned a non-zero code" in low or "exit code" in low or "did not complete successfully" in low:
        return "a RUN step failed: fix the command in the Dockerfile (the step and its last output are shown above)"
    if "network" in low and ("bridge" in low or "not found" in low):
        return "dockerd has no default bridge here: set the build network to host"
    return "fix the Dockerfile or build settings named above and build again"


_VERTEX = re.compile(r"^#(\d+) (.*)$")
_VERTEX_OUTPUT = re.compile(r"^#(\d+) (\d+\.\d+) (.*)$")


def buildkit_failure(lines: list[str]) -> tuple[str, str, list[str]]:
    """(final error, failed step, its last output lines) from BuildKit's plain progress."""
    final = _final_error(lines)
    failed_num, titles = None, {}
    for line in lines:
        m = _VERTEX.match(line)
        if not m:
            continue
        num, rest = m.groups()
        titles.setdefault(num, rest)
        if rest.startswith("ERROR:"):
            failed_num = num
            if not final:
                final = rest[len("ERROR:"):].strip()
    step, output = "", []
    if failed_num is not None:
        step = titles.get(failed_num, "")
        for line in lines:
            m = _VERTEX_OUTPUT.match(line)
            if m and m.group(1) == failed_num:
                output.append(m.group(3))
    if not final:
        final = next((ln.strip() for ln in reversed(lines) if ln.strip()), "docker build failed without a message")
    return final, step, output[-10:]


def _final_error(lines: list[str]) -> str:
    """The last line that is BuildKit's own summary (not a vertex, a rule, nor the Dockerfile excerpt)."""
    for line in reversed(lines):
        s = line.strip()
        if not s or s.startswith("#") or set(s) <= {"-"}:
            continue
        if re.match(r"^\d+ \| ", s) or s.startswith(">") or re.match(r"^Dockerfile:\d+", s):
            continue
        return re.sub(r"^(ERROR|error):\s*", "", s)
    return ""
