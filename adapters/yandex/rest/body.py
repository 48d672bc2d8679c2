"""Request bodies into request messages: ``ParseDict`` (camelCase and proto names, mixed;
int64 as numbers or strings; enum names or numbers; ``null`` as unset; unknown fields
ignored), after a walk that refuses what ``ParseDict`` would wrongly take where protojson
refuses it, and trims ``updateMask``; when ``ParseDict`` fails, ``_locate`` finds the
field by its proto path and says what it should have held."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar, cast

import orjson
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message

from adapters.yandex.rest.transcoding import INT_RANGES, FieldError, is_map, names, well_known
from core.errors import shorten

M = TypeVar("M", bound=Message)
F = FieldDescriptor

_FIELD_MASK = "google.protobuf.FieldMask"
_WRAPPERS = frozenset(
    f"google.protobuf.{n}Value"
    for n in ("Int64", "UInt64", "Int32", "UInt32", "Double", "Float", "Bool", "String", "Bytes")
)
# a JSON number, which protojson also takes inside a string for an integer field
_JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?", re.ASCII)
_PARSE_CHAIN = re.compile(r"^(Failed to parse \S+ field: )+")


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
    """Refuse what ``ParseDict`` would wrongly take, as protojson refuses it: a non-object
    where a message belongs (``ParseDict`` iterates a string as if it were an object's
    keys), a non-array where a list belongs, ``true`` or ``1.5`` for an enum or an integer,
    ``"1_000"`` for an integer; one field spelled twice, two members of one oneof.  Field
    masks are trimmed, as Go trims them."""
    seen: dict[str, str] = {}
    for key, item in data.items():
        field = names(descriptor).get(key)
        if field is None or item is None:
            continue
        where = _join(path, field.name)
        if field.name in seen:
            raise FieldError(where, f"given twice, as {seen[field.name]} and {key}")
        seen[field.name] = key
        if is_map(field):
            if not isinstance(item, dict):
                raise FieldError(where, "expected an object")
            values = field.message_type.fields_by_name["value"]
            for k, v in item.items():
                if v is not None:  # ParseDict refuses it; _locate names it
                    _check_value(v, values, f"{where}.{k}")
        elif field.is_repeated:
            if not isinstance(item, list):
                raise FieldError(where, "expected an array")
            for i, element in enumerate(item):
                if element is not None:
                    _check_value(element, field, f"{where}[{i}]")
        else:
            data[key] = _check_value(item, field, where)
    for oneof in descriptor.oneofs:
        chosen = [f.name for f in oneof.fields if f.name in seen]
        if len(chosen) > 1:
            raise FieldError(path or "body", f"only one of {', '.join(chosen)} may be set")


def _check_value(value: Any, field: FieldDescriptor, where: str) -> Any:
    kind = field.message_type
    if kind is None:
        if not _plausible(value, field):
            raise FieldError(where, _describe(field, value))
    elif kind.full_name == _FIELD_MASK:
        return value.strip() if isinstance(value, str) else value
    elif kind.full_name in _WRAPPERS:
        inner = kind.fields_by_name["value"]
        if not _plausible(value, inner):
            raise FieldError(where, _describe(inner, value))
    elif not well_known(kind):
        if not isinstance(value, dict):
            raise FieldError(where, "expected an object")
        _check_shapes(value, kind, where)
    return value


def _plausible(value: Any, field: FieldDescriptor) -> bool:
    """Of the JSON types protojson takes for the field (ranges and values aside)."""
    if isinstance(value, bool):
        return bool(field.type == F.TYPE_BOOL)
    if field.type in INT_RANGES:
        return isinstance(value, int | float) or (
            isinstance(value, str) and bool(_JSON_NUMBER.fullmatch(value))
        )
    if field.type == F.TYPE_ENUM:
        return isinstance(value, str) or (isinstance(value, int | float) and bool(float(value).is_integer()))
    if field.type in (F.TYPE_STRING, F.TYPE_BYTES):
        return isinstance(value, str)
    if field.type == F.TYPE_BOOL:
        return False
    return isinstance(value, int | float | str)  # double, float: numbers, "NaN", "1.5"


def _locate(data: dict[str, Any], descriptor: Descriptor, path: str) -> FieldError | None:
    """The first field of ``data`` that ``ParseDict`` refuses, by its proto path."""
    cls = message_factory.GetMessageClass(descriptor)
    for key, item in data.items():
        field = names(descriptor).get(key)
        if field is None or item is None:
            continue
        where = _join(path, field.name)
        kind = field.message_type
        nested = kind is not None and not well_known(kind) and not is_map(field)
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
        for place, one, leaf, value in _leaves(where, key, item, field):
            try:
                json_format.ParseDict(one, cls(), ignore_unknown_fields=True)
            except (json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
                return FieldError(place, _describe(leaf, value, exc))
    try:  # no field is wrong alone: the combination is (two members of one oneof)
        json_format.ParseDict(data, cls(), ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, AttributeError) as exc:
        return FieldError(path or "body", _innermost(exc))
    return None


def _leaves(
    where: str, key: str, item: Any, field: FieldDescriptor
) -> Iterable[tuple[str, dict[str, Any], FieldDescriptor, Any]]:
    """One-field bodies to parse alone, with the field and value each holds: a map entry
    by entry, a list element by element."""
    if is_map(field) and isinstance(item, dict):
        values = field.message_type.fields_by_name["value"]
        return [(f"{where}.{k}", {key: {k: v}}, values, v) for k, v in item.items()]
    if field.is_repeated and isinstance(item, list):
        return [(f"{where}[{i}]", {key: [v]}, field, v) for i, v in enumerate(item)]
    return [(where, {key: item}, field, item)]


def _innermost(exc: Exception) -> str:
    text = _PARSE_CHAIN.sub("", str(exc)).rstrip(".")
    return re.sub(r" at [\w.\[\]]+$", "", text)


def _describe(field: FieldDescriptor, value: Any, exc: Exception | None = None) -> str:
    """What ``value`` (one element of a list, one value of a map) should have been."""
    if value is None:
        return "null is not allowed here"
    got = shorten(orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode(), 100)
    kind = field.message_type
    if kind is not None and kind.full_name in _WRAPPERS:
        field, kind = kind.fields_by_name["value"], None  # a wrapper (Int64Value): its value's rules
    if kind is not None and kind.full_name == _FIELD_MASK:
        return f'expected camelCase paths separated by commas ("name,expirationConfig.ttlDays"), got {got}'
    if kind is not None:
        return _innermost(exc) if exc else "invalid value"
    if field.type in INT_RANGES:
        return f"expected an integer (a JSON number or a string of digits) in range, got {got}"
    if field.type == F.TYPE_ENUM:
        return f"expected one of {', '.join(v.name for v in field.enum_type.values)}, got {got}"
    if field.type == F.TYPE_BOOL:
        return f"expected true or false, got {got}"
    if field.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        return f"expected a number, got {got}"
    if field.type == F.TYPE_STRING and isinstance(value, str) and exc:
        return _innermost(exc)  # a string protobuf cannot hold
    return f"expected a string, got {got}"
