"""Signing keys: ECDSA P-256 private keys in the PEM forms people have, and PEM public keys.

Accepted private keys (``load_signer``):

- PKCS#8 ``PRIVATE KEY`` and SEC1 ``EC PRIVATE KEY`` (unencrypted), PKCS#8 ``ENCRYPTED PRIVATE KEY``
  (OpenSSL's ``-v2 aes-256-cbc`` and friends), read by ``cryptography``;
- cosign's ``ENCRYPTED SIGSTORE PRIVATE KEY`` / ``ENCRYPTED COSIGN PRIVATE KEY``: the PEM body is the JSON
  of go-securesystemslib's ``encrypted`` package, ``{"kdf": {"name": "scrypt", "params": {"N", "r", "p"},
  "salt"}, "cipher": {"name": "nacl/secretbox", "nonce"}, "ciphertext"}`` (byte fields base64), the key
  scrypt(password, salt, N, r, p, 32) and the plaintext a PKCS#8 DER key (a SEC1 one, which cosign itself
  refuses to load, is accepted too). Only the scrypt parameters that
  go-securesystemslib accepts are (N = 2^15, 2^16 or 2^17, r = 8, p = 1), so a crafted key cannot make
  the KDF take unbounded memory. NaCl's secretbox comes from PyNaCl.

Only ECDSA P-256 is used for signing (cosign's default, and what its key-based verification expects for
these keys). Errors never carry key material or the password: a wrong password is an ``AuthError``, an
unusable key a ``ConfigError``, both naming the variable that holds it.

``cryptography`` and ``nacl`` are imported inside the functions that need them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from typing import Mapping

from image_release.errors import AuthError, ConfigError

SIGSTORE_PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PEM_TYPE = "ENCRYPTED COSIGN PRIVATE KEY"
_COSIGN_TYPES = (SIGSTORE_PEM_TYPE, COSIGN_PEM_TYPE)
_SCRYPT_ACCEPTED = {(32768, 8, 1), (65536, 8, 1), (131072, 8, 1)}  # go-securesystemslib legacy/standard/owasp
_SCRYPT_DEFAULT = (65536, 8, 1)
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\s*(.*?)\s*-----END \1-----", re.S)


class EcdsaVerifier:
    """A P-256 public key: ``verify(signature, data)`` checks a DER ECDSA-SHA256 signature."""

    def __init__(self, public_key):
        self._key = public_key

    def verify(self, signature: bytes, data: bytes) -> bool:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        try:
            self._key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    def public_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self._key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    @property
    def fingerprint(self) -> str:
        """``sha256:`` + the first 16 hex digits of the SHA-256 of the DER public key: names the key in output."""
        from cryptography.hazmat.primitives import serialization

        der = self._key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        return "sha256:" + hashlib.sha256(der).hexdigest()[:16]

    def __repr__(self) -> str:
        return f"EcdsaVerifier(P-256, {self.fingerprint})"


class EcdsaSigner:
    """A P-256 private key: ``sign(data)`` gives a DER ECDSA-SHA256 signature. ``keyid`` is "" as cosign
    writes it in DSSE envelopes for key-based signing. Its repr shows the public fingerprint only."""

    keyid = ""

    def __init__(self, private_key):
        self._key = private_key

    def sign(self, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        return self._key.sign(data, ec.ECDSA(hashes.SHA256()))

    def verifier(self) -> EcdsaVerifier:
        return EcdsaVerifier(self._key.public_key())

    def public_pem(self) -> bytes:
        return self.verifier().public_pem()

    def __repr__(self) -> str:
        return f"EcdsaSigner(P-256, {self.verifier().fingerprint})"


@dataclass(frozen=True)
class KeyPair:
    """What ``generate_key_pair`` gives, as ``cosign generate-key-pair`` writes cosign.key and cosign.pub."""

    private_pem: bytes = field(repr=False)
    public_pem: bytes


def _pem_blocks(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in _PEM.finditer(text)]


def _as_text(pem: bytes | str, what: str) -> str:
    text = pem.decode("utf-8", "replace") if isinstance(pem, bytes) else str(pem)
    if "-----BEGIN" not in text:
        # A PEM stored base64-encoded (CI variables that cannot hold newlines, e.g. masked GitLab variables).
        try:
            decoded = base64.b64decode("".join(text.split()), validate=True).decode("utf-8")
        except (binascii.Error, ValueError, UnicodeDecodeError):
            decoded = ""
        if "-----BEGIN" in decoded:
            return decoded
        raise ConfigError(f"{what} is not a PEM key (no -----BEGIN line)",
                          hint="store the whole PEM file in the variable, or its base64 encoding")
    return text


def _password_bytes(password: bytes | str | None) -> bytes:
    if password is None:
        return b""
    return password if isinstance(password, bytes) else str(password).encode()


def load_signer(pem: bytes | str, password: bytes | str | None = None, *, what: str = "the signing key") -> EcdsaSigner:
    """An ECDSA P-256 signer from a PEM private key (see the module doc for the forms), decrypted with
    ``password`` when it is encrypted. ``what`` names the key's source in errors (e.g. "$COSIGN_KEY")."""
    text = _as_text(pem, what)
    blocks = [(kind, body) for kind, body in _pem_blocks(text) if "PRIVATE KEY" in kind]
    if not blocks:
        raise ConfigError(f"{what} holds no PEM private key block",
                          hint="give the private key (cosign.key, or a PKCS#8 PEM), not the public key")
    kind, body = blocks[0]
    if kind in _COSIGN_TYPES:
        der = decrypt_cosign_key(body, password, what=what)
        key = _load_der(der, what)
    else:
        key = _load_pem(f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n", password, what)
    return EcdsaSigner(_require_p256(key, what))


def _load_pem(pem: str, password: bytes | str | None, what: str):
    from cryptography.hazmat.primitives import serialization

    data = pem.encode()
    secret = _password_bytes(password) or None
    try:
        return serialization.load_pem_private_key(data, password=secret)
    except TypeError:
        if secret is None:  # encrypted, and no password
            raise AuthError(f"{what} is encrypted and no password was given",
                            hint="set the variable named by release.sign.password_env") from None
        try:  # a password is set for a key that is not encrypted: the key is what counts
            return serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            pass
    except ValueError:
        if "ENCRYPTED" in pem.split("\n", 1)[0]:
            raise AuthError(f"the password does not decrypt {what}",
                            hint="check the variable named by release.sign.password_env") from None
    except Exception:  # noqa: BLE001 - cryptography's unsupported-algorithm errors; never show their text
        pass
    raise ConfigError(f"{what} is not a readable PEM private key",
                      hint="give an ECDSA P-256 key: `cosign generate-key-pair`, or "
                      "`openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`")


def _load_der(der: bytes, what: str):
    from cryptography.hazmat.primitives import serialization

    try:
        return serialization.load_der_private_key(der, password=None)
    except Exception:  # noqa: BLE001 - never show the parser's text
        raise ConfigError(f"{what} decrypts, but what it holds is not a PKCS#8 private key",
                          hint="re-create the key with `cosign generate-key-pair` (or import a PKCS#8 key "
                          "with `cosign import-key-pair`)") from None


def _require_p256(key, what: str):
    from cryptography.hazmat.primitives.asymmetric import ec

    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        kind = type(key).__name__.replace("PrivateKey", "") or "non-ECDSA"
        curve = getattr(getattr(key, "curve", None), "name", None)
        desc = f"an EC key on {curve}" if curve else f"a {kind} key"
        raise ConfigError(f"{what} is {desc}; image-release signs with ECDSA P-256 only",
                          hint="create a P-256 key with `cosign generate-key-pair`")
    return key


def load_verifier(pem: bytes | str, *, what: str = "the public key") -> EcdsaVerifier:
    """An ECDSA P-256 verifier from a PEM ``PUBLIC KEY`` (cosign.pub)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    text = _as_text(pem, what)
    blocks = [(kind, body) for kind, body in _pem_blocks(text) if kind == "PUBLIC KEY"]
    if not blocks:
        hint = "give the public key (cosign.pub), not the private key" if "PRIVATE KEY" in text else (
            "give a PEM PUBLIC KEY (cosign.pub)")
        raise ConfigError(f"{what} holds no PEM PUBLIC KEY block", hint=hint)
    try:
        key = serialization.load_pem_public_key(f"-----BEGIN PUBLIC KEY-----\n{blocks[0][1]}\n-----END PUBLIC KEY-----\n".encode())
    except Exception:  # noqa: BLE001
        raise ConfigError(f"{what} is not a readable PEM public key", hint="give cosign.pub as cosign wrote it") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigError(f"{what} is not an ECDSA P-256 public key", hint="give the public key of the signing key pair")
    return EcdsaVerifier(key)


# -- cosign's encrypted key format ---------------------------------------------------------------------------


def decrypt_cosign_key(pem_body: bytes | str, password: bytes | str | None, *, what: str = "the signing key") -> bytes:
    """The PKCS#8 DER inside a cosign ``ENCRYPTED SIGSTORE/COSIGN PRIVATE KEY`` PEM body (or whole PEM)."""
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

    text = pem_body.decode("ascii", "replace") if isinstance(pem_body, bytes) else str(pem_body)
    blocks = [body for kind, body in _pem_blocks(text) if kind in _COSIGN_TYPES]
    body = blocks[0] if blocks else text
    try:
        doc = json.loads(base64.b64decode("".join(body.split()), validate=True))
        kdf, cipher = doc["kdf"], doc["cipher"]
        params = (int(kdf["params"]["N"]), int(kdf["params"]["r"]), int(kdf["params"]["p"]))
        salt = base64.b64decode(kdf["salt"])
        nonce = base64.b64decode(cipher["nonce"])
        ciphertext = base64.b64decode(doc["ciphertext"])
        names = (kdf["name"], cipher["name"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ConfigError(f"{what} is not a cosign encrypted key (unreadable JSON inside the PEM)",
                          hint="store the whole cosign.key file in the variable") from None
    if names != ("scrypt", "nacl/secretbox") or params not in _SCRYPT_ACCEPTED or len(nonce) != SecretBox.NONCE_SIZE:
        raise ConfigError(f"{what} uses an encryption cosign does not write (kdf {names[0]!r}, cipher {names[1]!r})",
                          hint="re-create the key with `cosign generate-key-pair`")
    box_key = _scrypt(_password_bytes(password), salt, params)
    try:
        return SecretBox(box_key).decrypt(ciphertext, nonce)
    except CryptoError:
        raise AuthError(f"the password does not decrypt {what}",
                        hint="check the variable named by release.sign.password_env "
                        "(cosign keys made without a password need it empty or unset)") from None


def _scrypt(password: bytes, salt: bytes, params: tuple[int, int, int]) -> bytes:
    n, r, p = params
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, maxmem=256 * r * n + (1 << 20), dklen=32)


def encrypt_cosign_key(pkcs8_der: bytes, password: bytes | str | None) -> bytes:
    """A cosign ``ENCRYPTED SIGSTORE PRIVATE KEY`` PEM of ``pkcs8_der`` (scrypt N=2^16, r=8, p=1, as cosign)."""
    from nacl.secret import SecretBox

    salt, nonce = os.urandom(32), os.urandom(SecretBox.NONCE_SIZE)
    box = SecretBox(_scrypt(_password_bytes(password), salt, _SCRYPT_DEFAULT))
    sealed = box.encrypt(pkcs8_der, nonce).ciphertext
    n, r, p = _SCRYPT_DEFAULT
    doc = {
        "kdf": {"name": "scrypt", "params": {"N": n, "r": r, "p": p}, "salt": base64.b64encode(salt).decode()},
        "cipher": {"name": "nacl/secretbox", "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    body = base64.b64encode(json.dumps(doc, separators=(",", ":")).encode()).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN %s-----\n%s\n-----END %s-----\n" % (SIGSTORE_PEM_TYPE, "\n".join(lines), SIGSTORE_PEM_TYPE)).encode()


def generate_key_pair(password: bytes | str | None) -> KeyPair:
    """A new P-256 key pair as ``cosign generate-key-pair`` writes it (cosign.key encrypted, cosign.pub)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return KeyPair(encrypt_cosign_key(der, password), EcdsaSigner(key).public_pem())


def signer_from_env(environ: Mapping[str, str], key_env: str, password_env: str | None = None) -> EcdsaSigner:
    """The signer whose PEM is in ``environ[key_env]`` (password in ``environ[password_env]``, if named).

    The pipeline passes ``os.environ``; both values are secrets and must be registered with the redactor."""
    value = environ.get(key_env)
    if not value:
        raise ConfigError(f"signing is on, but ${key_env} (release.sign.key_env) is not set",
                          hint=f"put the private key (cosign.key) in the secret ${key_env}, "
                          "or turn signing off (release.sign)")
    password = environ.get(password_env) if password_env else None
    return load_signer(value, password, what=f"the key in ${key_env}")
