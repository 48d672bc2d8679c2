"""The REST converter: OpenAI JSON <-> wire DTOs <-> core values.

Input is validated strictly (no coercion of ``"5"`` to 5, unknown keys refused);
output is built from core values by unstructure hooks registered here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar, get_args, get_origin

import cattrs
from cattrs.cols import list_structure_factory
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
    IterableValidationNote,
)

from adapters.openai import wire
from core.entries import NewMessage
from core.model import (
    Attachment,
    ContentPart,
    ImageFilePart,
    ImageUrlPart,
    Message,
    RefusalPart,
    Role,
    TextPart,
    Thread,
)
from core.tools import file_search_ids

T = TypeVar("T")

_JSON_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def json_type_name(value: object) -> str:
    return _JSON_TYPE_NAMES.get(type(value), "a value")


class WireTypeError(TypeError):
    def __init__(self, expected: str, value: object) -> None:
        super().__init__(f"expected {expected}, but got {json_type_name(value)} instead")
        self.expected = expected


class WireValueError(ValueError):
    pass


class FieldProblem:
    """One validation failure, located by an OpenAI ``param`` path."""

    def __init__(self, param: str, message: str, code: str) -> None:
        self.param = param
        self.message = message
        self.code = code


def _strict(kind: type[T], name: str) -> Callable[[object, type], T]:
    def hook(value: object, _: type) -> T:
        if type(value) is not kind:
            raise WireTypeError(name, value)
        return value

    return hook


def _choices(allowed: tuple[object, ...]) -> str:
    quoted = [f"'{a}'" for a in allowed]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _literal(value: object, cl: Any) -> object:
    allowed = get_args(cl)
    if value not in allowed:
        raise WireValueError(f"'{value}'. Supported values are: {_choices(allowed)}.")
    return value


def _is_list(t: Any) -> bool:
    return get_origin(t) is list


def make_converter() -> cattrs.Converter:
    c = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)
    # leaf hooks first: factories capture them
    c.register_structure_hook(str, _strict(str, "a string"))
    c.register_structure_hook(bool, _strict(bool, "a boolean"))
    c.register_structure_hook(int, _strict(int, "an integer"))
    c.register_structure_hook_func(lambda t: t is object, lambda v, _: v)
    c.register_structure_hook_func(lambda t: getattr(t, "__origin__", None) is Literal, _literal)

    def strict_list(cl: Any) -> Callable[[object, Any], list[Any]]:
        """JSON arrays only: cattrs would otherwise turn "abc" into ["a", "b", "c"]."""
        inner = list_structure_factory(cl, c)

        def hook(value: object, t: Any) -> list[Any]:
            if not isinstance(value, list):
                raise WireTypeError("an array", value)
            return inner(value, t)  # type: ignore[no-any-return]

        return hook

    c.register_structure_hook_factory(_is_list, strict_list)

    def mapping(value: object, cl: Any) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise WireTypeError("an object", value)
        problems = []
        out: dict[str, str] = {}
        for k, v in value.items():
            if type(v) is not str:
                err = WireTypeError("a string", v)
                err.__notes__ = [IterableValidationNote(f"@ key {k!r}", k, str)]
                problems.append(err)
            else:
                out[k] = v
        if problems:
            raise IterableValidationError("While structuring metadata", problems, dict)
        return out

    c.register_structure_hook_func(lambda t: t == dict[str, str], mapping)

    def part(value: object, _: type) -> wire.PartIn:
        if not isinstance(value, dict):
            raise WireTypeError("an object", value)
        kind = value.get("type")
        classes: dict[object, type[wire.PartIn]] = {
            "text": wire.TextPartIn,
            "image_file": wire.ImageFilePartIn,
            "image_url": wire.ImageUrlPartIn,
        }
        if kind not in classes:
            raise WireValueError(f"'{kind}'. Supported values are: {_choices(tuple(classes))}.")
        return c.structure(value, classes[kind])

    c.register_structure_hook_func(lambda t: t == wire.PartIn, part)

    def content(value: object, _: type) -> str | list[wire.PartIn]:
        if isinstance(value, str):
            return value
        if isinstance(value, list):
            return c.structure(value, list[wire.PartIn])
        raise WireTypeError("a string or an array of content parts", value)

    c.register_structure_hook_func(lambda t: t == str | list[wire.PartIn], content)
    return c


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else str(key)


def field_problems(exc: BaseException, path: str = "") -> list[FieldProblem]:
    """Flatten cattrs' exception tree into OpenAI-style problems with ``param`` paths."""
    if isinstance(exc, IterableValidationError | ClassValidationError):
        problems: list[FieldProblem] = []
        with_notes, without = exc.group_exceptions()
        for sub, note in with_notes:
            key: str | int = note.index if isinstance(note, IterableValidationNote) else note.name
            problems += field_problems(sub, _join(path, key))
        for sub in without:
            problems += field_problems(sub, path)
        return problems
    if isinstance(exc, ForbiddenExtraKeysError):
        return [
            FieldProblem(_join(path, k), f"Unknown parameter: '{_join(path, k)}'.", "unknown_parameter")
            for k in sorted(exc.extra_fields)
        ]
    if isinstance(exc, KeyError):
        return [FieldProblem(path, f"Missing required parameter: '{path}'.", "missing_required_parameter")]
    if isinstance(exc, WireTypeError):
        return [FieldProblem(path, f"Invalid type for '{path}': {exc}.", "invalid_type")]
    if isinstance(exc, WireValueError):
        return [FieldProblem(path, f"Invalid value for '{path}': {exc}", "invalid_value")]
    return [FieldProblem(path, f"Invalid value for '{path}'.", "invalid_value")]


