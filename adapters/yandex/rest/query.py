"""Query parameters into a request message, by grpc-gateway's rules (``runtime/query.go``)
for the top-level fields the eight routes read from the query (``folderId``, ``pageSize``,
``pageToken``, ``threadId``): a field by its proto or JSON name, scalars parsed as Go
parses them, a singular field given twice refused, unknown names ignored."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from adapters.yandex.rest.transcoding import INT_RANGES, FieldError, names
from core.errors import shorten

M = TypeVar("M", bound=Message)
F = FieldDescriptor

_INTEGER = re.compile(r"[+-]?[0-9]+", re.ASCII)
# what Go's strconv.ParseBool takes
_BOOLS = {"1": True, "t": True, "T": True, "true": True, "TRUE": True, "True": True}
_BOOLS |= {"0": False, "f": False, "F": False, "false": False, "FALSE": False, "False": False}


def from_query(items: Iterable[tuple[str, str]], request: M, path_fields: Mapping[str, str]) -> M:
    """``request`` filled from query parameters, then from the path, as grpc-gateway does:
    a field by its proto or JSON name; a field bound to the path is not read from the
    query; unknown names are ignored; a singular field given twice is an error."""
    descriptor = request.DESCRIPTOR
    given: dict[str, list[str]] = {}
    for name, value in items:
        field = names(descriptor).get(name)
        if field is None or field.name in path_fields or field.message_type is not None:
            continue
        given.setdefault(field.name, []).append(value)
    for name, values in given.items():
        field = descriptor.fields_by_name[name]
        if not field.is_repeated and len(values) > 1:
            raise FieldError(name, shorten(f"too many values: {', '.join(values)}", 200))
        parsed = [_scalar(field, v) for v in values]
        if field.is_repeated:
            getattr(request, name).extend(parsed)
        else:
            setattr(request, name, parsed[0])
    for name, value in path_fields.items():
        setattr(request, name, value)
    return request


def _scalar(field: FieldDescriptor, text: str) -> Any:
    got = shorten(text, 100)
    if field.type in INT_RANGES:
        low, high = INT_RANGES[field.type]
        if _INTEGER.fullmatch(text) and low <= int(text) <= high:
            return int(text)
        raise FieldError(field.name, f"expected an integer in range, got '{got}'")
    if field.type == F.TYPE_ENUM:
        named = field.enum_type.values_by_name.get(text)
        if named is not None:
            return named.number
        if _INTEGER.fullmatch(text) and -(2**31) <= int(text) < 2**31:
            return int(text)
        raise FieldError(field.name, f"expected one of {', '.join(field.enum_type.values_by_name)}")
    if field.type == F.TYPE_BOOL:
        if text in _BOOLS:
            return _BOOLS[text]
        raise FieldError(field.name, f"expected true or false, got '{got}'")
    if field.type in (F.TYPE_DOUBLE, F.TYPE_FLOAT):
        try:
            return float(text)
        except ValueError:
            raise FieldError(field.name, f"expected a number, got '{got}'") from None
    if field.type == F.TYPE_STRING:
        return text
    raise FieldError(field.name, "cannot be given as a query parameter")
