"""Value rules shared by every face.

OpenAI's metadata limits apply to Yandex labels as well, so every thread and
message stays valid in every wire shape.  One rule holds for every text field
the store keeps (names, descriptions, author ids, message text, label keys and
values, urls, file ids, strings inside tool settings): no NUL character.
PostgreSQL cannot keep U+0000 in text, and a value one backend takes but another
refuses would be lost when a store moves between them.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.errors import InvalidArgument
from core.model import JsonValue

MAX_LABELS = 16
MAX_LABEL_KEY = 64
MAX_LABEL_VALUE = 512
MAX_NAME = 256
MAX_DESCRIPTION = 1024
MAX_AUTHOR_ID = 256
MAX_ID = 256


def required(value: str, field: str) -> str:
    """A field a request must carry (ids, folders): empty is missing."""
    if not value:
        raise InvalidArgument(field, "missing_required_parameter")
    return value


def check_text(value: str, field: str) -> str:
    """Any stored text: no NUL (see the module's docstring)."""
    if "\x00" in value:
        raise InvalidArgument(field, "nul_character")
    return value


def check_length(value: str, field: str, maximum: int) -> str:
    """A stored text field: at most ``maximum`` characters and no NUL."""
    check_text(value, field)
    if len(value) > maximum:
        raise InvalidArgument(field, "string_above_max_length", maximum=maximum, length=len(value))
    return value


def check_count(count: int, field: str, maximum: int) -> None:
    """A list with at most ``maximum`` members."""
    if count > maximum:
        raise InvalidArgument(field, "array_above_max_length", maximum=maximum, length=count)


def check_labels(labels: Mapping[str, str], field: str = "labels") -> dict[str, str]:
    if len(labels) > MAX_LABELS:
        raise InvalidArgument(field, "object_above_max_properties", maximum=MAX_LABELS, count=len(labels))
    for key, value in labels.items():
        if len(key) > MAX_LABEL_KEY:
            raise InvalidArgument(
                f"{field}.{key}",
                "property_name_above_max_length",
                key=key,
                maximum=MAX_LABEL_KEY,
                length=len(key),
            )
        if "\x00" in key:
            raise InvalidArgument(field, "nul_character", key=key)
        check_length(value, f"{field}.{key}", MAX_LABEL_VALUE)
    return dict(labels)


def check_ids(ids: tuple[str, ...], field: str, maximum: int) -> tuple[str, ...]:
    """A list of ids (file ids, vector store ids): at most ``maximum`` of them, each usable."""
    check_count(len(ids), field, maximum)
    for i, value in enumerate(ids):
        check_length(value, f"{field}[{i}]", MAX_ID)
    return ids


def json_strings_clean(value: JsonValue) -> bool:
    """True when no string in ``value`` (keys included) holds NUL."""
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, list):
        return all(json_strings_clean(v) for v in value)
    if isinstance(value, dict):
        return all("\x00" not in k and json_strings_clean(v) for k, v in value.items())
    return True


def usable_id(value: str) -> bool:
    """An id a store can look up: short, without NUL.  Anything else names nothing."""
    return len(value) <= MAX_ID and "\x00" not in value
