"""Value rules shared by both protocols.

OpenAI's metadata limits apply to Yandex labels as well, so every thread and
message stays valid in both wire shapes.
"""

from __future__ import annotations

from collections.abc import Mapping

from core.errors import InvalidArgument

MAX_LABELS = 16
MAX_LABEL_KEY = 64
MAX_LABEL_VALUE = 512
MAX_NAME = 256
MAX_DESCRIPTION = 1024
MAX_AUTHOR_ID = 256


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
        if len(value) > MAX_LABEL_VALUE:
            raise InvalidArgument(
                f"{field}.{key}",
                f"Invalid '{field}.{key}': string too long. Expected a string with maximum "
                f"length {MAX_LABEL_VALUE}, but got a string with length {len(value)} instead.",
                "string_above_max_length",
            )
    return dict(labels)


def check_length(value: str, field: str, maximum: int) -> str:
    """A stored text field: at most ``maximum`` characters and no NUL (not every
    database can store U+0000, and no client needs it)."""
    if "\x00" in value:
        raise InvalidArgument(field, f"Invalid '{field}': the NUL character is not allowed.", "invalid_value")
    if len(value) > maximum:
        raise InvalidArgument(
            field,
            f"Invalid '{field}': string too long. Expected a string with maximum length "
            f"{maximum}, but got a string with length {len(value)} instead.",
            "string_above_max_length",
        )
    return value


MAX_ID = 256


def usable_id(value: str) -> bool:
    """An id a store can look up: short, without NUL.  Anything else names nothing."""
    return len(value) <= MAX_ID and "\x00" not in value
