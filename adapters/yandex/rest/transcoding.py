"""Protobuf -> JSON for the Yandex REST face: what ``google.protobuf.json_format`` does
not do by itself, and nothing more; and what the face's readers share.

Responses print as Yandex's gateway printed them (Go protojson with ``UseProtoNames`` and
``EmitUnpopulated``): ``MessageToDict`` with proto names and every field, then
``_shaped`` puts ``null`` for each unset singular message, orders keys as the .proto
declares them, sorts map keys and prints integral ``Struct`` numbers as integers.

Request bodies are read in ``body.py``, query parameters in ``query.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, TypeVar, cast

import orjson
from google.protobuf import descriptor_pool, json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

M = TypeVar("M", bound=Message)
F = FieldDescriptor

_STRUCTS = frozenset({"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"})
_ANY = "google.protobuf.Any"
# the integer types, with their ranges
INT_RANGES = {
    F.TYPE_INT64: (-(2**63), 2**63 - 1),
    F.TYPE_SINT64: (-(2**63), 2**63 - 1),
    F.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    F.TYPE_UINT64: (0, 2**64 - 1),
    F.TYPE_FIXED64: (0, 2**64 - 1),
    F.TYPE_INT32: (-(2**31), 2**31 - 1),
    F.TYPE_SINT32: (-(2**31), 2**31 - 1),
    F.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    F.TYPE_UINT32: (0, 2**32 - 1),
    F.TYPE_FIXED32: (0, 2**32 - 1),
}


class FieldError(Exception):
    """A request field that cannot be read: its proto path (``body`` for the body as a
    whole) and what is wrong with it."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(f"{field}: {description}")
        self.field = field
        self.description = description


# -- responses ----------------------------------------------------------------------------


def to_json(message: Message) -> dict[str, Any]:
    """``message`` as the Yandex REST gateway printed it (a dict for orjson)."""
    data = json_format.MessageToDict(
        message, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )
    return _shaped(data, cast(Descriptor, message.DESCRIPTOR))


# Characters a JSON string may hold raw that line splitters take for line ends (Python's
# str.splitlines and httpx's iter_lines: NEL, LINE and PARAGRAPH SEPARATOR; Go's encoder
# escapes the last two in the stream's lines too). Their UTF-8 bytes never occur otherwise.
_LINE_BREAKERS = ((b"\xc2\x85", b"\\u0085"), (b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"))


def json_line(value: Any) -> bytes:
    """One line of newline-delimited JSON: compact, ending in a newline, with no character
    in it that a reader could split the line at."""
    line = orjson.dumps(value)
    for raw, escaped in _LINE_BREAKERS:
        line = line.replace(raw, escaped)
    return line + b"\n"


def well_known(descriptor: Descriptor) -> bool:
    return str(descriptor.full_name).startswith("google.protobuf.")


def is_map(field: FieldDescriptor) -> bool:
    return field.message_type is not None and bool(field.message_type.GetOptions().map_entry)


def _shaped(data: Mapping[str, Any], descriptor: Descriptor) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in descriptor.fields:  # declaration order
        if field.name in data:
            out[field.name] = _shaped_value(data[field.name], field)
        elif field.has_presence and not field.is_repeated and field.containing_oneof is None:
            out[field.name] = None  # an unset singular message (Go's EmitUnpopulated)
    return out


def _shaped_value(value: Any, field: FieldDescriptor) -> Any:
    kind = field.message_type
    if kind is None:
        return value
    if is_map(field):
        values = kind.fields_by_name["value"]
        return {k: _shaped_value(value[k], values) for k in sorted(value)}
    if field.is_repeated:
        return [_shaped_message(v, kind) for v in value]
    return _shaped_message(value, kind)


def _shaped_message(value: Any, descriptor: Descriptor) -> Any:
    if descriptor.full_name in _STRUCTS:
        return _integral(value)
    if descriptor.full_name == _ANY:
        pool = descriptor_pool.Default()  # type: ignore[no-untyped-call]
        inner = pool.FindMessageTypeByName(value["@type"].rsplit("/", 1)[-1])
        if well_known(inner):
            return value
        return {"@type": value["@type"], **_shaped(value, inner)}
    if well_known(descriptor):
        return value
    return _shaped(value, descriptor)


def _integral(value: Any) -> Any:
    """Struct numbers are doubles: print 1.0 as 1, as Go does (JSON Schemas say ``"minimum": 0``)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):  # a Struct is a map: keys sorted, as Go prints maps
        return {k: _integral(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_integral(v) for v in value]
    return value


# -- shared by the readers (body.py, query.py) ---------------------------------------------


@cache
def names(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    """Each field by its proto name and by its JSON (camelCase) name."""
    names = {f.json_name: f for f in descriptor.fields}
    names.update(descriptor.fields_by_name)
    return names
