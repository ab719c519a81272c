"""Regenerate ``github-subset.json`` from GitHub's official OpenAPI description.

Dev tool, not run by the tests. Usage::

    cd /tmp && npm pack @octokit/openapi && tar xzf octokit-openapi-*.tgz
    python tests/fakes/github_openapi/trim.py /tmp/package/generated/api.github.com.json

Keeps only the operations the fake serves, and the component schemas they reference
(descriptions and examples dropped), so the tests validate against the real shapes
without needing npm at run time.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

OPERATIONS = [
    ("/repos/{owner}/{repo}", "get"),
    ("/repos/{owner}/{repo}/releases", "get"),
    ("/repos/{owner}/{repo}/releases", "post"),
    ("/repos/{owner}/{repo}/releases/latest", "get"),
    ("/repos/{owner}/{repo}/releases/tags/{tag}", "get"),
    ("/repos/{owner}/{repo}/releases/{release_id}", "get"),
    ("/repos/{owner}/{repo}/releases/{release_id}", "patch"),
    ("/repos/{owner}/{repo}/releases/{release_id}", "delete"),
    ("/repos/{owner}/{repo}/releases/{release_id}/assets", "get"),
    ("/repos/{owner}/{repo}/releases/{release_id}/assets", "post"),
    ("/repos/{owner}/{repo}/releases/assets/{asset_id}", "get"),
    ("/repos/{owner}/{repo}/releases/assets/{asset_id}", "patch"),
    ("/repos/{owner}/{repo}/releases/assets/{asset_id}", "delete"),
    ("/orgs/{org}/packages/{package_type}/{package_name}/versions", "get"),
    ("/orgs/{org}/packages/{package_type}/{package_name}/versions/{package_version_id}", "delete"),
    ("/users/{username}/packages/{package_type}/{package_name}/versions", "get"),
    ("/users/{username}/packages/{package_type}/{package_name}/versions/{package_version_id}", "delete"),
]

DROP = {"description", "example", "examples", "summary", "externalDocs", "x-github", "title"}


def strip(node, in_properties=False):
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if not in_properties and key in DROP:
                continue
            out[key] = strip(value, in_properties=(key == "properties" and not in_properties))
        return out
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def refs(node, found):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            found.add(ref)
        for value in node.values():
            refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)


def main(source: str) -> None:
    spec = json.loads(Path(source).read_text())
    paths: dict = {}
    for path, method in OPERATIONS:
        op = spec["paths"][path][method]
        keep = {"operationId": op["operationId"], "responses": op["responses"]}
        if "requestBody" in op:
            keep["requestBody"] = op["requestBody"]
        paths.setdefault(path, {})[method] = keep
    components: dict = {}
    pending = set()
    refs(paths, pending)
    done = set()
    while pending:
        ref = pending.pop()
        if ref in done:
            continue
        done.add(ref)
        _, _, kind, name = ref.split("/", 3)
        if kind in ("examples", "headers"):
            continue
        node = spec["components"][kind][name]
        components.setdefault(kind, {})[name] = node
        refs(node, pending)
    subset = {
        "openapi": spec["openapi"],
        "info": {"title": "GitHub REST API subset", "version": spec["info"]["version"],
                 "x-source": "npm @octokit/openapi generated/api.github.com.json"},
        "paths": strip(paths),
        "components": strip(components),
    }
    # headers/examples refs were skipped: drop them from responses
    for ops in subset["paths"].values():
        for op in ops.values():
            for resp in op["responses"].values():
                resp.pop("headers", None)
    out = Path(__file__).with_name("github-subset.json")
    out.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")
    print(f"wrote {out} ({out.stat().st_size} bytes, {sum(len(v) for v in components.values())} components)")


if __name__ == "__main__":
    main(sys.argv[1])
