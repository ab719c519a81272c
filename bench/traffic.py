"""Section 2 of the benchmark: registry requests, counted by bench/proxy.py in front of the registry.

A tag sweep (one image, 1 / 4 / 12 / 50 tags) and an image sweep (1 / 2 / 3 images of 4 tags in one
registry), each released by image-release (the default settings, and `registry.verify: false` for the
tag sweep), by the docker CLI both ways (`docker tag` + `docker push` per tag; one build with a `-t` per
tag, then `docker push --all-tags`), next to the floor: every blob sent once (distribution 2.8 takes
no single-request upload, so a POST and a PUT each; another repository of the same registry mounts it,
one POST) and one manifest PUT per tag, nothing else (no ping, no checks, no reads). Then what signing
adds to a 4-tag release (issue 15): a signature alone, and a signature with an SBOM and a provenance
attestation, against the floor of one manifest PUT per signed object plus its blobs.
"""

from __future__ import annotations

from harness import (
    LAYERS, PROXY_HOSTS, REGISTRY, SIGN_ENV, SIGN_PASSWORD_ENV, STYLES, TAG, Results, cli_build, cli_publish, invoke, project, say,
    tag_names, uid,
)
from proxy import CountingProxy, summarize

BLOBS = LAYERS + 1  # the layers and the config


def floor(n_tags: int, n_images: int = 1) -> int:
    return 2 * BLOBS + (n_images - 1) * BLOBS + n_images * n_tags


def _check_whole(name: str, summ: dict, images: list[str], tags: list[str], host: str) -> None:
    """The counts are only worth something if the proxy saw the release whole: every tag's manifest PUT
    in every repository, and every blob present in each (uploaded, mounted, or found there)."""
    repos = [i.removeprefix(host + "/") for i in images]
    puts = summ["manifest_puts_by_repo"]
    blobs = summ["blobs_by_repo"]
    for repo in repos:
        put = [t for t in puts.get(repo) or [] if not t.startswith("sha256-")]  # not signatures, attestations
        signed = len(put) != len(puts.get(repo) or [])
        if put != sorted(tags) or not (blobs.get(repo) or 0) >= BLOBS or (not signed and blobs.get(repo) != BLOBS):
            raise RuntimeError(
                f"traffic {name}: for {repo} the proxy saw manifest PUTs {puts.get(repo)} and {blobs.get(repo)} "
                f"blobs, expected one PUT of each of {sorted(tags)} and {BLOBS} blobs; not reporting counts of a "
                "release it did not see whole")


SIGNED = ("signature", "attested")  # sides of the signing rows: project(sign=...)


def _release(proxy: CountingProxy, side: str, n_tags: int, n_images: int) -> dict:
    """One counted release: side is ours, noverify, a docker-CLI style, or a signing side (SIGNED)."""
    host = proxy.host
    key = uid()
    images = [f"{host}/bench/{side}-{n_tags}t{n_images}i-{key}-{chr(97 + i)}" for i in range(n_images)]
    tags = tag_names(n_tags)
    d = project(f"traffic-{side}-{n_tags}-{n_images}-{key}", "unused" if side in STYLES else images,
                n_tags=n_tags, verify=side != "noverify", sign=side if side in SIGNED else None)
    if side in STYLES:
        cli_build(d, images, tags, side)
    proxy.take()
    proxy.counters()
    if side in STYLES:
        cli_publish(d, images, tags, side)
    else:
        invoke(d, "release", "--tag", TAG, extra_env=_signing_env() if side in SIGNED else None)
    summ = summarize(proxy.take())
    summ.update(proxy.counters())
    _check_whole(f"{side}, {n_tags} tags, {n_images} images", summ, images, tags, host)
    return summ


