"""Image references, parsed and validated the way Docker does (pure: no I/O).

Grammar (github.com/distribution/reference):

    reference  := name [ ":" tag ] [ "@" digest ]
    name       := [ domain "/" ] path-component ( "/" path-component )*
    domain     := host [ ":" port ]            host: DNS name, IPv4, or "[" IPv6 "]"
    path-comp  := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
    tag        := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
    digest     := algorithm ":" hex (sha256: 64 hex digits)

Normalisation as Docker's: a name whose first component is not a host (no ".", no ":", not "localhost", no
upper case) lives on ``docker.io``; a single-component name on Docker Hub gets ``library/``; ``index.docker.io``
is ``docker.io``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from image_release.errors import ConfigError

DOCKER_HUB = "docker.io"
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}
NAME_MAX = 255
TAG_MAX = 128

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_DOMAIN_LABEL = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DNS_HOST_RE = re.compile(rf"{_DOMAIN_LABEL}(?:\.{_DOMAIN_LABEL})*")
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST_RE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}")
_SHA256_RE = re.compile(r"sha256:[a-f0-9]{64}")

_EXAMPLE_IMAGE = "ghcr.io/acme/app, registry.example.com:5000/team/app or 127.0.0.1:5000/app"
_EXAMPLE_HOST = "ghcr.io, registry.example.com:5000, 127.0.0.1:5000, [::1]:5000 or localhost:5000"


@dataclass(frozen=True)
class ImageName:
    """A normalised image name: ``registry`` (host[:port]) and ``repository`` (path inside the registry),
    plus the tag and digest given with it, if any."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``registry/repository`` (no tag)."""
        return f"{self.registry}/{self.repository}"

    def ref(self, tag: str | None = None) -> str:
        """``registry/repository:tag`` for ``tag`` (validated), or for the tag this name was parsed with."""
        tag = self.tag if tag is None else tag
        if tag is None:
            raise ConfigError(
                f"no tag given for image {self.name}",
                hint=f"give a tag, for example {self.name}:1.2.3",
            )
        validate_tag(tag)
        return f"{self.name}:{tag}"

    def digest_ref(self, digest: str) -> str:
        """``registry/repository@digest``."""
        validate_digest(digest)
        return f"{self.name}@{digest}"

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_image(name: str) -> ImageName:
    """Parse ``[registry/]repository[:tag][@digest]`` into a normalised :class:`ImageName`.

    Raises ConfigError (with a valid example in the hint) on anything Docker would refuse.
    """
    if not isinstance(name, str):
        raise ConfigError(
            f"image name must be a string, got {type(name).__name__}",
            hint=f"use a name like {_EXAMPLE_IMAGE}",
        )
    original = name
    if not name or name != name.strip():
        raise ConfigError(
            f"invalid image name {original!r}: empty or surrounded by whitespace",
            hint=f"use a name like {_EXAMPLE_IMAGE}",
        )
    digest = None
    if "@" in name:
        name, digest = name.split("@", 1)
        validate_digest(digest)
    tag = None
    # A ":" after the last "/" separates the tag (a ":" before it is the registry port).
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        validate_tag(tag)
    registry, repository = _split_domain(name, original)
    validate_repository(repository)
    if len(registry) + 1 + len(repository) > NAME_MAX:
        raise ConfigError(
            f"invalid image name {original!r}: longer than {NAME_MAX} characters",
            hint="use a shorter repository path",
        )
    return ImageName(registry=registry, repository=repository, tag=tag, digest=digest)


def _split_domain(name: str, original: str) -> tuple[str, str]:
    first, sep, rest = name.partition("/")
    if not sep or (
        not any(c in first for c in ".:[") and first != "localhost" and first.lower() == first
    ):
        registry, repository = DOCKER_HUB, name
    else:
        registry, repository = first, rest
        if not repository:
            raise ConfigError(
                f"invalid image name {original!r}: no repository after the registry {registry!r}",
                hint=f"use a name like {_EXAMPLE_IMAGE}",
            )
        try:
            registry = validate_registry_host(registry)
        except ConfigError as exc:
            raise ConfigError(f"invalid image name {original!r}: {exc.message}", hint=exc.hint) from None
    if registry in _HUB_ALIASES:
        registry = DOCKER_HUB
        if "/" not in repository:
            repository = f"library/{repository}"
    if any(c.isupper() for c in repository):
        raise ConfigError(
            f"invalid image name {original!r}: repository {repository!r} must be lower case",
            hint=f"use {repository.lower()!r}",
        )
    return registry, repository


def validate_repository(repository: str) -> str:
    """Check a repository path (``team/app``). Returns it unchanged."""
    if not isinstance(repository, str) or not repository:
        raise ConfigError(
            "invalid repository: empty",
            hint="use a lower-case path like acme/app",
        )
    if not _PATH_RE.fullmatch(repository):
        why = "must be lower case" if repository.lower() != repository and _PATH_RE.fullmatch(repository.lower()) else (
            "components are lower-case letters and digits, separated by '/', and joined inside by '.', '_', '__' "
            "or dashes; no leading, trailing or doubled separators"
        )
        raise ConfigError(
            f"invalid repository {repository!r}: {why}",
            hint="use a lower-case path like acme/app or team/my-app",
        )
    if len(repository) > NAME_MAX:
        raise ConfigError(
            f"invalid repository {repository[:40]!r}...: longer than {NAME_MAX} characters",
            hint="use a shorter repository path",
        )
    return repository


