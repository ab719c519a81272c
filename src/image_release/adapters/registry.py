"""A client for the OCI distribution API (``/v2/``) over ``requests``.

What it does and why (see the field notes, "OCI registry"); the transport (auth, retries, bounds, redirects,
thread safety) is ``registry_http.RegistryHttp``'s, the wire types are ``registry_wire``'s (all importable
from here):

- Manifests are read with the full Accept list (OCI index, OCI manifest, Docker manifest list, Docker v2), else
  distribution converts to schema1 and reports another digest; they are written back byte for byte with their
  own media type (never re-serialised), so adding a tag moves no blob. A manifest is at most 4 MiB.
- A manifest PUT's own answer is its read-back when it proves the write: ``201``, ``Docker-Content-Digest``
  equal to the manifest's digest and ``Location`` on this registry (``PutResult.verified``). Only an answer
  that does not prove it costs a HEAD (``read_back=True``). A PUT redirected to another host is not followed
  and counts as stored only if this registry then serves the digest under the tag.
- Tag lists are read page by page (``n=``, ``Link: rel=next`` on the same host), within bounds on pages, bytes
  and time (``tag_pages_max``, ``tag_bytes_max``, ``tag_seconds_max``); a malformed list is a RegistryError.
- DELETE by digest removes every tag on that digest. ``delete_tag`` removes one tag alone: the OCI tag DELETE
  where the registry has it, else a unique throwaway manifest (same blobs, one extra annotation) is put on the
  tag and that digest deleted.
- Blobs: ``blob_exists``, ``get_blob`` (an image config, bounded, checked against its digest), ``mount_blob``
  (from another repository of the same registry, no upload) and
  ``upload_blob`` (monolithic: POST, then PUT with the digest), and ``push_blob`` (mount, else upload if
  absent), so an image can be pushed by digest without the engine.
- ``stats`` counts every request sent (retries and token fetches included) for the benchmarks.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Sequence
from urllib.parse import quote, urljoin

from image_release.adapters.registry_http import RegistryHttp
from image_release.adapters.registry_wire import (  # noqa: F401 - re-exported: the client's vocabulary
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V2,
    MANIFEST_ACCEPT,
    MANIFEST_LIMIT,
    MANIFEST_MEDIA_TYPES,
    MIB,
    OCI_INDEX,
    OCI_MANIFEST,
    TAG_ABSENT,
    TAG_DELETED,
    TAG_MANIFEST,
    TAG_THROWAWAY,
    THROWAWAY_ANNOTATION,
    VIA_ANSWER,
    VIA_NONE,
    VIA_READ_BACK,
    Answer,
    Manifest,
    ManifestInfo,
    PutResult,
    RequestStats,
    error_detail,
    make_throwaway,
    media_type_of,
    parse_www_authenticate,
    ref_sep,
    same_origin,
    sha256_digest,
)
from image_release.core.image_ref import (
    is_digest,
    validate_digest,
    validate_repository,
    validate_tag,
)
from image_release.errors import DeleteRefused, RegistryError

#: what ``push_blob`` did
BLOB_EXISTS = "exists"
BLOB_MOUNTED = "mounted"
BLOB_UPLOADED = "uploaded"


class RegistryClient(RegistryHttp):
    """One registry host: manifests, tags, blobs. Safe for concurrent calls from several threads."""

    tag_page_size: int = 1000  # ``n=`` of the first tag-list page
    tag_pages_max: int = 1000
    tag_bytes_max: int = 64 * MIB
    tag_seconds_max: float = 120.0

    # -- ping and tags ------------------------------------------------------------------------------------------

    def ping(self) -> str:
        """Check the registry answers the v2 API. Returns the auth scheme it asks for ("none", "basic",
        "bearer"). With credentials they are checked (Basic: on /v2/; Bearer: a token without scope)."""
        url = self.base + "/v2/"
        resp = self._send("GET", url, headers=self._auth_header(None), what=f"ping {self.host}")
        if resp.status_code == 200:
            return "basic" if self._basic else "none"
        if resp.status_code == 401:
            scheme, challenge = parse_www_authenticate(resp.headers.get("WWW-Authenticate"))
            if scheme == "bearer" and challenge.get("realm"):
                self._realm = {k: v for k, v in challenge.items() if k in ("realm", "service")}
            if self.credentials is None:
                return scheme or "unknown"
            if scheme == "basic":
                self._basic = True
                resp = self._send("GET", url, headers=self._auth_header(None), what=f"ping {self.host}")
                if resp.status_code != 200:
                    raise self._auth_error(f"ping {self.host}", resp.status_code, resp)
                return "basic"
            if scheme == "bearer" and challenge.get("realm"):
                self._fetch_token(challenge, None, f"ping {self.host}")
                return "bearer"
            raise self._auth_error(f"ping {self.host}", 401, resp)
        raise RegistryError(
            f"{self.base}/v2/ answered HTTP {resp.status_code}: not an OCI distribution registry",
            hint=f"check the registry host {self.host!r}",
            status=resp.status_code,
        )

    def list_tags(self, repo: str) -> list[str]:
        """All tags of ``repo``, page by page (``n=``, ``Link`` on this registry), within the bounds on pages,
        bytes and time. An unknown or emptied repository gives []. A link back to a page already read ends
        the list."""
        validate_repository(repo)
        what = f"list tags of {self.host}/{repo}"
        deadline = time.monotonic() + self.tag_seconds_max
        first = f"{self.base}/v2/{repo}/tags/list"
        url: str | None = f"{first}?n={self.tag_page_size}"
        tags: list[str] = []
        seen: set[str] = set()
        received = 0
        while url and url not in seen:
            self._check_tag_bounds(what, len(seen), received, deadline)
            seen.add(url)
            resp = self._call("GET", url, repo=repo, actions=("pull",), what=what,
                              limit=self.tag_bytes_max - received, deadline=deadline)
            if resp.status_code == 400 and len(seen) == 1:  # a registry that refuses this n=: its own pages
                resp = self._call("GET", first, repo=repo, actions=("pull",), what=what,
                                  limit=self.tag_bytes_max, deadline=deadline)
                url = first
            if resp.status_code == 404 and error_detail(resp)[0] in ("NAME_UNKNOWN", ""):
                return []
            if resp.status_code != 200:
                raise self._fail(resp, f"list tags of {repo}")
            received += len(resp.content)
            tags.extend(self._tag_page(resp, repo))
            url = self._next_page(url, resp)
        return list(dict.fromkeys(tags))

    def _check_tag_bounds(self, what: str, pages: int, received: int, deadline: float) -> None:
        over = None
        if pages >= self.tag_pages_max:
            over = f"{self.tag_pages_max} pages"
        elif received >= self.tag_bytes_max:
            over = f"{self.tag_bytes_max // MIB} MiB"
        elif time.monotonic() > deadline:
            over = f"{self.tag_seconds_max:g} s"
        if over:
            raise RegistryError(f"{what}: the tag list did not end within {over}; stopped reading it",
                                hint="the registry (or a proxy) keeps sending further pages (Link: rel=next); "
                                "check it, or set release.known_versions.registry: false to plan without it")

    def _tag_page(self, resp: Answer, repo: str) -> list[str]:
        try:
            body = resp.json()
        except ValueError as exc:
            raise RegistryError(f"registry {self.host} sent an unreadable tag list for {repo}: {exc}",
                                status=resp.status_code) from None
        tags = body.get("tags") if isinstance(body, dict) else None  # distribution: {"tags": null} once emptied
        if not isinstance(body, dict) or not isinstance(tags, (list, type(None))) \
                or not all(isinstance(t, str) for t in tags or ()):
            raise RegistryError(f"registry {self.host} sent a malformed tag list for {repo} "
                                "(expected {\"tags\": [strings]})",
                                hint="check the registry and any proxy in between", status=resp.status_code)
        return list(tags or ())

    def _next_page(self, url: str, resp: Answer) -> str | None:
        next_url = resp.links.get("next", {}).get("url")
        if not next_url:
            return None
        next_url = urljoin(url, next_url)
        if not same_origin(next_url, self.base):
            raise RegistryError(
                f"registry {self.host} paginates its tag list to another host ({next_url.split('/')[2]})",
                hint="refusing to follow it; check the registry's configuration",
            )
        return next_url

    def tags_by_digest(self, repo: str, tags: Sequence[str] | None = None) -> dict[str, list[str]]:
        """Every tag of ``repo`` (or only ``tags``) grouped by the manifest digest it points at (tags sorted; a
        tag deleted meanwhile is left out): one HEAD per tag, sent concurrently and bounded
        (``registry_heads``)."""
        from image_release.adapters.registry_heads import tags_by_digest

        return tags_by_digest(self, repo, self.list_tags(repo) if tags is None else tags)

    # -- manifests ----------------------------------------------------------------------------------------------

    def _read_manifest(self, method: str, repo: str, ref: str) -> tuple[Answer, str]:
        """HEAD or GET ``repo:ref`` with the full manifest Accept list: (answer, what it was)."""
        validate_repository(repo)
        self._check_ref(ref)
        what = f"{method} {self.host}/{repo}{ref_sep(ref)}{ref}"
        resp = self._call(method, f"/v2/{repo}/manifests/{ref}", repo=repo, actions=("pull",),
                          headers={"Accept": MANIFEST_ACCEPT}, what=what, limit=MANIFEST_LIMIT)
        return resp, what

    def head_manifest(self, repo: str, ref: str) -> ManifestInfo | None:
        """Digest, media type and size of ``repo:ref`` (tag or digest), or None when it does not exist."""
        resp, what = self._read_manifest("HEAD", repo, ref)
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise self._fail(resp, what)
        digest = resp.headers.get("Docker-Content-Digest")
        media_type = media_type_of(resp.headers.get("Content-Type"))
        if not digest or media_type not in MANIFEST_MEDIA_TYPES:
            m = self.get_manifest(repo, ref)
            return ManifestInfo(m.digest, m.media_type, m.size)
        length = resp.headers.get("Content-Length") or "0"
        return ManifestInfo(digest, media_type, int(length) if length.isdigit() else 0)

    def get_manifest(self, repo: str, ref: str) -> Manifest:
        """The manifest of ``repo:ref`` byte for byte. Raises RegistryError (status 404) when absent."""
        resp, what = self._read_manifest("GET", repo, ref)
        if resp.status_code == 404:
            raise RegistryError(f"manifest {self.host}/{repo}{ref_sep(ref)}{ref} not found",
                                hint="check the repository and tag (list them with `invoke clean --dry-run`)",
                                status=404)
        if resp.status_code != 200:
            raise self._fail(resp, what)
        raw = resp.content
        media_type = media_type_of(resp.headers.get("Content-Type"))
        if media_type not in MANIFEST_MEDIA_TYPES:
            try:
                media_type = json.loads(raw).get("mediaType") or media_type
            except (ValueError, AttributeError):
                pass
        digest = sha256_digest(raw)
        header = resp.headers.get("Docker-Content-Digest")
        expected = ref if is_digest(ref) else header
        if expected and expected.startswith("sha256:") and expected != digest:
            raise RegistryError(
                f"manifest {self.host}/{repo}{ref_sep(ref)}{ref} does not match its digest "
                f"(got {digest}, expected {expected})",
                hint="the registry or a proxy altered the manifest; retry, and check any proxy in between",
            )
        return Manifest(raw=raw, media_type=media_type, digest=digest)

    def put_manifest(self, repo: str, tag: str, manifest: Manifest, *, read_back: bool = False) -> PutResult:
        """Put ``manifest`` (its exact bytes and media type) under ``repo:tag`` (a tag or the digest).

        The answer is the read-back when it proves the write (see the module docstring); when it does not,
        ``read_back=True`` HEADs the tag on this registry (one request) and ``verified`` says whether it
        serves the manifest's digest there. A redirect to another host is never followed: the tag is then
        read back here, and a RegistryError raised unless this registry serves the digest under it.
        Raises RegistryError when the registry refuses the manifest or stores it under another digest.
        """
        validate_repository(repo)
        self._check_ref(tag)
        what = f"PUT {self.host}/{repo}{ref_sep(tag)}{tag}"
        resp = self._call("PUT", f"/v2/{repo}/manifests/{tag}", repo=repo, actions=("pull", "push"),
                          headers={"Content-Type": manifest.media_type}, data=manifest.raw, what=what,
                          foreign_redirect_ok=True)
        if resp.foreign_redirect:
            return self._verify_redirected_put(repo, tag, manifest, resp.foreign_redirect, what)
        if resp.status_code not in (200, 201, 202):
            code, _ = error_detail(resp)
            hint = None
            if code in ("MANIFEST_BLOB_UNKNOWN", "BLOB_UNKNOWN", "MANIFEST_UNKNOWN"):
                hint = f"the image's layers must already be in {repo}: push the image there first"
            raise self._fail(resp, what, hint)
        header = resp.headers.get("Docker-Content-Digest")
        if header and header != manifest.digest:
            raise RegistryError(
                f"registry {self.host} stored {repo}:{tag} as {header}, not as the manifest's digest "
                f"{manifest.digest}",
                hint="the registry rewrote the manifest; check its media type support",
            )
        gap = self._put_answer_gap(resp)
        if not gap:
            return PutResult(manifest.digest, True, header, VIA_ANSWER)
        if not read_back:
            return PutResult(manifest.digest, False, header, VIA_NONE, gap)
        info = self.head_manifest(repo, tag)
        seen = info.digest if info else None
        return PutResult(manifest.digest, seen == manifest.digest, seen, VIA_READ_BACK, gap)

    def _put_answer_gap(self, resp: Answer) -> str:
        """Why a successful manifest PUT's answer does not prove the write ("" when it does)."""
        if resp.status_code != 201:
            return f"the registry answered {resp.status_code}, not 201 Created"
        if not resp.headers.get("Docker-Content-Digest"):
            return "the answer has no Docker-Content-Digest"
        location = resp.headers.get("Location")
        if not location:
            return "the answer has no Location"
        if not same_origin(urljoin(resp.url, location), self.base):
            return f"the answer's Location is on another host ({location.split('/')[2]})"
        return ""

    def _verify_redirected_put(self, repo: str, tag: str, manifest: Manifest, host: str, what: str) -> PutResult:
        reason = f"the registry redirected the PUT to another host ({host}); not followed"
        info = self.head_manifest(repo, tag)
        if info is not None and info.digest == manifest.digest:
            return PutResult(manifest.digest, True, info.digest, VIA_READ_BACK, reason)
        raise RegistryError(
            f"{what}: {reason}, and {self.host} serves {info.digest if info else 'nothing'} under {tag}, "
            f"not {manifest.digest}",
            hint=f"only what {self.host} itself stores counts: check the registry's configuration and any proxy "
            "in between (a redirect of a manifest PUT to another host is not a write to this registry)",
        )

    def delete_manifest(self, repo: str, digest: str) -> bool:
        """Delete a manifest by digest; every tag on it goes too. False when it was already gone.

        Raises DeleteRefused where the registry does not delete (405 / UNSUPPORTED)."""
        validate_repository(repo)
        validate_digest(digest)
        what = f"DELETE {self.host}/{repo}@{digest}"
        resp = self._call("DELETE", f"/v2/{repo}/manifests/{digest}", repo=repo, actions=("delete",), what=what)
        if resp.status_code in (200, 202, 204):
            return True
        code, text = error_detail(resp)
        if resp.status_code == 405 or code == "UNSUPPORTED":
            raise self._refused(f"manifest {repo}@{digest}", self._scrub(text), resp.status_code)
        if resp.status_code == 404:
            return False
        raise self._fail(resp, what)

    def _refused(self, subject: str, text: str, status: int) -> DeleteRefused:
        return DeleteRefused(
            f"registry {self.host} refuses to delete {subject}: {text}",
            hint="enable deletion on the registry (distribution: storage.delete.enabled: true); "
            "ghcr.io deletes through the GitHub Packages API and GitLab through its registry API; "
            "Docker Hub only in its web UI",
            status=status,
        )

    def delete_tag(self, repo: str, tag: str, *, siblings_ok: bool = False) -> str:
        """Remove the one tag ``repo:tag``; other tags on the same digest stay.

        Tries the OCI tag DELETE; where it is refused (400/405, as on distribution 2.8) a unique throwaway
        manifest (same blobs, one extra annotation) is put on the tag and its digest deleted. If the registry
        refuses that delete too, the original manifest is put back on the tag and DeleteRefused raised.

        ``siblings_ok=True``: the caller accepts that other tags on the same digest go as well; the manifest is
        deleted by digest straight away (one request fewer, and the manifest itself is gone).

        Returns what was done: "tag-delete", "throwaway", "manifest" or "absent".
        """
        validate_repository(repo)
        validate_tag(tag)
        info = self.head_manifest(repo, tag)
        if info is None:
            return TAG_ABSENT
        if siblings_ok:
            self.delete_manifest(repo, info.digest)
            return TAG_MANIFEST
        what = f"DELETE {self.host}/{repo}:{tag}"
        resp = self._call("DELETE", f"/v2/{repo}/manifests/{tag}", repo=repo, actions=("delete",), what=what)
        if resp.status_code in (200, 202, 204):
            return TAG_DELETED
        if resp.status_code == 404 and self.head_manifest(repo, tag) is None:
            return TAG_ABSENT
        if resp.status_code not in (400, 404, 405):
            code, _ = error_detail(resp)
            if code != "UNSUPPORTED":
                raise self._fail(resp, what)
        return self._delete_tag_by_throwaway(repo, tag)

    def _delete_tag_by_throwaway(self, repo: str, tag: str) -> str:
        original = self.get_manifest(repo, tag)
        throwaway = make_throwaway(original)
        self.put_manifest(repo, tag, throwaway)
        try:
            self.delete_manifest(repo, throwaway.digest)
        except DeleteRefused as exc:
            self.put_manifest(repo, tag, original)  # put the tag back where it was
            detail = exc.message.split(": ", 1)[-1]
            refused = self._refused(f"tag {repo}:{tag} (the tag is left as it was)", detail, exc.status or 405)
            raise refused from None
        return TAG_THROWAWAY

    def _check_ref(self, ref: str) -> None:
        if isinstance(ref, str) and "@" not in ref and ":" in ref:
            validate_digest(ref)
        else:
            validate_tag(ref)

    # -- blobs --------------------------------------------------------------------------------------------------

    def blob_exists(self, repo: str, digest: str) -> int | None:
        """The size of blob ``digest`` in ``repo``, or None when the repository does not have it."""
        validate_repository(repo)
        validate_digest(digest)
        what = f"HEAD {self.host}/{repo} blob {digest}"
        resp = self._call("HEAD", f"/v2/{repo}/blobs/{digest}", repo=repo, actions=("pull",), what=what)
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise self._fail(resp, what)
        length = resp.headers.get("Content-Length") or "0"
        return int(length) if length.isdigit() else 0

    def get_blob(self, repo: str, digest: str, *, limit: int = MANIFEST_LIMIT) -> bytes | None:
        """The blob ``digest`` of ``repo`` (an image config, say: at most ``limit`` bytes), checked against its
        digest; None when the repository does not have it. A redirect to another host (blob storage) is
        followed without the registry's credentials."""
        validate_repository(repo)
        validate_digest(digest)
        what = f"GET {self.host}/{repo} blob {digest}"
        resp = self._call("GET", f"/v2/{repo}/blobs/{digest}", repo=repo, actions=("pull",), what=what, limit=limit,
                          foreign_redirect_ok=True)
        if resp.foreign_redirect:
            location = resp.headers.get("Location") or ""
            resp = self._send("GET", urljoin(resp.url, location), what=what, limit=limit)
        if resp.status_code == 404:
            return None
        if resp.status_code != 200:
            raise self._fail(resp, what)
        data = resp.content
        if sha256_digest(data) != digest:
            raise RegistryError(f"{what}: the registry sent other content (sha256 {sha256_digest(data)})",
                                hint="the registry or a proxy altered the blob; retry, and check any proxy in between")
        return data

    def mount_blob(self, repo: str, digest: str, from_repo: str) -> bool:
        """Mount blob ``digest`` from ``from_repo`` into ``repo`` (same registry, nothing uploaded). False when
        the registry would not mount it (the upload it opened instead is cancelled)."""
        mounted, location = self._start_upload(repo, digest, from_repo)
        if not mounted and location:
            self._cancel_upload(repo, location)
        return mounted

    def upload_blob(self, repo: str, data: bytes | Path, digest: str | None = None) -> str:
        """Upload a blob into ``repo`` in one piece (POST, then PUT with the digest): ``data`` as bytes or a
        file's path (read per attempt, not held in memory). Returns the digest, checked against the answer."""
        validate_repository(repo)
        digest = validate_digest(digest) if digest else _digest_of(data)
        _mounted, location = self._start_upload(repo, digest, None)
        return self._finish_upload(repo, digest, data, location)

    def push_blob(self, repo: str, digest: str, data: bytes | Path | None = None, *,
                  mount_from: Sequence[str] = ()) -> str:
        """Make blob ``digest`` present in ``repo`` at the least cost: a mount from each of ``mount_from``
        in turn (one request when it works; a registry mounts a blob the repository already has too), else a
        HEAD, else an upload of ``data`` (into the upload the last refused mount opened). Returns "mounted",
        "exists" or "uploaded"; RegistryError when the blob is absent and no ``data`` was given."""
        validate_repository(repo)
        validate_digest(digest)
        location = None
        for source in mount_from:
            if location:
                self._cancel_upload(repo, location)
            mounted, location = self._start_upload(repo, digest, source)
            if mounted:
                return BLOB_MOUNTED
        if self.blob_exists(repo, digest) is not None:
            if location:
                self._cancel_upload(repo, location)
            return BLOB_EXISTS
        if data is None:
            if location:
                self._cancel_upload(repo, location)
            raise RegistryError(f"blob {digest} is not in {self.host}/{repo} and could not be mounted",
                                hint="push the image's layers there first, or give the blob's content")
        self._finish_upload(repo, digest, data, location)
        return BLOB_UPLOADED

    def _start_upload(self, repo: str, digest: str, from_repo: str | None) -> tuple[bool, str | None]:
        """POST an upload (a mount when ``from_repo``): (mounted, the upload's location when one was opened)."""
        validate_repository(repo)
        path = f"/v2/{repo}/blobs/uploads/"
        also: tuple[str, ...] = ()
        if from_repo is not None:
            validate_repository(from_repo)
            path += f"?mount={quote(digest, safe='')}&from={quote(from_repo, safe='')}"
            also = (f"repository:{from_repo}:pull",)
        what = f"POST {self.host}/{repo} blob upload" + (f" (mount {digest} from {from_repo})" if from_repo else "")
        resp = self._call("POST", path, repo=repo, actions=("pull", "push"), also=also, what=what)
        if resp.status_code == 201 and from_repo is not None:
            return True, None
        if resp.status_code != 202:
            raise self._fail(resp, what)
        location = resp.headers.get("Location")
        if not location:
            raise RegistryError(f"{what}: the registry opened an upload without a Location",
                                hint="check the registry", status=202)
        location = urljoin(resp.url, location)
        if not same_origin(location, self.base):
            raise RegistryError(f"{what}: the registry sends the upload to another host ({location.split('/')[2]})",
                                hint="only the registry written to is trusted with the image's content")
        return False, location

    def _finish_upload(self, repo: str, digest: str, data: bytes | Path, location: str | None) -> str:
        """PUT ``data`` into the open upload at ``location`` (a new one when None, and once more when the
        registry forgot the upload, as after a retried failure)."""
        what = f"PUT {self.host}/{repo} blob {digest}"
        for _try in range(2):
            if location is None:
                _mounted, location = self._start_upload(repo, digest, None)
            sep = "&" if "?" in (location or "") else "?"
            resp = self._call("PUT", f"{location}{sep}digest={quote(digest, safe='')}", repo=repo,
                              actions=("pull", "push"), headers={"Content-Type": "application/octet-stream"},
                              data=data, what=what)
            if resp.status_code == 404 and error_detail(resp)[0] == "BLOB_UPLOAD_UNKNOWN":
                location = None
                continue
            if resp.status_code not in (201, 204):
                raise self._fail(resp, what)
            stored = resp.headers.get("Docker-Content-Digest")
            if stored and stored != digest:
                raise RegistryError(f"{what}: the registry stored it as {stored}",
                                    hint="the content does not match its digest; check the source of the blob")
            return digest
        raise self._fail(resp, what)

    def _cancel_upload(self, repo: str, location: str) -> None:
        """Cancel an upload this client opened and will not use (best effort: an abandoned upload expires)."""
        try:
            self._call("DELETE", location, repo=repo, actions=("pull", "push"),
                       what=f"DELETE {self.host}/{repo} unused blob upload")
        except RegistryError:
            pass


def _digest_of(data: bytes | Path) -> str:
    if not isinstance(data, Path):
        return sha256_digest(data)
    h = hashlib.sha256()
    with data.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()
