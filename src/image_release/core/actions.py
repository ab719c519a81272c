"""The actions a run can take (pure data).

Every step reads what it needs, hands those facts to a pure function in core that returns a list of
these actions, and the applier (``image_release.pipeline.runner.apply``) carries them out in order. A dry
run prints the same list (``describe`` of each) and applies none of it: that is the only place a dry
run differs from a real one.

Actions name *what* to do, never how: the applier picks the adapter. An action whose outcome depends
on the registry at that moment (``Converge``, ``DeleteIfUntagged``) carries the rule, and the
applier reads just before it acts and asks core for the decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from image_release.core.build_spec import BuildSpec
from image_release.core.image_ref import short_digest
from image_release.core.release_spec import ForgeTarget, ReleaseSpec


class Action:
    """Base of every action: ``describe`` says what it does, in the words a dry run prints after
    "would"; ``details`` is extra text a dry run shows after it (the release notes, say)."""

    def describe(self) -> str:  # pragma: no cover - every action overrides it
        raise NotImplementedError

    def details(self) -> tuple[str, str] | None:
        """(group title, text) that a dry run shows after the action's line."""
        return None


# -- the image -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Build(Action):
    spec: BuildSpec

    def describe(self) -> str:
        return f"build {', '.join(self.spec.tags)} from {self.spec.context} ({self.spec.dockerfile})"


@dataclass(frozen=True)
class TagLocal(Action):
    """Give the image built in this run more local tags."""

    refs: tuple[str, ...]

    def describe(self) -> str:
        return f"tag the image locally as {', '.join(self.refs)}"


# -- publishing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushVersion(Action):
    """Push ``image:tag`` once through the tool's own registry client, then every other tag of the release
    is put as a manifest (``PutTags``). The source is the image built in this run (its blobs, then its
    manifest), or ``index``: an OCI image index over per-platform digests already in the registry
    (``core.merge.MergedIndex``, from ``invoke release --merge``), of which only the index itself is put.

    ``guarded``: ``tag`` is the version's own tag, so it is read again right before the manifest PUT: an
    image another run put there since the plan read ``replaces`` (the digest the tag pointed at then,
    None when absent) is marked replaced before the PUT (``core.publish.replaced_meanwhile``)."""

    image: str
    tag: str
    later_tags: tuple[str, ...] = ()  # for the description only
    replaces: str | None = None
    guarded: bool = False
    index: object | None = field(default=None, repr=False)  # a core.merge.MergedIndex

    def describe(self) -> str:
        rest = ", ".join(self.later_tags) or "no other tags"
        if self.index is not None:
            return (f"put the image index {short_digest(self.index.digest)} over "
                    f"{self.index.describe_platforms()} as {self.image}:{self.tag}, then add {rest} as "
                    "manifests (no blob moves)")
        return f"push {self.image}:{self.tag} once, then add {rest} as manifests (no blob re-upload)"

    def details(self) -> tuple[str, str] | None:
        if self.index is None:
            return None
        return f"image index {self.index.digest} (dry run)", self.index.text()


@dataclass(frozen=True)
class PushByDigest(Action):
    """Push the one-platform image built in this run to every one of ``images`` by digest only (no tag
    moves: blobs, then the manifest under its digest), and record the digest for a later merge in
    ``record_dir/<image-safe-name>/<platform-safe>.json`` (``core.merge.record_path``), with the
    platform, the image and the ``commit``."""

    images: tuple[str, ...]
    platform: str
    record_dir: str
    commit: str | None = None

    def describe(self) -> str:
        from image_release.core.merge import record_path

        where = ", ".join(record_path(self.record_dir, i, self.platform) for i in self.images)
        return (f"push the {self.platform} image to {', '.join(self.images)} by digest only (no tag moves), and "
                f"record its digest in {where}")


@dataclass(frozen=True)
class PutTags(Action):
    """Put the manifest ``image:source`` resolves to (just pushed) under every one of ``tags``,
    byte for byte, and check each tag resolves to it (``settled_later`` ones may have been moved on by
    a concurrent release: ``Converge`` settles those)."""

    image: str
    source: str
    tags: tuple[str, ...]
    settled_later: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"add {', '.join(self.tags)} to {self.image} (the manifest of {self.source}, byte for byte)"


