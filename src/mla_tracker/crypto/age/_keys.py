"""Bech32 (BIP 173, without the 90-character length limit) as used by age key encodings."""

from __future__ import annotations

from .errors import KeyFormatError

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_REV = {c: i for i, c in enumerate(_CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)

X25519_IDENTITY_HRP = "AGE-SECRET-KEY-"
X25519_RECIPIENT_HRP = "age"
HYBRID_IDENTITY_HRP = "AGE-SECRET-KEY-PQ-"
HYBRID_RECIPIENT_HRP = "age1pq"


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GENERATOR[i]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _convert_bits(data: bytes | list[int], frm: int, to: int, pad: bool) -> list[int]:
    acc = 0
    bits = 0
    out: list[int] = []
    maxv = (1 << to) - 1
    for value in data:
        acc = (acc << frm) | value
        bits += frm
        while bits >= to:
            bits -= to
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (to - bits)) & maxv)
    elif bits >= frm or (acc << (to - bits)) & maxv:
        raise KeyFormatError("invalid bech32 padding")
    return out


def bech32_encode(hrp: str, data: bytes) -> str:
    """Encode data with the given HRP; the result is uppercase if the HRP is uppercase."""
    lower_hrp = hrp.lower()
    values = _convert_bits(data, 8, 5, True)
    checksum_in = _hrp_expand(lower_hrp) + values + [0] * 6
    mod = _polymod(checksum_in) ^ 1
    checksum = [(mod >> 5 * (5 - i)) & 31 for i in range(6)]
    s = lower_hrp + "1" + "".join(_CHARSET[v] for v in values + checksum)
    return s.upper() if hrp.isupper() else s


def bech32_decode(s: str) -> tuple[str, bytes]:
    """Decode a Bech32 string, returning the lowercase HRP and the data bytes."""
    if not s.isascii() or any(ord(c) < 33 or ord(c) > 126 for c in s):
        raise KeyFormatError("invalid character in bech32 string")
    if s.lower() != s and s.upper() != s:
        raise KeyFormatError("mixed case bech32 string")
    s = s.lower()
    pos = s.rfind("1")
    if pos < 1 or pos + 7 > len(s):
        raise KeyFormatError("invalid bech32 separator position")
    hrp = s[:pos]
    try:
        values = [_CHARSET_REV[c] for c in s[pos + 1 :]]
    except KeyError:
        raise KeyFormatError("invalid bech32 data character") from None
    if _polymod(_hrp_expand(hrp) + values) != 1:
        raise KeyFormatError("invalid bech32 checksum")
    return hrp, bytes(_convert_bits(values[:-6], 5, 8, False))


def decode_key(s: str, hrp: str, length: int) -> bytes:
    """Decode a Bech32 key string, checking its HRP (case-insensitively) and data length."""
    got_hrp, data = bech32_decode(s)
    if got_hrp != hrp.lower():
        raise KeyFormatError(f"unexpected key type {got_hrp!r}, expected {hrp.lower()!r}")
    if len(data) != length:
        raise KeyFormatError(f"invalid key length {len(data)}, expected {length}")
    return data
