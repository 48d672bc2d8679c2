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


def check_text(value: str, field: str) -> str:
    """Any stored text: no NUL (see the module's docstring)."""
    if "\x00" in value:
        raise InvalidArgument(field, f"Invalid '{field}': the NUL character is not allowed.", "invalid_value")
    return value


def check_length(value: str, field: str, maximum: int) -> str:
    """A stored text field: at most ``maximum`` characters and no NUL."""
    check_text(value, field)
    if len(value) > maximum:
        raise InvalidArgument(
            field,
            f"Invalid '{field}': string too long. Expected a string with maximum length "
            f"{maximum}, but got a string with length {len(value)} instead.",
            "string_above_max_length",
        )
    return value


def check_labels(labels: Mapping[str, str], field: str = "labels") -> dict[str, str]:
    if len(labels) > MAX_LABELS:
        raise InvalidArgument(
            field,
            f"Invalid '{field}': too many properties. Expected an object with at most "
            f"{MAX_LABELS} properties, but got an object with {len(labels)} properties instead.",
            "object_above_max_properties",
        )
    for key, value in labels.items():
        if len(key) > MAX_LABEL_KEY:
            raise InvalidArgument(
                f"{field}.{key}",
                f"Invalid property name in '{field}': '{key}' is too long. Expected a string "
                f"with maximum length {MAX_LABEL_KEY}, but got a string with length "
                f"{len(key)} instead.",
                "string_above_max_length",
            )
        if "\x00" in key:
            raise InvalidArgument(
                field,
                f"Invalid property name in '{field}': the NUL character is not allowed.",
                "invalid_value",
            )
        if len(value) > MAX_LABEL_VALUE:
            raise InvalidArgument(
                f"{field}.{key}",
                f"Invalid '{field}.{key}': string too long. Expected a string with maximum "
                f"length {MAX_LABEL_VALUE}, but got a string with length {len(value)} instead.",
                "string_above_max_length",
            )
        check_text(value, f"{field}.{key}")
    return dict(labels)


def check_ids(ids: tuple[str, ...], field: str, maximum: int) -> tuple[str, ...]:
    """A list of ids (file ids, vector store ids): at most ``maximum`` of them, each usable."""
    if len(ids) > maximum:
        raise InvalidArgument(
            field,
            f"Invalid '{field}': array too long. Expected an array with maximum length "
            f"{maximum}, but got an array with length {len(ids)} instead.",
            "array_above_max_length",
        )
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
