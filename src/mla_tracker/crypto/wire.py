"""The one strict decoder for bytes on the wire: envelopes, statement payloads and bodies.

A standard verifier (securesystemslib's DSSE, a browser's `atob`, Go's `encoding/json`) must
read exactly what the hub read, so only one spelling of each value is accepted:

- base64: the standard alphabet with padding (RFC 4648 §4), canonical (zero pad bits);
- JSON: UTF-8 (RFC 8259 §8.1), no duplicate object keys at any depth (a verifier keeping
  the first key would otherwise read another statement than the hub), no NaN/Infinity,
  nesting at most `MAX_DEPTH` deep (deeper input is refused before any recursive parser
  sees it).
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from typing import Any, NoReturn, TypeVar, cast

import msgspec
import msgspec.inspect as mi

from .errors import EncodingError

T = TypeVar("T")

#: Deepest nesting of JSON objects and arrays accepted anywhere.
MAX_DEPTH = 32

_BASE64 = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def b64encode(data: bytes) -> str:
    """Standard base64 with padding: the only form the hub accepts."""
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, field: str) -> bytes:
    """Decode standard, padded, canonical base64; raise EncodingError naming the field."""
    if isinstance(text, str):
        try:
            raw = binascii.a2b_base64(text, strict_mode=True)
        except (binascii.Error, ValueError):
            pass
        else:
            # Re-encoding and comparing is the whole check: equal means the text is the one
            # canonical spelling of these bytes, whatever else a lenient decoder might take.
            if binascii.b2a_base64(raw, newline=False) == text.encode("ascii"):
                return raw
    _refuse_base64(text, field)


def _refuse_base64(text: object, field: str) -> NoReturn:
    """Raise the EncodingError saying why text is not canonical standard base64."""
    if not isinstance(text, str) or _BASE64.fullmatch(text) is None:
        raise EncodingError(
            field, "must be standard base64 with '=' padding (RFC 4648 §4; not URL-safe)"
        )
    raise EncodingError(field, "is not canonical base64 (the padding bits must be zero)")


def check_depth(data: bytes, field: str, max_depth: int = MAX_DEPTH) -> None:
    """Refuse JSON nested deeper than max_depth, without a recursive parse."""
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return
    depth = 0
    for match in _BRACKET.finditer(_JSON_STRING.sub(b'""', data)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > max_depth:
                raise EncodingError(field, f"JSON is nested more than {max_depth} levels deep")
        else:
            depth -= 1


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKey(key)
        result[key] = value
    return result


def _refuse_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def _parse(data: bytes, field: str, max_depth: int) -> Any:
    """UTF-8, no BOM, bounded depth, no duplicate keys, no NaN: Python's parser, checked."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EncodingError(field, f"is not UTF-8 (byte {exc.start})") from exc
    if text.startswith("\ufeff"):
        raise EncodingError(field, "starts with a byte order mark; send plain UTF-8")
    check_depth(data, field, max_depth)
    try:
        return json.loads(
            text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant
        )
    except _DuplicateKey as exc:
        raise EncodingError(field, f"JSON object has the key {exc.key!r} twice") from exc
    except (ValueError, RecursionError) as exc:
        raise EncodingError(field, f"is not valid JSON: {exc}") from exc


def loads(data: bytes, field: str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse strict JSON (see the module docstring); raise EncodingError naming the field."""
    value = _parse(data, field, max_depth)
    try:
        # Python's json lets lone surrogate escapes and huge integers through; msgspec (and
        # most other verifiers, and PostgreSQL's jsonb) do not.
        msgspec.json.decode(data)
    except msgspec.DecodeError as exc:
        raise EncodingError(
            field, f"holds a lone surrogate escape or an out-of-range number ({exc})"
        ) from exc
    return value


_SCALARS = (
    mi.BoolType,
    mi.ByteArrayType,
    mi.BytesType,
    mi.DateTimeType,
    mi.DateType,
    mi.DecimalType,
    mi.EnumType,
    mi.FloatType,
    mi.IntType,
    mi.LiteralType,
    mi.MemoryViewType,
    mi.NoneType,
    mi.StrType,
    mi.TimeDeltaType,
    mi.TimeType,
    mi.UUIDType,
)


@functools.cache
def _depth_bound(type_: Any) -> int | None:
    """The deepest nesting of objects and arrays a value of type_ can have, None if unbounded."""
    return _bound(mi.type_info(type_), frozenset())


def _bound(info: mi.Type, within: frozenset[type]) -> int | None:
    if isinstance(info, _SCALARS):
        return 0
    if isinstance(info, mi.StructType) and info.cls not in within:
        inner = [_bound(f.type, within | {info.cls}) for f in info.fields]
        return None if None in inner else 1 + max((b for b in inner if b is not None), default=0)
    if isinstance(info, mi.ListType | mi.SetType | mi.FrozenSetType | mi.VarTupleType):
        item = _bound(info.item_type, within)
        return None if item is None else 1 + item
    if isinstance(info, mi.DictType):
        value = _bound(info.value_type, within)
        return None if value is None else 1 + value
    if isinstance(info, mi.UnionType):
        options = [_bound(t, within) for t in info.types]
        return None if None in options else max(b for b in options if b is not None)
    return None  # Any, recursive structs and whatever else: assume unbounded


def decode(data: bytes, type_: type[T], field: str, *, max_depth: int = MAX_DEPTH) -> T:
    """Strict JSON (see loads) decoded into a typed msgspec shape; raise EncodingError."""
    bound = _depth_bound(cast(Any, type_))
    # A type that cannot nest deeper than max_depth needs no count: deeper bytes fail its
    # typed decode anyway.
    if (bound is not None and bound <= max_depth) or (
        data.count(b"[") + data.count(b"{") <= max_depth
    ):
        # Fast path for the usual case, the bytes msgspec itself writes for the decoded value
        # (what our clients send): such bytes are UTF-8, hold no duplicate key (a Struct or
        # dict writes each key once), no NaN and no whitespace, and Python's parser reads
        # them as msgspec does, so the strict parse below could only agree. Any other
        # spelling (spaces, member order, escapes, a duplicate) takes that strict parse.
        try:
            value = msgspec.json.decode(data, type=type_)
        except (msgspec.DecodeError, UnicodeDecodeError):
            # msgspec 0.19 raises UnicodeDecodeError for bad UTF-8 in a key where later
            # versions raise DecodeError (the minimum-versions job found it); either way the
            # strict parse below decides.
            pass
        else:
            if msgspec.json.encode(value) == data:
                return value
    _parse(data, field, max_depth)
    try:
        # The typed decode also refuses lone surrogates and out-of-range numbers.
        return msgspec.json.decode(data, type=type_)
    except msgspec.DecodeError as exc:
        raise EncodingError(field, str(exc)) from exc
