"""C2SP signed-note (Ed25519) and tlog-checkpoint: the log's signed tree heads.

Specs: https://c2sp.org/signed-note and https://c2sp.org/tlog-checkpoint. The verifier key
string `<name>+<hex key id>+<base64(0x01 || pubkey)>` is the golang.org/x/mod/sumdb/note
format that the C2SP ecosystem (witnesses, tlog-tiles clients) uses to publish note keys.
Quoted rules below are from signed-note ("§Format", "§Signatures") unless marked otherwise.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from .errors import NoteError, SignatureError
from .keys import SigningKey, VerifyingKey

# "0x01 — Ed25519 signatures as specified by this document."
SIG_TYPE_ED25519 = 0x01
# "Verifiers SHOULD apply a maximum limit to the number of signatures ... but MUST accept at
# least up to 16 signatures." 100 is golang.org/x/mod/sumdb/note's limit.
MAX_SIGNATURES = 100
# A checkpoint is about 100 bytes; a bound stops a hostile note costing memory or hashing.
MAX_NOTE_SIZE = 1 << 20
_EM_DASH = "\u2014"
_SIG_PREFIX = _EM_DASH + " "
_ED25519_SIG_SIZE = 64
# tlog-checkpoint: "ASCII decimal ... with no leading zeroes (unless the tree is empty)".
_DECIMAL = re.compile(r"0|[1-9][0-9]*")
_MAX_TREE_SIZE = (1 << 64) - 1  # every implementation in the ecosystem holds it in a uint64
_HEX_KEY_ID = re.compile(r"[0-9a-f]{8}")


def _strict_b64decode(text: str, what: str) -> bytes:
    """Standard padded base64 (RFC 4648 §4), canonical only, so one value has one encoding."""
    try:
        raw = base64.b64decode(text.encode("ascii"), validate=True)
    except (UnicodeEncodeError, binascii.Error, ValueError) as exc:
        raise NoteError(f"{what} is not valid base64") from exc
    if base64.b64encode(raw).decode("ascii") != text:
        raise NoteError(f"{what} is not canonical base64")
    return raw


def _check_key_name(name: str) -> None:
    # "Key names MUST be non-empty and MUST NOT contain any Unicode spaces or plus (U+002B)."
    if not name:
        raise NoteError("a key name must not be empty")
    if any(ch.isspace() or ch == "+" for ch in name):
        raise NoteError(f"key name {name!r} contains a space or '+'")
    _check_chars(name, "key name")


def _check_chars(text: str, what: str) -> None:
    # "Signed notes MUST be valid UTF-8 and MUST NOT contain any ASCII control characters
    # (those below U+0020) other than newline."
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates cannot be UTF-8
        raise NoteError(f"{what} is not valid UTF-8") from exc
    for ch in text:
        if ch < " " and ch != "\n":
            raise NoteError(f"{what} contains the control character U+{ord(ch):04X}")


def _check_text(text: str) -> None:
    # "A signed note consists of a text ending in newline (U+000A)".
    if not text.endswith("\n"):
        raise NoteError("note text must end with a newline")
    _check_chars(text, "note text")


def check_key_name(name: str) -> None:
    """Raise NoteError unless `name` may be a signed-note key name."""
    _check_key_name(name)


def check_note_text(text: str) -> None:
    """Raise NoteError unless `text` may be a note text (UTF-8, no controls, final newline)."""
    _check_text(text)


def strict_b64decode(text: str, what: str) -> bytes:
    """Canonical standard padded base64 only; NoteError naming `what` otherwise."""
    return _strict_b64decode(text, what)


def key_id_for(name: str, sig_type: int, public_raw: bytes) -> int:
    """Key ID = SHA-256(key name || 0x0A || signature type || public key)[:4], big-endian."""
    # signed-note "§Verifier keys": the ID commits to the name, the type and the key, so one
    # public key under two signature types (a cosignature's 0x04) has two different IDs.
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([sig_type]) + public_raw).digest()
    return int.from_bytes(digest[:4], "big")


def ed25519_key_id(name: str, public_raw: bytes) -> int:
    """Key ID = SHA-256(key name || 0x0A || 0x01 || 32-byte Ed25519 public key)[:4], big-endian."""
    return key_id_for(name, SIG_TYPE_ED25519, public_raw)


def format_vkey(name: str, sig_type: int, public_raw: bytes) -> str:
    """The verifier key string `<name>+<hex key id>+<base64(type || public key)>`."""
    key = base64.b64encode(bytes([sig_type]) + public_raw).decode("ascii")
    return f"{name}+{key_id_for(name, sig_type, public_raw):08x}+{key}"


def _vkey(name: str, public_raw: bytes) -> str:
    return format_vkey(name, SIG_TYPE_ED25519, public_raw)


def parse_vkey(vkey: str, sig_type: int, what: str) -> tuple[str, bytes]:
    """Name and 32-byte Ed25519 key of a verifier key of `sig_type`, its key ID checked."""
    # The base64 part may itself contain '+', so split off name and ID from the left.
    parts = vkey.split("+", 2)
    if len(parts) != 3:
        raise NoteError("a verifier key is <name>+<key id>+<key>")
    name, key_id, key64 = parts
    _check_key_name(name)
    if not _HEX_KEY_ID.fullmatch(key_id):
        raise NoteError("a verifier key id is 8 lowercase hex digits")
    blob = _strict_b64decode(key64, "verifier key")
    if len(blob) != 33 or blob[0] != sig_type:
        raise NoteError(
            f"only {what} verifier keys (type 0x{sig_type:02x}, 32 bytes) are supported"
        )
    if key_id_for(name, sig_type, blob[1:]) != int(key_id, 16):
        raise NoteError(f"verifier key id {key_id} does not match name and key")
    return name, blob[1:]


def signature_line(name: str, key_id: int, signature: bytes) -> str:
    """One signature line: em dash, space, key name, space, base64(key ID || signature)."""
    blob = base64.b64encode(key_id.to_bytes(4, "big") + signature).decode("ascii")
    return f"{_SIG_PREFIX}{name} {blob}\n"


class NoteSigner:
    """Signs note texts with an Ed25519 key under a key name (the log's origin)."""

    def __init__(self, name: str, key: SigningKey) -> None:
        _check_key_name(name)
        self.name = name
        self._key = key
        self.key_id = ed25519_key_id(name, key.public.raw)

    def verifier_key(self) -> str:
        """The public verifier key string `<name>+<hex key id>+<base64(0x01 || pubkey)>`."""
        return _vkey(self.name, self._key.public.raw)

    def verifier(self) -> NoteVerifier:
        """The NoteVerifier of this signer's public key."""
        return NoteVerifier(self.name, self._key.public)

    def sign(self, text: str) -> str:
        """The signed note: text, a blank line, and one signature line by this key."""
        _check_text(text)
        sig = self._key.sign(text.encode("utf-8"))
        return f"{text}\n{signature_line(self.name, self.key_id, sig)}"


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted Ed25519 note key: its name, public key and derived key ID."""

    name: str
    key: VerifyingKey

    def __post_init__(self) -> None:
        _check_key_name(self.name)

    @property
    def key_id(self) -> int:
        """The 32-bit key ID that prefixes this key's signatures."""
        return ed25519_key_id(self.name, self.key.raw)

    def vkey(self) -> str:
        """This key as a verifier key string."""
        return _vkey(self.name, self.key.raw)

    @classmethod
    def from_vkey(cls, vkey: str) -> NoteVerifier:
        """Parse `<name>+<8 hex digits>+<base64(0x01 || 32-byte key)>`, checking the key ID."""
        name, raw = parse_vkey(vkey, SIG_TYPE_ED25519, "Ed25519")
        return cls(name, VerifyingKey(raw))

    def verify(self, text: str, signature: bytes) -> None:
        """Raise NoteError unless `signature` (without the key ID) is this key's over text."""
        if len(signature) != _ED25519_SIG_SIZE:
            raise NoteError(f"signature by {self.name} is not an Ed25519 signature")
        try:
            self.key.verify(signature, text.encode("utf-8"))
        except SignatureError as exc:
            raise NoteError(f"signature by {self.name}+{self.key_id:08x} does not verify") from exc


@dataclass(frozen=True)
class NoteSignature:
    """One parsed signature line: key name, key ID and the signature bytes after the ID."""

    name: str
    key_id: int
    signature: bytes


def parse_note(note: str) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and signature lines, checking only the syntax."""
    if len(note) > MAX_NOTE_SIZE:
        raise NoteError(f"note is longer than {MAX_NOTE_SIZE} characters")
    _check_chars(note, "note")
    if not note.endswith("\n"):
        raise NoteError("a signed note ends with a newline")
    # "the text is separated from the signatures by the last empty line in the note."
    sep = note.rfind("\n\n")
    if sep < 0:
        raise NoteError("note has no blank line before its signatures")
    # "The note text includes the final newline but not the separating blank line."
    text, block = note[: sep + 1], note[sep + 2 :]
    lines = block.split("\n")[:-1]  # block ends with "\n", so the last piece is empty
    if not lines:
        raise NoteError("note has no signature lines")  # "one or more signature lines"
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"note has more than {MAX_SIGNATURES} signatures")
    return text, [_parse_sig_line(line) for line in lines]


def _parse_sig_line(line: str) -> NoteSignature:
    # "em dash (U+2014), space (U+0020), key name, space, base64-encoded signature, newline."
    if not line.startswith(_SIG_PREFIX):
        raise NoteError("a signature line starts with an em dash and a space")
    fields = line[len(_SIG_PREFIX) :].split(" ")
    if len(fields) != 2:
        raise NoteError("a signature line is '— <key name> <base64 signature>'")
    name, b64 = fields
    _check_key_name(name)
    blob = _strict_b64decode(b64, "signature")
    # "Signatures are the base64 encoding of 4+n bytes": a key ID and a non-empty signature.
    if len(blob) < 5:
        raise NoteError("a signature is a 4-byte key id followed by the signature")
    return NoteSignature(name, int.from_bytes(blob[:4], "big"), blob[4:])


def open_note(note: str, verifier: NoteVerifier) -> str:
    """The text of `note` once a signature by `verifier` verifies; NoteError otherwise."""
    text, signatures = parse_note(note)
    verified = False
    for sig in signatures:
        # "Verifiers MUST ignore signatures from unknown keys, even if they share a name or ID
        # (but not both) with a known key."
        if sig.name != verifier.name or sig.key_id != verifier.key_id:
            continue
        # "If the key name and ID match a known key, verifiers MUST verify the signature. If a
        # signature from a known key fails to verify, clients SHOULD reject the whole note."
        verifier.verify(text, sig.signature)
        verified = True
    # "If no signature from a known key verifies successfully, clients MUST reject the note."
    if not verified:
        raise NoteError(f"note carries no signature by {verifier.name}+{verifier.key_id:08x}")
    return text


@dataclass(frozen=True)
class Checkpoint:
    """A tlog-checkpoint note text: origin, tree size, RFC 6962 root hash, extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # tlog-checkpoint "Note text": at least three non-empty lines.
        for what, line in [
            ("origin", self.origin),
            *(("extension line", e) for e in self.extensions),
        ]:
            # "The origin MUST be non-empty"; "Extension lines, if any, MUST be non-empty."
            if not line:
                raise NoteError(f"a checkpoint {what} must not be empty")
            if "\n" in line:
                raise NoteError(f"a checkpoint {what} is a single line")
            _check_chars(line, f"checkpoint {what}")
        if not isinstance(self.size, int) or isinstance(self.size, bool):
            raise NoteError("a checkpoint tree size is an integer")
        if not 0 <= self.size <= _MAX_TREE_SIZE:
            raise NoteError(f"checkpoint tree size {self.size} is out of range")
        if len(self.root_hash) != 32:
            raise NoteError("a checkpoint root hash is a 32-byte SHA-256 hash")

    def to_text(self) -> str:
        """The note text: origin, size, base64 root and extensions, each ending in a newline."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        return "".join(
            f"{line}\n" for line in (self.origin, str(self.size), root, *self.extensions)
        )

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        """Parse a checkpoint note text strictly (the text returned by open_note)."""
        _check_text(text)
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteError("a checkpoint has an origin, a tree size and a root hash line")
        origin, size, root, *extensions = lines
        # The origin is not required to be a URL: "clients MUST NOT assume that the origin is
        # following this format", so any non-empty line is accepted (sum.golang.org's has spaces).
        # 20 digits hold any uint64; the bound also keeps int() away from huge inputs.
        if len(size) > 20 or not _DECIMAL.fullmatch(size):
            raise NoteError(f"checkpoint tree size {size[:24]!r} is not a canonical decimal")
        root_hash = _strict_b64decode(root, "checkpoint root hash")
        return cls(origin, int(size), root_hash, tuple(extensions))