# -- DTO -> core ----------------------------------------------------------------


def content_to_core(content: str | list[wire.PartIn]) -> tuple[ContentPart, ...]:
    if isinstance(content, str):
        return (TextPart(text=content),)
    parts: list[ContentPart] = []
    for p in content:
        if isinstance(p, wire.TextPartIn):
            parts.append(TextPart(text=p.text))
        elif isinstance(p, wire.ImageFilePartIn):
            parts.append(ImageFilePart(file_id=p.image_file.file_id, detail=p.image_file.detail))
        else:
            parts.append(ImageUrlPart(url=p.image_url.url, detail=p.image_url.detail))
    return tuple(parts)


def message_to_core(body: wire.CreateMessageBody) -> NewMessage:
    return NewMessage(
        role=Role(body.role),
        content=content_to_core(body.content),
        labels=body.metadata or {},
        attachments=tuple(
            Attachment(file_id=a.file_id, tools=tuple(t.type for t in a.tools or ()))
            for a in body.attachments or ()
        ),
    )


def file_ids_of(resources: wire.ToolResources | None) -> tuple[str, ...] | None:
    if resources is None or resources.code_interpreter is None:
        return None
    return tuple(resources.code_interpreter.file_ids or ())


def file_search_ids_of(resources: wire.ToolResources | None) -> tuple[str, ...] | None:
    """The vector store ids a request names; None (no file search) when it names none."""
    fs = resources.file_search if resources else None
    return (tuple(fs.vector_store_ids or ()) or None) if fs else None


# -- core -> JSON ---------------------------------------------------------------


def unix(moment: Any) -> int:
    return int(moment.timestamp())


def tool_resources_json(thread: Thread) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if thread.code_interpreter_file_ids is not None:
        out["code_interpreter"] = {"file_ids": list(thread.code_interpreter_file_ids)}
    ids = file_search_ids(thread.tools)
    if ids is not None:
        out["file_search"] = {"vector_store_ids": list(ids)}
    return out


def thread_json(thread: Thread) -> dict[str, Any]:
    return {
        "id": thread.id,
        "object": "thread",
        "created_at": unix(thread.created_at),
        "metadata": dict(thread.labels),
        "tool_resources": tool_resources_json(thread),
    }


def annotation_json(annotation: dict[str, Any]) -> dict[str, Any] | None:
    """A Responses annotation as Assistants writes one (it has no quoted text or span:
    both ends are the Responses ``index``); None for kinds Assistants has not."""
    kind = annotation.get("type")
    if kind not in ("file_citation", "file_path"):
        return None
    index = annotation.get("index")
    at = index if isinstance(index, int) else 0
    return {
        "type": kind,
        "text": "",
        "start_index": at,
        "end_index": at,
        kind: {"file_id": str(annotation.get("file_id", ""))},
    }


# Assistants knows no "original" image detail
_IMAGE_DETAIL = {"auto": "auto", "low": "low", "high": "high"}


def part_json(part: ContentPart) -> dict[str, Any] | None:
    """A content part as Assistants shows it; None for a part it has no type for."""
    if isinstance(part, TextPart):
        annotations = [a for a in map(annotation_json, part.annotations) if a is not None]
        return {"type": "text", "text": {"value": part.text, "annotations": annotations}}
    if isinstance(part, ImageFilePart):
        detail = _IMAGE_DETAIL.get(part.detail, "auto")
        return {"type": "image_file", "image_file": {"file_id": part.file_id, "detail": detail}}
    if isinstance(part, ImageUrlPart):
        detail = _IMAGE_DETAIL.get(part.detail, "auto")
        return {"type": "image_url", "image_url": {"url": part.url, "detail": detail}}
    if isinstance(part, RefusalPart):
        return {"type": "refusal", "refusal": part.refusal}
    return None  # an inline file (Conversations' input_file)


def message_json(message: Message) -> dict[str, Any]:
    created = unix(message.created_at)
    status = message.status._value_
    # ``_value_`` is the member's value as a plain attribute; ``.value`` is a
    # descriptor call, and a page of 20 messages reads 40 of them
    return {
        "id": message.id,
        "object": "thread.message",
        "created_at": created,
        "assistant_id": message.assistant_id,
        "thread_id": message.thread_id,
        "run_id": message.run_id,
        "role": message.author.role._value_,
        "content": [j for j in map(part_json, message.content) if j is not None],
        "attachments": [
            {"file_id": a.file_id, "tools": [{"type": t} for t in a.tools]} for a in message.attachments
        ]
        if message.attachments
        else [],
        "metadata": dict(message.labels),
        "status": status,
        "incomplete_details": None,
        # a message is written whole: it completed (or stopped) when it was stored
        "completed_at": created if status == "completed" else None,
        "incomplete_at": created if status == "incomplete" else None,
    }
