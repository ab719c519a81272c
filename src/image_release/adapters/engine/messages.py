"""What the engine says when something fails: the daemon's and BuildKit's messages, read and classified.

Pure text functions: a failed build's message and hint, the failing step and its last output parsed
from BuildKit's plain progress, and a push failure turned into the typed error the caller's retry policy
understands (RegistryUnreachable, RegistryError with a status, AuthError, EngineError).
"""

from __future__ import annotations

import re

from image_release.errors import AuthError, EngineError, RegistryError, RegistryUnreachable


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


_MISSING_IMAGE = ("does not exist locally", "tag does not exist", "no such image")
# What dockerd says when the connection to the registry failed or broke off mid-request (a reset, a dropped
# connection: 'Put "http://.../manifests/1": EOF'), as opposed to an answer it got.
_UNREACHABLE = ("connection refused", "no such host", "i/o timeout", "connection reset", "network is unreachable",
                "no route to host", "dial tcp", "unexpected eof", "broken pipe", "server closed idle connection",
                "context deadline exceeded", "client.timeout exceeded", "tls handshake timeout")
_EOF = re.compile(r"(^|[\s:])EOF$")
_DENIED = ("unauthorized", "authentication required", "denied", "forbidden", "incorrect username or password")
# Status words and registry error codes the daemon quotes without the number.
_STATUS_WORDS = (("toomanyrequests", 429), ("too many requests", 429), ("internal server error", 500),
                 ("bad gateway", 502), ("service unavailable", 503), ("unavailable:", 503),
                 ("gateway timeout", 504))


def push_error(ref: str, message: str) -> Exception:
    """The typed error for a push that failed with the daemon's ``message``: RegistryUnreachable when the
    connection failed or broke off, RegistryError with the HTTP status (429, 5xx: transient, for the
    caller's retry policy) when the registry answered, AuthError, or EngineError for a missing image."""
    low = message.lower()
    text = f"pushing {ref} failed: {message}"
    if any(s in low for s in _MISSING_IMAGE):
        return EngineError(text, hint="build or tag the image first (invoke build)")
    status = _status(low)
    if status == 429:
        return RegistryError(text, hint="the registry limits this client's requests (429 Too Many Requests): "
                             "wait and re-run, or authenticate for a higher limit", status=429)
    if any(s in low for s in _UNREACHABLE) or _EOF.search(message.strip()):
        return RegistryUnreachable(text, hint="start the registry or correct its address in the image name")
    if any(s in low for s in _DENIED):
        return AuthError(text, hint="log in to the registry or give credentials with push permission "
                         "(docker login, or the CI's registry variables)")
    if "http response to https client" in low or "x509" in low or "certificate" in low:
        return RegistryUnreachable(text, hint="the registry's TLS does not match: use https with a valid "
                                   "certificate (loopback registries are spoken to over plain HTTP)")
    if status is not None and status >= 500:
        return RegistryError(text, hint="the registry failed to answer (a server error): check its log, "
                             "then re-run", status=status)
    return RegistryError(text, hint="check the registry's log and the repository name", status=status)


def _status(low: str) -> int | None:
    """The HTTP status a daemon message quotes, as a number or as its words."""
    for words, status in _STATUS_WORDS:
        if words in low:
            return status
    m = re.search(r"(?<![:.\d])\b(4\d\d|5\d\d)\b(?![.:\d])", low)  # not a port nor part of an address
    return int(m.group(1)) if m else None