@dataclass(frozen=True)
class Converge(Action):
    """After publishing a version, settle its other tags against concurrent releases: each floating tag
    on the highest stable version that owns it (two releases of one line can finish in the wrong
    order), and every tag of this version on the image its version tag points at *now* (two releases of
    the same version end on one image: the one whose version tag landed last). A run whose version
    tag was replaced by another run's has lost that race: its tags converge on the winner's image, its
    own image is marked replaced, and it fails saying to re-run."""

    image: str
    version_tag: str | None  # None: the rules give no tag of this version alone (nothing to race for)
    tags: tuple[str, ...]  # the other tags this run put
    floating: tuple[str, ...] = ()

    def describe(self) -> str:
        return (f"check {', '.join(self.tags)} of {self.image} against concurrent releases and put each on "
                "the version that owns it")


@dataclass(frozen=True)
class MarkReplaced(Action):
    """Record in the registry, before the version tag moves, that ``digest`` (the image ``version_tag``
    pointed at) is to be deleted once nothing else points at it: a tag ``sha256-<hex>.replaced`` on
    that image. Deleting the image removes the record with it; a run killed in between, or a delete
    that failed, leaves the record for the next run (or ``invoke clean``) to finish."""

    image: str
    version_tag: str
    digest: str

    def describe(self) -> str:
        return f"mark the image {short_digest(self.digest)} of {self.image}:{self.version_tag} as replaced"


@dataclass(frozen=True)
class DeleteIfUntagged(Action):
    """Same-version replacement: delete ``digest`` (what ``version_tag`` pointed at before this
    release) once ``version_tag`` points at the new image and no tag but its record points at it."""

    image: str
    version_tag: str
    digest: str

    def describe(self) -> str:
        return (f"delete the old {self.image}:{self.version_tag} image {short_digest(self.digest)} after "
                "publishing, if no tag still points at it")


@dataclass(frozen=True)
class FinishReplacements(Action):
    """Delete the images that earlier releases marked replaced and did not delete (killed, refused,
    or lost a same-version race), each once no tag but its record points at it. The publish step also
    hands it the images it marked right before its own version PUT (another run of the same version had
    put them there meanwhile: see ``PushVersion``)."""

    image: str
    digests: tuple[str, ...]

    def describe(self) -> str:
        listed = ", ".join(short_digest(d) for d in self.digests)
        return f"delete the images earlier releases of {self.image} left marked replaced ({listed}), if untagged"


# -- the forge release ---------------------------------------------------------------------------


def _release_line(spec: ReleaseSpec, where: str) -> str:
    return (f"create or update {spec.name!r} for {spec.tag} on {where} (prerelease: "
            f"{'yes' if spec.prerelease else 'no'}, latest: {'yes' if spec.make_latest else 'no'})")


@dataclass(frozen=True)
class PublishRelease(Action):
    """Create or update the forge release for ``spec.tag`` (never a duplicate)."""

    target: ForgeTarget
    spec: ReleaseSpec = field(repr=False)
    full_body: str = field(default="", repr=False)

    def describe(self) -> str:
        return _release_line(self.spec, self.target.describe())

    def details(self) -> tuple[str, str]:
        return "release notes (dry run)", self.full_body


@dataclass(frozen=True)
class WriteNotes(Action):
    """No forge: the release notes go to a file."""

    path: str
    spec: ReleaseSpec = field(repr=False)
    body: str = field(repr=False, default="")

    def describe(self) -> str:
        return _release_line(self.spec, f"no forge: the notes go to {self.path}")

    def details(self) -> tuple[str, str]:
        return "release notes (dry run)", self.body


# -- cleanup -------------------------------------------------------------------------------------


class Deletion(Action):
    """A delete action: ``what`` names the object (for the report), ``reason`` says why it goes."""

    what: str
    reason: str

    def describe(self) -> str:
        return f"delete {self.what}: {self.reason}"


@dataclass(frozen=True)
class DeleteManifest(Deletion):
    """Delete a manifest by digest; every tag on it goes with it (``tags``: the ones it has)."""

    image: str
    digest: str
    tags: tuple[str, ...]
    reason: str
    about: str = ""  # what the manifest is, when it has no tags ("the previous 1.2.3")

    @property
    def what(self) -> str:
        return f"manifest {short_digest(self.digest)} ({self.about or 'tags ' + ', '.join(self.tags)})"


