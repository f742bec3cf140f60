"""The MLKEM768-X25519 hybrid post-quantum recipient type (c2sp.org/age, X-Wing via HPKE).

The file key is sealed with HPKE SealBase (RFC 9180, Section 6.1) using the KEM MLKEM768-X25519
of draft-ietf-hpke-pq-03 / filippo.io/hpke-pq (KEM id 0x647a), KDF HKDF-SHA256, AEAD
ChaCha20Poly1305, info "age-encryption.org/mlkem768x25519" and empty aad. HPKE itself is
`cryptography.hazmat.primitives.hpke` (cryptography >= 47); only the expansion of the 32-byte
age identity seed into the two component keys is done here, as that library takes the keys.
"""

from __future__ import annotations

import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke
from cryptography.hazmat.primitives.asymmetric.mlkem import MLKEM768PrivateKey, MLKEM768PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from ._format import Stanza, b64decode, b64encode
from ._keys import HYBRID_IDENTITY_HRP, HYBRID_RECIPIENT_HRP, bech32_encode, decode_key
from ._x25519 import FILE_KEY_SIZE, x25519
from .errors import HeaderError

STANZA_TYPE = "mlkem768x25519"
_INFO = b"age-encryption.org/mlkem768x25519"
_SUITE = hpke.Suite(hpke.KEM.MLKEM768_X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.CHACHA20_POLY1305)

_MLKEM_NEK = 1184
_MLKEM_NCT = 1088
_MLKEM_NSEED = 64
_X25519_NELEM = 32
SEED_SIZE = 32
PUBLIC_KEY_SIZE = _MLKEM_NEK + _X25519_NELEM  # 1216
ENC_SIZE = _MLKEM_NCT + _X25519_NELEM  # 1120


def _expand_key(seed: bytes) -> tuple[MLKEM768PrivateKey, X25519PrivateKey]:
    """expandKey of filippo.io/hpke-pq: SHAKE256(seed) into the ML-KEM seed and X25519 key."""
    full = hashlib.shake_256(seed).digest(_MLKEM_NSEED + 32)
    dk_pq = MLKEM768PrivateKey.from_seed_bytes(full[:_MLKEM_NSEED])
    return dk_pq, X25519PrivateKey.from_private_bytes(full[_MLKEM_NSEED:])


class HybridRecipient:
    """An age MLKEM768-X25519 hybrid post-quantum recipient ("age1pq1…")."""

    __slots__ = ("_hpke", "_public")

    def __init__(self, public: bytes) -> None:
        if len(public) != PUBLIC_KEY_SIZE:
            raise ValueError(f"MLKEM768-X25519 public key must be {PUBLIC_KEY_SIZE} bytes")
        self._public = bytes(public)
        # Validates the ML-KEM encapsulation key (FIPS 203 modulus check).
        self._hpke = hpke.MLKEM768X25519PublicKey(
            MLKEM768PublicKey.from_public_bytes(self._public[:_MLKEM_NEK]),
            X25519PublicKey.from_public_bytes(self._public[_MLKEM_NEK:]),
        )

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
        sealed = _SUITE.encrypt(file_key, self._hpke, info=_INFO)  # enc || ciphertext
        return [Stanza((STANZA_TYPE, b64encode(sealed[:ENC_SIZE])), sealed[ENC_SIZE:])]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HybridRecipient) and other._public == self._public

    def __hash__(self) -> int:
        return hash((STANZA_TYPE, self._public))

    def __repr__(self) -> str:
        return f"HybridRecipient({self.to_string()[:24]!r}…)"


class HybridIdentity:
    """An age MLKEM768-X25519 hybrid identity ("AGE-SECRET-KEY-PQ-1…")."""

    __slots__ = ("_dk_t", "_hpke", "_public", "_seed")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != SEED_SIZE:
            raise ValueError(f"MLKEM768-X25519 identity must be {SEED_SIZE} bytes")
        self._seed = bytes(seed)
        dk_pq, dk_t = _expand_key(self._seed)
        self._dk_t = dk_t.private_bytes_raw()
        self._hpke = hpke.MLKEM768X25519PrivateKey(dk_pq, dk_t)
        self._public = dk_pq.public_key().public_bytes_raw() + dk_t.public_key().public_bytes_raw()

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
        # A low-order X25519 share is a malformed header (testkit: hybrid_low_order), not
        # merely a stanza for someone else; the HPKE library would only report a failed tag.
        x25519(self._dk_t, enc[_MLKEM_NCT:])
        try:
            return _SUITE.decrypt(enc + stanza.body, self._hpke, info=_INFO)
        except InvalidTag:
            return None

    def __repr__(self) -> str:
        return "HybridIdentity(<secret>)"
