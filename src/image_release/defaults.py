"""The settings' defaults, as plain data: every setting under the Invoke key ``release`` (``DEFAULTS``).

Declaring them to Invoke (``Collection.configure``, which ``invoke --list`` runs) needs this module only;
parsing and validating them is ``image_release.settings`` (which re-exports these names), imported when a
task runs. Documented in docs/configuration.md.
"""

from __future__ import annotations

import copy
from typing import Any

from image_release.core.default_rules import DEFAULT_FLAVOR, DEFAULT_TAG_RULES

KEY = "release"

DEFAULTS: dict[str, Any] = {
    "tag": None,  # set by --tag, or INVOKE_RELEASE_TAG
    "dry_run": False,  # --dry-run, INVOKE_RELEASE_DRY_RUN=1, or invoke --dry
    "images": [],  # default: ghcr.io/<owner>/<repo> on GitHub Actions, $CI_REGISTRY_IMAGE on GitLab CI
    "tags": list(DEFAULT_TAG_RULES),  # docker/metadata-action `tags:` lines
    "flavor": list(DEFAULT_FLAVOR),  # docker/metadata-action `flavor:` lines
    "major_zero": False,  # publish the major tag `0` for 0.y.z versions
    "semantics": "safe",  # safe (floating-tag guard, SemVer tags) | metadata-action (its exact outputs)
    "allow_dirty": False,  # build a release from a working tree with uncommitted changes to tracked files
    "output_dir": "dist",
    "project": {
        "title": None,  # default: the repository name
        "description": None,
        "url": None,
        "source": None,  # default: the repository URL from the CI or git remote
        "licenses": None,
        "vendor": None,
    },
    "build": {
        "context": ".",
        "dockerfile": "Dockerfile",
        "args": {},
        "target": None,
        "labels": {},
        "platforms": [],
        "cache_from": [],
        "cache_to": [],
        "secrets": [],  # "id=npmrc,env=NPM_TOKEN" or "id=key,src=path"
        "buildkit": "auto",  # auto | on | off
        "builder": None,  # a named buildx builder (remote BuildKit workers)
        "network": None,  # "host" where dockerd runs with --bridge=none
        "pull": False,
        "dev_tag": "{branch}-{short_sha}",  # the tag of `invoke build` outside a release
    },
    "publish": {  # which contexts push to the registry
        "tag": True,
        "branch": True,
        "pr": False,
        "schedule": True,
        "outside_ci": False,  # branch and schedule builds from a machine that is not CI push only with this
    },
    "known_versions": {  # where the floating-tag guard learns the versions that exist
        "git": True,
        "remote": True,  # `git ls-remote --tags origin` (CI clones are shallow)
        "registry": True,
    },
    "registry": {
        "username_env": None,  # names of env vars holding registry credentials
        "password_env": None,
        "timeout": 30,
        "verify": True,  # read every published tag back and check its digest (one HEAD per tag)
    },
    "retry": {"attempts": 5, "base_delay": 0.5, "max_delay": 30.0},
    "clean": {
        "keep": None,  # `invoke clean` keeps this many newest versions (None: required on the command line)
        "keep_prereleases": None,  # prereleases are counted apart; None: same as keep
        "keep_patterns": [],  # regexes of tags never deleted
        "fail_on_refused": False,  # a registry that refuses deletion: warning (False) or failure (True)
    },
    "forge": {
        "type": "auto",  # auto | github | gitlab | none
        "github": {"repository": None, "api_url": None, "token_env": "GITHUB_TOKEN"},
        "gitlab": {"url": None, "project": None, "token_env": "GITLAB_TOKEN", "job_token_env": "CI_JOB_TOKEN"},
        "preflight": True,
    },
    "notes": {
        "template": None,  # a Jinja2 file replacing the default layout
        "file": None,  # default: <output_dir>/release-notes-<version>.md
        "name": "Release {version}",
        "run": {"ports": [], "env": []},
        "requirements": [],
        "assets": [],  # "digests": attach a file listing every ref and digest
        "replace_assets": False,
        "deepen": True,  # deepen a shallow clone for the changelog
    },
    "sign": {  # sign every published image in cosign's format (sha256-<hex>.sig beside it)
        "key_env": None,  # the variable holding the private key (cosign.key or a PKCS#8 PEM); set: signing is on
        "password_env": None,  # the variable holding its password
        "mode": "key",  # key: this tool signs, offline | cosign: a cosign binary on PATH signs (keyless with OIDC)
    },
    "sbom": False,  # true, or {format: cyclonedx|spdx}: syft's SBOM, a signed attestation and a release asset
    "provenance": False,  # a signed SLSA provenance v1 attestation
    "targets": {},  # monorepos: name -> {images, build, tags, notes, tag_prefix, paths, ...} (target_settings.py)
}

# Settings that take either a scalar or a mapping (``sbom: true`` or ``sbom: {format: spdx}``). Invoke refuses to
# merge a mapping onto a declared scalar and the reverse, so these are not declared to Invoke (no
# INVOKE_RELEASE_* variable for them); parse_settings still knows their defaults.
UNDECLARED = ("sbom",)


def defaults() -> dict[str, Any]:
    """A fresh copy of the defaults declared to Invoke (for ``Collection.configure``)."""
    return {k: copy.deepcopy(v) for k, v in DEFAULTS.items() if k not in UNDECLARED}
