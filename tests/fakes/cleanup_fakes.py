"""The OCI side of ghcr.io, just enough for the cleanup's single-tag delete, on top of ``FakeGitHub``'s
package state: pushing a manifest to a tag creates (or finds) the package version of that digest and moves
the tag off any other version, as ghcr.io does. It stands in for ``RegistryClient`` (same method names)."""

from __future__ import annotations

import itertools
import json

from image_release.adapters.registry import DOCKER_MANIFEST_V2 as DOCKER_MANIFEST, Manifest
from image_release.errors import RegistryError
from tests.fakes.github_api import FakeGitHub, PackageVersion

_ids = itertools.count(50001)


class FakeGhcrRegistry:
    def __init__(self, gh: FakeGitHub, owner: str, package: str, *, refuse_push: int | None = None):
        self.gh = gh
        self.owner = owner
        self.package = package
        self.refuse_push = refuse_push  # answer PUTs with this status (403: a token that may not push)
        self.manifests: dict[str, Manifest] = {}
        self.calls: list[tuple[str, str]] = []

    @property
    def _pkg(self):
        return self.gh.packages[(self.owner.lower(), self.package)]

    def seed(self, versions: list[list[str]]) -> list[str]:
        """Create the package with one version per entry (its tags); returns the digests."""
        self.gh.add_package(self.owner, self.package, owner_type="org")
        digests = []
        for i, tags in enumerate(versions):
            doc = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                   "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 2,
                              "digest": "sha256:" + f"{i:064x}"},
                   "layers": []}
            m = Manifest.from_bytes(json.dumps(doc, indent=3).encode(), DOCKER_MANIFEST)
            self.manifests[m.digest] = m
            vid = next(_ids)
            self._pkg.versions[vid] = PackageVersion(id=vid, name=m.digest, tags=list(tags))
            digests.append(m.digest)
        return digests

    def get_manifest(self, repo: str, ref: str) -> Manifest:
        self.calls.append(("GET", ref))
        assert repo == f"{self.owner}/{self.package}"
        if ref in self.manifests:
            return self.manifests[ref]
        for v in self._pkg.versions.values():
            if ref in v.tags:
                return self.manifests[v.name]
        raise RegistryError(f"manifest {ref} not found", status=404)

    def put_manifest(self, repo: str, tag: str, manifest: Manifest) -> str:
        self.calls.append(("PUT", tag))
        assert repo == f"{self.owner}/{self.package}"
        if self.refuse_push:
            raise RegistryError(f"registry ghcr.io refused PUT {repo}:{tag}: denied", status=self.refuse_push)
        with self.gh.lock:
            self.manifests[manifest.digest] = manifest
            for v in self._pkg.versions.values():
                if tag in v.tags:
                    v.tags.remove(tag)
            target = next((v for v in self._pkg.versions.values() if v.name == manifest.digest), None)
            if target is None:
                vid = next(_ids)
                target = self._pkg.versions[vid] = PackageVersion(id=vid, name=manifest.digest, tags=[])
            target.tags.append(tag)
        return manifest.digest
