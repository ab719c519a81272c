"""Typed errors. Every error names the problem and, in ``hint``, the fix.

The core and the adapters raise these; one boundary (``image_release.tasks._boundary``)
turns them into a message on stderr and a non-zero exit. Nothing else prints errors.
"""

from __future__ import annotations


class ReleaseError(Exception):
    """Base class: ``message`` says what is wrong, ``hint`` says how to fix it."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class ConfigError(ReleaseError):
    """A setting is missing, of the wrong type or out of range."""

    exit_code = 2


class VersionError(ReleaseError):
    """A tag or version is not SemVer."""

    exit_code = 2


class RuleError(ReleaseError):
    """A tag rule (docker/metadata-action syntax) or template is malformed."""

    exit_code = 2


class ContextError(ReleaseError):
    """The release context (tag, branch, CI environment, git) cannot be determined."""

    exit_code = 2


class GitError(ReleaseError):
    """A git command failed or the repository is not in a usable state."""


class BuildError(ReleaseError):
    """The image build failed (bad Dockerfile or context, daemon error)."""


class EngineError(ReleaseError):
    """The container engine cannot be reached or refused a request."""


class RegistryError(ReleaseError):
    """The registry answered with an error."""

    def __init__(self, message: str, hint: str | None = None, status: int | None = None):
        super().__init__(message, hint)
        self.status = status


class RegistryUnreachable(RegistryError):
    """The registry cannot be reached at all (connection refused, DNS, timeout)."""


class AuthError(ReleaseError):
    """Credentials are missing or were refused."""


class DeleteRefused(RegistryError):
    """The registry refuses deletion (405 UNSUPPORTED, as Docker Hub and ghcr.io do)."""


class ForgeError(ReleaseError):
    """GitHub or GitLab refused or failed a release request."""

    def __init__(self, message: str, hint: str | None = None, status: int | None = None):
        super().__init__(message, hint)
        self.status = status


class SigningError(ReleaseError):
    """Signing or attesting cannot go on: unusable key, malformed signature object, too many signatures."""


class VerificationFailed(ReleaseError):
    """The image's signature or attestations do not verify (``invoke verify``)."""


class SbomError(ReleaseError):
    """syft is missing, or could not make the SBOM."""


class PublishError(ReleaseError):
    """Publishing stopped part-way. ``published`` lists what is already in the registry."""

    def __init__(self, message: str, hint: str | None = None, published: tuple[str, ...] = ()):
        super().__init__(message, hint)
        self.published = tuple(published)

    def __str__(self) -> str:
        text = self.message
        if self.published:
            text += "\n  already published: " + ", ".join(self.published)
        if self.hint:
            text += f"\n  hint: {self.hint}"
        return text
