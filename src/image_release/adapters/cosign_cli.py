"""The ``cosign`` binary, for ``release.sign.mode: cosign`` (keyless signing with the CI's OIDC identity, or a
key cosign reads itself).

Nothing secret travels on cosign's argv: a key is named as ``--key env://VAR`` (cosign reads the variable),
its password reaches cosign as ``COSIGN_PASSWORD`` in its environment, and the registry credentials are the
Docker config's (``docker login``, as in CI). Predicates (the SBOM, the provenance) go through a temporary
file that is removed afterwards; they hold no secret. cosign itself decides the transparency log and the
certificate (Fulcio, Rekor): in CI with OIDC that is the keyless flow, which needs the workflow permission
``id-token: write`` on GitHub Actions.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Mapping

from image_release.errors import ConfigError, SigningError

# cosign's --type for each predicate type this tool attests.
COSIGN_TYPES = {
    "https://cyclonedx.org/bom": "cyclonedx",
    "https://spdx.dev/Document": "spdxjson",
    "https://slsa.dev/provenance/v1": "slsaprovenance1",
}
TIMEOUT = 600


def cosign_binary(env: Mapping[str, str]) -> str:
    """The ``cosign`` on the run's PATH, or a ConfigError that says how to get one."""
    found = shutil.which("cosign", path=env.get("PATH") or os.defpath)
    if not found:
        raise ConfigError("release.sign.mode is cosign, but there is no cosign on PATH",
                          hint="install cosign (GitHub Actions: sigstore/cosign-installer), or set "
                          "release.sign.mode: key to sign with this tool and the key in release.sign.key_env")
    return found


def cosign_env(env: Mapping[str, str], password_env: str | None) -> dict[str, str]:
    """cosign's environment: the run's, with the key's password as ``COSIGN_PASSWORD``."""
    out = dict(env)
    if password_env and password_env != "COSIGN_PASSWORD":
        out["COSIGN_PASSWORD"] = env.get(password_env, "")
    return out


def _common(key_env: str | None, plain_http: bool) -> list[str]:
    args = ["--yes"]
    if key_env:
        args += ["--key", f"env://{key_env}"]
    if plain_http:
        args += ["--allow-http-registry"]
    return args


def sign(binary: str, ref: str, *, env: Mapping[str, str], key_env: str | None = None,
         annotations: Mapping[str, str] | None = None, plain_http: bool = False) -> list[str]:
    """``cosign sign`` of ``ref`` (``IMAGE@sha256:...``), each platform manifest of an index too
    (``--recursive``). Returns the argv it ran."""
    argv = [binary, "sign", *_common(key_env, plain_http), "--recursive"]
    for key, value in sorted((annotations or {}).items()):
        argv += ["-a", f"{key}={value}"]
    _run(argv + [ref], env, f"cosign could not sign {ref}")
    return argv + [ref]


def attest(binary: str, ref: str, predicate_type: str, predicate: bytes, *, env: Mapping[str, str],
           key_env: str | None = None, plain_http: bool = False) -> list[str]:
    """``cosign attest --replace`` of ``predicate`` (JSON) about ``ref``. Returns the argv it ran."""
    kind = COSIGN_TYPES.get(predicate_type, predicate_type)
    with tempfile.TemporaryDirectory(prefix="image-release-cosign-") as tmp:
        path = Path(tmp) / "predicate.json"
        path.write_bytes(predicate)
        argv = [binary, "attest", *_common(key_env, plain_http), "--replace", "--type", kind,
                "--predicate", str(path), ref]
        _run(argv, env, f"cosign could not attest {kind} for {ref}")
    return argv


def _run(argv: list[str], env: Mapping[str, str], what: str) -> None:
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT, env=dict(env))
    except subprocess.TimeoutExpired:
        raise SigningError(f"{what}: cosign did not finish within {TIMEOUT} s",
                           hint="check the registry and, keyless, the OIDC token and sigstore's services") from None
    except OSError as exc:
        raise SigningError(f"{what}: cannot run cosign ({exc.strerror})", hint="reinstall cosign") from None
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
        detail = lines[-1][:300] if lines else f"exit status {proc.returncode}"
        raise SigningError(f"{what}: {detail}",
                           hint="keyless signing in GitHub Actions needs `permissions: id-token: write`; "
                           "with a key, check release.sign.key_env and password_env")