@dataclass(frozen=True)
class DeleteTag(Deletion):
    """Remove one tag alone; the manifest stays (other kept tags point at it)."""

    image: str
    tag: str
    digest: str
    reason: str

    @property
    def what(self) -> str:
        return f"tag {self.tag} ({short_digest(self.digest)})"


@dataclass(frozen=True)
class ScheduleBulkDelete(Action):
    """GitLab's own asynchronous cleanup of a repository's version tags."""

    image: str
    name_regex_delete: str
    keep_n: int | None = None
    name_regex_keep: str | None = None
    older_than: str | None = None

    def describe(self) -> str:
        parts = [f"name_regex_delete={self.name_regex_delete!r}"]
        parts += [f"{k}={v!r}" for k, v in (("keep_n", self.keep_n), ("name_regex_keep", self.name_regex_keep),
                                             ("older_than", self.older_than)) if v is not None]
        return (f"schedule GitLab's bulk delete for {self.image} (" + ", ".join(parts) + "); it runs "
                "asynchronously, at most once an hour per repository, and never deletes 'latest'")


# -- signing (after publishing: the digest every tag of the release shares) -----------------------


def _object_tag(digest: str | None, tag: str, suffix: str) -> str:
    return digest.replace(":", "-", 1) + suffix if digest else f"sha256-<digest of {tag}>{suffix}"


@dataclass(frozen=True)
class Attest(Action):
    """Attest the image ``image:tag`` resolves to (``digest``, once published): an SBOM in ``sbom``'s format
    (made by syft from the registry) and/or SLSA provenance from ``provenance`` (a ``BuildFacts``), each an
    in-toto statement in a signed DSSE envelope, stored under ``sha256-<hex>.att`` (``mode``: key or cosign)."""

    image: str
    tag: str
    sbom: str | None = None
    provenance: object | None = field(default=None, repr=False)
    mode: str = "key"
    digest: str | None = None

    @property
    def predicate_types(self) -> tuple[str, ...]:
        from image_release.core.attestation import SLSA_PROVENANCE_V1, sbom_format

        return tuple(t for t in (sbom_format(self.sbom).predicate_type if self.sbom else None,
                                 SLSA_PROVENANCE_V1 if self.provenance is not None else None) if t)

    def describe(self) -> str:
        what = [f"an SBOM ({self.sbom} JSON, made by syft from the registry)"] if self.sbom else []
        what += ["SLSA provenance v1"] if self.provenance is not None else []
        how = " through cosign" if self.mode == "cosign" else ""
        return (f"attest {self.image}:{self.tag} with {' and '.join(what)}, signed{how}, under "
                f"{_object_tag(self.digest, self.tag, '.att')}")


@dataclass(frozen=True)
class Sign(Action):
    """Sign the image ``image:tag`` resolves to (``digest``) in cosign's format under ``sha256-<hex>.sig``,
    and each platform manifest of an index; the payload lists the ``attestations`` made for it."""

    image: str
    tag: str
    attestations: tuple[str, ...] = ()
    mode: str = "key"
    keyless: bool = False
    digest: str | None = None

    def describe(self) -> str:
        how = " through cosign" + (" (keyless, the CI's OIDC identity)" if self.keyless else "") if (
            self.mode == "cosign") else " with the key of release.sign.key_env"
        listing = f", listing the attestations {', '.join(self.attestations)}" if self.attestations else ""
        return (f"sign {self.image}:{self.tag}{how} in cosign's format under "
                f"{_object_tag(self.digest, self.tag, '.sig')} (and each platform manifest of an index){listing}")


@dataclass(frozen=True)
class DeleteAttached(DeleteManifest):
    """Delete a signature or attestation object (``tags``: its ``sha256-<hex>.sig``/``.att``/``.sbom`` tags)
    because the image it belongs to (``subject``) is deleted: only once that image is gone."""

    subject: str = ""

    @property
    def what(self) -> str:
        return f"manifest {short_digest(self.digest)} ({', '.join(self.tags)}: {self.about or 'attached'})"
