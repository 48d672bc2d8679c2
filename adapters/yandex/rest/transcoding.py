"""JSON <-> protobuf for the Yandex REST face: what ``google.protobuf.json_format`` does
not do by itself, and nothing more.

Responses print as Yandex's gateway printed them (Go protojson with ``UseProtoNames`` and
``EmitUnpopulated``): ``MessageToDict`` with proto names and every field, then
``_shaped`` puts ``null`` for each unset singular message, orders keys as the .proto
declares them, sorts map keys and prints integral ``Struct`` numbers as integers.

Requests: ``ParseDict`` (camelCase and proto names, mixed; int64 as numbers or strings;
enum names or numbers; ``null`` as unset; unknown fields ignored), after a walk that
refuses what ``ParseDict`` would wrongly take (a string where an object belongs) and
trims ``updateMask``; when it fails, ``_locate`` finds the field by its proto path.
Query parameters: ``query.py``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any, TypeVar, cast

import orjson
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from core.errors import shorten

M = TypeVar("M", bound=Message)
F = FieldDescriptor

_STRUCTS = frozenset({"google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"})
_ANY = "google.protobuf.Any"
_FIELD_MASK = "google.protobuf.FieldMask"
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
_PARSE_CHAIN = re.compile(r"^(Failed to parse \S+ field: )+")


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


def _well_known(descriptor: Descriptor) -> bool:
    return str(descriptor.full_name).startswith("google.protobuf.")


def _is_map(field: FieldDescriptor) -> bool:
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
    if _is_map(field):
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
        if _well_known(inner):
            return value
        return {"@type": value["@type"], **_shaped(value, inner)}
    if _well_known(descriptor):
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


# -- request bodies -----------------------------------------------------------------------


@cache
def names(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    """Each field by its proto name and by its JSON (camelCase) name."""
    names = {f.json_name: f for f in descriptor.fields}
    names.update(descriptor.fields_by_name)
    return names


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def from_body(raw: bytes, request: M, path_fields: Mapping[str, str]) -> M:
    """``request`` filled from a JSON body (empty: nothing), then from the path, which wins."""
    data: Any = {}
    if raw.strip():
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise FieldError("body", f"not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FieldError("body", "expected a JSON object")
    descriptor = cast(Descriptor, request.DESCRIPTOR)
    _check_shapes(data, descriptor, "")
    try:
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
        raise _locate(data, descriptor, "") or FieldError("body", _innermost(exc)) from None
    for name, value in path_fields.items():
        setattr(request, name, value)
    return request


def _check_shapes(data: dict[str, Any], descriptor: Descriptor, path: str) -> None:
    """Refuse a non-object where a message belongs (``ParseDict`` would iterate a string as
    if it were an object's keys) and a non-array where a list belongs; trim field masks."""
    seen: dict[str, str] = {}
    for key, item in data.items():
        field = names(descriptor).get(key)
        if field is None or item is None:
            continue
        where = _join(path, field.name)
        if field.name in seen:
            raise FieldError(where, f"given twice, as {seen[field.name]} and {key}")
        seen[field.name] = key
        kind = field.message_type
        if _is_map(field) or (kind is not None and not field.is_repeated and not _well_known(kind)):
            if not isinstance(item, dict):
                raise FieldError(where, "expected an object")
            if not _is_map(field):
                _check_shapes(item, kind, where)
        elif field.is_repeated:
            if not isinstance(item, list):
                raise FieldError(where, "expected an array")
            for i, element in enumerate(item):
                if kind is not None and not _well_known(kind) and isinstance(element, dict):
                    _check_shapes(element, kind, f"{where}[{i}]")
                elif kind is not None and not _well_known(kind) and element is not None:
                    raise FieldError(f"{where}[{i}]", "expected an object")
        elif kind is not None and kind.full_name == _FIELD_MASK and isinstance(item, str):
            data[key] = item.strip()
    for oneof in descriptor.oneofs:
        chosen = [f.name for f in oneof.fields if f.name in seen]
        if len(chosen) > 1:
            raise FieldError(path or "body", f"only one of {', '.join(chosen)} may be set")


def _locate(data: dict[str, Any], descriptor: Descriptor, path: str) -> FieldError | None:
    """The first field of ``data`` that ``ParseDict`` refuses, by its proto path."""
    cls = message_factory.GetMessageClass(descriptor)
    for key, item in data.items():
        field = names(descriptor).get(key)
        if field is None or item is None:
            continue
        where = _join(path, field.name)
        kind = field.message_type
        nested = kind is not None and not _well_known(kind) and not _is_map(field)
        if nested and field.is_repeated:
            for i, element in enumerate(item):
                found = _locate(element, kind, f"{where}[{i}]") if element is not None else None
                if found or element is None:
                    return found or FieldError(f"{where}[{i}]", "null is not allowed in a list")
            continue
        if nested:
            if found := _locate(item, kind, where):
                return found
            continue
        for place, one in _leaves(where, key, item, field):
            try:
                json_format.ParseDict(one, cls(), ignore_unknown_fields=True)
            except (json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
                return FieldError(place, _describe(field, one[key], exc))
    try:  # no field is wrong alone: the combination is (two members of one oneof)
        json_format.ParseDict(data, cls(), ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
        return FieldError(path or "body", _innermost(exc))
    return None


def _leaves(where: str, key: str, item: Any, field: FieldDescriptor) -> Iterable[tuple[str, dict[str, Any]]]:
    """One-field bodies to parse alone: a map entry by entry, a list element by element."""
    if _is_map(field) and isinstance(item, dict):
        return [(f"{where}.{k}", {key: {k: v}}) for k, v in item.items()]
    if field.is_repeated and isinstance(item, list):
        return [(f"{where}[{i}]", {key: [v]}) for i, v in enumerate(item)]
    return [(where, {key: item})]


def _innermost(exc: Exception) -> str:
    text = _PARSE_CHAIN.sub("", str(exc)).rstrip(".")
    return re.sub(r" at [\w.\[\]]+$", "", text)


def _describe(field: FieldDescriptor, value: Any, exc: Exception) -> str:
    if isinstance(value, list) and len(value) == 1 and field.is_repeated:
        value = value[0]
    elif isinstance(value, dict) and len(value) == 1 and _is_map(field):
        value = next(iter(value.values()))
        field = field.message_type.fields_by_name["value"]
    got = shorten(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode(), 100)
    kind = field.message_type
    if kind is not None and kind.full_name.startswith("google.protobuf.") and "value" in kind.fields_by_name:
        field, kind = kind.fields_by_name["value"], None  # a wrapper (Int64Value): its value's rules
    if kind is not None and kind.full_name == _FIELD_MASK:
        return f'expected camelCase paths separated by commas ("name,expirationConfig.ttlDays"), got {got}'
    if kind is not None:
        return _innermost(exc)
    if field.type in INT_RANGES:
        return f"expected an integer (a JSON number or a string of digits) in range, got {got}"
    if field.type == F.TYPE_ENUM:
        return f"expected one of {', '.join(v.name for v in field.enum_type.values)}, got {got}"
    if field.type == F.TYPE_BOOL:
        return f"expected true or false, got {got}"
    if field.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return f"expected a number, got {got}"
    if field.type == F.TYPE_STRING and isinstance(value, str):
        return _innermost(exc)  # a string protobuf cannot hold (an unpaired surrogate)
    return f"expected a string, got {got}"
