"""The MLKEM768-X25519 hybrid post-quantum recipient type (c2sp.org/age, X-Wing via HPKE).

The file key is sealed with HPKE SealBase (RFC 9180, Section 6.1) using the KEM MLKEM768-X25519
of draft-ietf-hpke-pq-03 / filippo.io/hpke-pq (KEM id 0x647a), KDF HKDF-SHA256 (0x0001), AEAD
ChaCha20Poly1305 (0x0003), info "age-encryption.org/mlkem768x25519" and empty aad.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey, MLKEM768PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from ._format import Stanza, b64decode, b64encode, hkdf_expand
from ._keys import HYBRID_IDENTITY_HRP, HYBRID_RECIPIENT_HRP, bech32_encode, decode_key
from ._x25519 import FILE_KEY_SIZE, public_of, x25519
from .errors import HeaderError

STANZA_TYPE = "mlkem768x25519"
_INFO = b"age-encryption.org/mlkem768x25519"

# KEM parameters (filippo.io/hpke-pq, MLKEM768-X25519 column).
_KEM_ID = 0x647A
_KDF_ID = 0x0001  # HKDF-SHA256
_AEAD_ID = 0x0003  # ChaCha20Poly1305
_LABEL = b"\\.//^\\"  # 5c2e2f2f5e5c
_MLKEM_NEK = 1184
_MLKEM_NCT = 1088
_MLKEM_NSEED = 64
_X25519_NELEM = 32
SEED_SIZE = 32
PUBLIC_KEY_SIZE = _MLKEM_NEK + _X25519_NELEM  # 1216
ENC_SIZE = _MLKEM_NCT + _X25519_NELEM  # 1120
_SUITE_ID = b"HPKE" + _KEM_ID.to_bytes(2, "big") + _KDF_ID.to_bytes(2, "big")
_SUITE_ID += _AEAD_ID.to_bytes(2, "big")


def _expand_key(seed: bytes) -> tuple[MLKEM768PrivateKey, bytes, bytes, bytes]:
    """expandKey: returns (dk_PQ, ek_PQ, dk_T, ek_T)."""
    full = hashlib.shake_256(seed).digest(_MLKEM_NSEED + 32)
    dk_pq = MLKEM768PrivateKey.from_seed_bytes(full[:_MLKEM_NSEED])
    ek_pq = dk_pq.public_key().public_bytes_raw()
    dk_t = full[_MLKEM_NSEED:]
    return dk_pq, ek_pq, dk_t, public_of(dk_t)


def _combine(ss_pq: bytes, ss_t: bytes, ct_t: bytes, ek_t: bytes) -> bytes:
    return hashlib.sha3_256(ss_pq + ss_t + ct_t + ek_t + _LABEL).digest()


def _labeled_extract(salt: bytes, label: bytes, ikm: bytes) -> bytes:
    return hmac.digest(salt or bytes(32), b"HPKE-v1" + _SUITE_ID + label + ikm, hashlib.sha256)


def _labeled_expand(prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    labeled_info = length.to_bytes(2, "big") + b"HPKE-v1" + _SUITE_ID + label + info
    return hkdf_expand(prk, labeled_info, length)


def _key_schedule_base(shared_secret: bytes, info: bytes) -> tuple[bytes, bytes]:
    """RFC 9180 KeySchedule for mode_base (no PSK); returns (key, base_nonce)."""
    psk_id_hash = _labeled_extract(b"", b"psk_id_hash", b"")
    info_hash = _labeled_extract(b"", b"info_hash", info)
    context = b"\x00" + psk_id_hash + info_hash
    secret = _labeled_extract(shared_secret, b"secret", b"")
    key = _labeled_expand(secret, b"key", context, 32)
    base_nonce = _labeled_expand(secret, b"base_nonce", context, 12)
    return key, base_nonce


class HybridRecipient:
    """An age MLKEM768-X25519 hybrid post-quantum recipient ("age1pq1…")."""

    __slots__ = ("_ek_pq", "_ek_t", "_public")

    def __init__(self, public: bytes) -> None:
        if len(public) != PUBLIC_KEY_SIZE:
            raise ValueError(f"MLKEM768-X25519 public key must be {PUBLIC_KEY_SIZE} bytes")
        self._public = bytes(public)
        # Validates the ML-KEM encapsulation key (FIPS 203 modulus check).
        self._ek_pq = MLKEM768PublicKey.from_public_bytes(self._public[:_MLKEM_NEK])
        self._ek_t = self._public[_MLKEM_NEK:]

    @classmethod
    def from_string(cls, s: str) -> HybridRecipient:
        """Parse an "age1pq1…" recipient string."""
        return cls(decode_key(s, HYBRID_RECIPIENT_HRP, PUBLIC_KEY_SIZE))

    def to_string(self) -> str:
        """Encode as an "age1pq1…" recipient string."""
        return bech32_encode(HYBRID_RECIPIENT_HRP, self._public)

    @property
    def public_bytes(self) -> bytes:
        """The raw 1216-byte encapsulation key (ML-KEM-768 ek || X25519 point)."""
        return self._public

    def wrap(self, file_key: bytes) -> list[Stanza]:
        """Seal the file key with HPKE to this recipient, in one mlkem768x25519 stanza."""
        ss_pq, ct_pq = self._ek_pq.encapsulate()
        sk_e = os.urandom(32)
        ct_t = public_of(sk_e)
        ss_t = x25519(sk_e, self._ek_t)
        shared = _combine(ss_pq, ss_t, ct_t, self._ek_t)
        key, nonce = _key_schedule_base(shared, _INFO)
        body = ChaCha20Poly1305(key).encrypt(nonce, file_key, b"")
        return [Stanza((STANZA_TYPE, b64encode(ct_pq + ct_t)), body)]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HybridRecipient) and other._public == self._public

    def __hash__(self) -> int:
        return hash((STANZA_TYPE, self._public))

    def __repr__(self) -> str:
        return f"HybridRecipient({self.to_string()[:24]!r}…)"


class HybridIdentity:
    """An age MLKEM768-X25519 hybrid identity ("AGE-SECRET-KEY-PQ-1…")."""

    __slots__ = ("_dk_pq", "_dk_t", "_ek_t", "_public", "_seed")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_SIZE:
            raise ValueError(f"MLKEM768-X25519 identity must be {SEED_SIZE} bytes")
        self._seed = bytes(seed)
        self._dk_pq, ek_pq, self._dk_t, self._ek_t = _expand_key(self._seed)
        self._public = ek_pq + self._ek_t

    @classmethod
    def generate(cls) -> HybridIdentity:
        """Generate a new random identity."""
        return cls(os.urandom(SEED_SIZE))

    @classmethod
    def from_string(cls, s: str) -> HybridIdentity:
        """Parse an "AGE-SECRET-KEY-PQ-1…" identity string."""
        return cls(decode_key(s, HYBRID_IDENTITY_HRP, SEED_SIZE))

    def to_string(self) -> str:
        """Encode as an "AGE-SECRET-KEY-PQ-1…" string (secret!)."""
        return bech32_encode(HYBRID_IDENTITY_HRP, self._seed)

    def recipient(self) -> HybridRecipient:
        """The corresponding recipient (PrivateKeyToPublicKey)."""
        return HybridRecipient(self._public)

    def unwrap(self, stanza: Stanza) -> bytes | None:
        """Return the file key, None if the stanza is not for us, or raise HeaderError."""
        if stanza.type != STANZA_TYPE:
            return None
        if len(stanza.args) != 2:
            raise HeaderError("mlkem768x25519 stanza must have exactly one argument")
        enc = b64decode(stanza.args[1])
        if len(enc) != ENC_SIZE:
            raise HeaderError(f"mlkem768x25519 stanza enc must be {ENC_SIZE} bytes")
        if len(stanza.body) != FILE_KEY_SIZE + 16:
            raise HeaderError("mlkem768x25519 stanza body must be 32 bytes")
        ct_pq, ct_t = enc[:_MLKEM_NCT], enc[_MLKEM_NCT:]
        try:
            ss_pq = self._dk_pq.decapsulate(ct_pq)
        except ValueError:
            raise HeaderError("invalid ML-KEM-768 ciphertext") from None
        ss_t = x25519(self._dk_t, ct_t)
        shared = _combine(ss_pq, ss_t, ct_t, self._ek_t)
        key, nonce = _key_schedule_base(shared, _INFO)
        try:
            return ChaCha20Poly1305(key).decrypt(nonce, stanza.body, b"")
        except InvalidTag:
            return None

    def __repr__(self) -> str:
        return "HybridIdentity(<secret>)"
