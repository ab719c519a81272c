"""``invoke verify IMAGE:TAG --key cosign.pub``: read what the tag resolves to now, its ``.sig`` and ``.att``
objects and their blobs (through the run's registry client: its credentials, retries and timeout), and check
them with the public key (``core.verify``): the signature payload names that digest and verifies with the
key, every attestation's DSSE envelope verifies and is about that digest, and every attestation the
signature lists is there. Pure Python: no cosign needed. It only reads.
"""

from __future__ import annotations

from image_release.errors import ConfigError


def read_public_key(key: str | None):
    """The verifier for ``--key`` (a PEM public key file, cosign.pub; a relative path is the shell's, from
    the current directory, as for any command-line file)."""
    from pathlib import Path

    from image_release.adapters.keys import load_verifier

    if not key:
        raise ConfigError("verify needs the public key of the key that signs releases",
                          hint="pass --key cosign.pub (cosign's public key file, or any PEM ECDSA P-256 public key)")
    path = Path(key).expanduser()
    try:
        pem = path.read_bytes()
    except OSError as e:
        raise ConfigError(f"cannot read the public key {path}: {e.strerror}",
                          hint="pass --key with the path of cosign.pub") from None
    return load_verifier(pem, what=f"the public key {path}")


def verify_image_ref(run, image: str, key: str | None):
    """Verify ``image`` (``IMAGE:TAG`` or ``IMAGE@sha256:...``), print each check, and raise
    VerificationFailed (exit 1) naming the first failure. Returns the VerifyResult when everything holds."""
    from image_release.adapters.signatures import verify_reference
    from image_release.core.image_ref import parse_image

    name = parse_image(image)
    ref = name.digest or name.tag
    if not ref:
        raise ConfigError(f"{image} names no tag or digest to verify",
                          hint=f"for example: invoke verify {name.registry}/{name.repository}:1.2.3 --key cosign.pub")
    verifier = read_public_key(key)
    _name, client = run.registry_for(f"{name.registry}/{name.repository}")
    result = verify_reference(client, name.repository, ref, verifier)
    for line in result.lines():
        run.say(line)
    result.raise_for_failure()
    run.say(f"verified: {image} is {result.digest}, signed by the key in {key}")
    return result