def section_traffic(res: Results, tag_sweep: tuple[int, ...], image_sweep: tuple[int, ...]) -> None:
    say(f"bench 2: registry requests (counting proxy), tags {tag_sweep}, images {image_sweep}")
    sides = ("ours", "noverify", *STYLES)
    counts: dict[tuple[str, int, int], dict] = {}
    with CountingProxy(REGISTRY) as proxy:
        PROXY_HOSTS.append(proxy.host)
        for n in tag_sweep:
            for side in sides:
                counts[(side, n, 1)] = _release(proxy, side, n, 1)
        for m in image_sweep:
            for side in ("ours", *STYLES):
                if (side, 4, m) not in counts:
                    counts[(side, 4, m)] = _release(proxy, side, 4, m)
    res.details["traffic"] = {f"{s} {n} tags {m} images": v for (s, n, m), v in counts.items()}

    def req(side: str, n: int, m: int = 1) -> int:
        return counts[(side, n, m)]["requests"]

    for n in tag_sweep:
        judged = n == 4
        o, at = req("ours", n), req("all-tags", n)
        res.add("2", f"registry requests, {n} tag{'s' if n > 1 else ''}", o, "",
                "<= --all-tags" if judged else "-", o <= at if judged else None,
                tag_push=req("tag-push", n), all_tags=at, floor=floor(n),
                note=f"verify off: {req('noverify', n)}; ours by kind: {_kinds(counts[('ours', n, 1)])}; "
                     f"--all-tags by kind: {_kinds(counts[('all-tags', n, 1)])}")
    for a, b in zip(tag_sweep, tag_sweep[1:]):
        def per(side: str) -> float:
            return (req(side, b) - req(side, a)) / (b - a)

        res.add("2", f"requests per extra tag, {a} -> {b} tags", per("ours"), "", "1.0 (the manifest PUT)",
                per("ours") <= 1.0, tag_push=per("tag-push"), all_tags=per("all-tags"), floor=1.0,
                note=f"({b}-tag release - {a}-tag release) / {b - a}, each side; ours per extra tag: "
                     f"{_per_kind(counts[('ours', b, 1)], counts[('ours', a, 1)], b - a)}; verify off "
                     f"{per('noverify'):.2f}: {_per_kind(counts[('noverify', b, 1)], counts[('noverify', a, 1)], b - a)}")
    _traffic_images(res, counts, image_sweep, req)
    _traffic_bytes(res, counts, tag_sweep)
    if 4 in tag_sweep:
        with CountingProxy(REGISTRY) as proxy:
            PROXY_HOSTS.append(proxy.host)
            signed = {side: _release(proxy, side, 4, 1) for side in SIGNED}
        res.details["traffic"].update({f"{s} 4 tags 1 image": v for s, v in signed.items()})
        _traffic_signing(res, counts[("ours", 4, 1)], signed)


def _signing_env() -> dict:
    from image_release.adapters.keys import generate_key_pair

    global _KEY
    if _KEY is None:
        _KEY = generate_key_pair(_PASSWORD).private_pem.decode()
    return {SIGN_ENV: _KEY, SIGN_PASSWORD_ENV: _PASSWORD}


_KEY = None
_PASSWORD = "bench-signing-key-password"  # of a throwaway key made for this run


def _traffic_signing(res: Results, plain: dict, signed: dict) -> None:
    """What signing adds to the 4-tag release: requests in all, and manifest PUTs, against the floor of one
    manifest PUT per signed object (signature 1; with SBOM and provenance 3) plus its blobs (a config and
    one layer each, a POST and a PUT each)."""
    for side, objects in (("signature", 1), ("attested", 3)):
        extra = signed[side]["requests"] - plain["requests"]
        puts = signed[side]["by_method_kind"].get("PUT manifest", 0) - plain["by_method_kind"].get("PUT manifest", 0)
        res.add("2", f"requests signing adds, {'a signature' if objects == 1 else 'signature + SBOM + provenance'}",
                extra, "", f"{objects} manifest PUT{'s' if objects > 1 else ''} + blobs", puts <= objects,
                floor=objects * 5,
                note=f"extra manifest PUTs {puts} for {objects} signed object{'s' if objects > 1 else ''}; "
                     f"signed release by kind: {_kinds(signed[side])}")


