"""What to build (pure data): the plan hands a BuildSpec to the engine adapter."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BuildSecret:
    """A BuildKit secret: ``RUN --mount=type=secret,id=ID``. The value comes from an env var or a file,
    never from the spec itself (so a spec can be printed)."""

    id: str
    env: str | None = None  # name of the environment variable holding the value
    src: str | None = None  # path of a file holding the value


@dataclass(frozen=True)
class BuildSpec:
    context: str = "."
    dockerfile: str = "Dockerfile"
    tags: tuple[str, ...] = ()  # full refs to give the built image locally (registry/repo:tag)
    build_args: tuple[tuple[str, str], ...] = ()
    target: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    platforms: tuple[str, ...] = ()  # BuildKit only
    cache_from: tuple[str, ...] = ()
    cache_to: tuple[str, ...] = ()  # BuildKit only
    secrets: tuple[BuildSecret, ...] = ()  # BuildKit only
    buildkit: str = "auto"  # auto | on | off
    builder: str | None = None  # a named buildx builder (remote BuildKit workers)
    network: str | None = None  # e.g. "host" where dockerd runs with --bridge=none
    pull: bool = False
    no_cache: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def needs_buildkit(self) -> tuple[str, ...]:
        """The features asked for that only BuildKit has (empty when the classic builder will do)."""
        needs = []
        if self.platforms:
            needs.append("platforms")
        if self.cache_to:
            needs.append("cache export (cache_to)")
        if self.secrets:
            needs.append("build secrets")
        if self.builder:
            needs.append("a buildx builder")
        return tuple(needs)