def split_host_port(host: str) -> tuple[str, int | None]:
    """``host[:port]`` or ``[ipv6]:port`` -> (host without brackets, port or None). No validation of the host."""
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            raise ConfigError(f"invalid registry host {host!r}: unclosed '['", hint=f"use a host like {_EXAMPLE_HOST}")
        bare, rest = host[1:end], host[end + 1 :]
        if rest and not rest.startswith(":"):
            raise ConfigError(
                f"invalid registry host {host!r}: unexpected {rest!r} after ']'", hint=f"use a host like {_EXAMPLE_HOST}"
            )
        port_text = rest[1:] if rest else None
    else:
        bare, sep, port_text = host.partition(":")
        if not sep:
            port_text = None
    port = None
    if port_text is not None:
        if not port_text.isdigit() or not port_text.isascii() or not 0 < int(port_text) < 65536:
            raise ConfigError(
                f"invalid registry host {host!r}: port {port_text!r} is not a number from 1 to 65535",
                hint=f"use a host like {_EXAMPLE_HOST}",
            )
        port = int(port_text)
    return bare, port


def validate_registry_host(host: str) -> str:
    """Check a registry host: DNS name, IPv4, ``[IPv6]`` or ``localhost``, each with an optional ``:port``.

    Returns the host, with ``index.docker.io`` normalised to ``docker.io``.
    """
    if not isinstance(host, str) or not host:
        raise ConfigError("invalid registry host: empty", hint=f"use a host like {_EXAMPLE_HOST}")
    if "://" in host or "/" in host:
        raise ConfigError(
            f"invalid registry host {host!r}: give the host only, without scheme or path",
            hint=f"use a host like {_EXAMPLE_HOST}",
        )
    if not host.startswith("[") and host.count(":") > 1:
        raise ConfigError(
            f"invalid registry host {host!r}: an IPv6 address needs brackets",
            hint="put an IPv6 address in brackets: [::1]:5000",
        )
    bare, port = split_host_port(host)
    if host.startswith("["):
        try:
            ipaddress.IPv6Address(bare)
        except ValueError:
            raise ConfigError(
                f"invalid registry host {host!r}: {bare!r} is not an IPv6 address",
                hint=f"use a host like {_EXAMPLE_HOST}",
            ) from None
    elif ":" in bare or not _DNS_HOST_RE.fullmatch(bare):
        raise ConfigError(f"invalid registry host {host!r}", hint=f"use a host like {_EXAMPLE_HOST}")
    elif re.fullmatch(r"[0-9.]+", bare) and not _is_ipv4(bare):
        raise ConfigError(
            f"invalid registry host {host!r}: {bare!r} is not an IPv4 address",
            hint=f"use a host like {_EXAMPLE_HOST}",
        )
    if host in _HUB_ALIASES:
        return DOCKER_HUB
    return host


def _is_ipv4(text: str) -> bool:
    try:
        ipaddress.IPv4Address(text)
        return True
    except ValueError:
        return False


def validate_tag(tag: str) -> str:
    """Check an image tag: ``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``. Returns it unchanged."""
    if not isinstance(tag, str) or not _TAG_RE.fullmatch(tag):
        shown = tag if not isinstance(tag, str) or len(tag) <= 60 else tag[:60] + "..."
        if isinstance(tag, str) and len(tag) > TAG_MAX and _TAG_RE.fullmatch(tag[:TAG_MAX]):
            why = f"longer than {TAG_MAX} characters"
        elif isinstance(tag, str) and "+" in tag:
            why = "'+' is not allowed in image tags (SemVer build metadata is usually written with '-' or '_')"
        else:
            why = "tags are letters, digits, '_', '.' and '-', start with a letter, digit or '_', at most 128 long"
        raise ConfigError(f"invalid image tag {shown!r}: {why}", hint="use a tag like 1.2.3, v1.2, latest or main-abc1234")
    return tag


def validate_digest(digest: str) -> str:
    """Check a content digest (``sha256:`` and 64 hex digits for sha256). Returns it unchanged."""
    if not isinstance(digest, str) or not _DIGEST_RE.fullmatch(digest) or (
        digest.startswith("sha256:") and not _SHA256_RE.fullmatch(digest)
    ):
        raise ConfigError(
            f"invalid digest {digest!r}",
            hint="a digest looks like sha256: followed by 64 lower-case hex digits",
        )
    return digest


def is_digest(ref: str) -> bool:
    """True when ``ref`` is a digest rather than a tag."""
    return isinstance(ref, str) and ":" in ref and bool(_DIGEST_RE.fullmatch(ref))


def short_digest(digest: str | None) -> str:
    """``sha256:`` and the first 12 hex digits, for messages."""
    if not digest:
        return "-"
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:12]}" if hexpart else digest


def is_plain_http(host: str) -> bool:
    """True when Docker would speak plain HTTP to ``host`` by default: loopback addresses and ``localhost``."""
    try:
        bare, _port = split_host_port(host)
    except ConfigError:
        return False
    if bare.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(bare).is_loopback
    except ValueError:
        return False