def _traffic_images(res: Results, counts: dict, image_sweep: tuple[int, ...], req) -> None:
    for m in image_sweep:
        if m == 1:
            continue
        res.add("2", f"registry requests, {m} images x 4 tags", req("ours", 4, m), "", "-", None,
                tag_push=req("tag-push", 4, m), all_tags=req("all-tags", 4, m), floor=floor(4, m),
                note=f"ours by kind: {_kinds(counts[('ours', 4, m)])}; blob mounts: ours "
                     f"{counts[('ours', 4, m)]['blob_mounts']}, --all-tags {counts[('all-tags', 4, m)]['blob_mounts']}")
    if len(image_sweep) > 1:
        lo, hi = image_sweep[0], image_sweep[-1]

        def per(side: str) -> float:
            return (req(side, 4, hi) - req(side, 4, lo)) / (hi - lo)

        res.add("2", f"requests per extra image (4 tags), {lo} -> {hi} images", per("ours"), "", "<= --all-tags",
                per("ours") <= per("all-tags"), tag_push=per("tag-push"), all_tags=per("all-tags"),
                floor=float(BLOBS + 4),
                note=f"ours per extra image: {_per_kind(counts[('ours', 4, hi)], counts[('ours', 4, lo)], hi - lo)}; "
                     f"--all-tags: {_per_kind(counts[('all-tags', 4, hi)], counts[('all-tags', 4, lo)], hi - lo)}")


def _traffic_bytes(res: Results, counts: dict, tag_sweep: tuple[int, ...]) -> None:
    if 4 not in tag_sweep or 1 not in tag_sweep:
        return
    res.add("2", "bytes sent to the registry, 4-tag release", counts[("ours", 4, 1)]["bytes_sent"], "B", "-", None,
            tag_push=counts[("tag-push", 4, 1)]["bytes_sent"], all_tags=counts[("all-tags", 4, 1)]["bytes_sent"])

    def blob_after(side: str) -> int:
        return _blob_requests(counts[(side, 4, 1)]) - _blob_requests(counts[(side, 1, 1)])

    twice = max(len(counts[(s, 4, 1)]["blobs_uploaded_twice"]) for s in ("ours", "noverify"))
    res.add("2", "blob requests for the tags after the first", blob_after("ours"), "", "0",
            blob_after("ours") <= 0 and blob_after("noverify") <= 0 and not twice, show_ratio=False,
            tag_push=blob_after("tag-push"), all_tags=blob_after("all-tags"), floor=0,
            note=f"4-tag minus 1-tag release (verify off: {blob_after('noverify')}); blobs uploaded twice in the "
                 f"4-tag release: ours {twice}; client connections opened, 4 tags: "
                 + ", ".join(f"{s} {counts[(s, 4, 1)]['connections']}" for s in ("ours", *STYLES)))


def _kinds(summary: dict) -> str:
    return ", ".join(f"{k} {n}" for k, n in summary["by_method_kind"].items())


def _per_kind(hi: dict, lo: dict, span: int) -> str:
    """What each extra unit costs, by request kind: (hi - lo) / span."""
    keys = sorted(set(hi["by_method_kind"]) | set(lo["by_method_kind"]))
    parts = []
    for k in keys:
        d = (hi["by_method_kind"].get(k, 0) - lo["by_method_kind"].get(k, 0)) / span
        if d:
            parts.append(f"{k} {d:g}" if float(d).is_integer() else f"{k} {d:.2f}")
    return ", ".join(parts) or "nothing"


def _blob_requests(summary: dict) -> int:
    return sum(n for k, n in summary["kinds"].items() if k.startswith("blob"))
