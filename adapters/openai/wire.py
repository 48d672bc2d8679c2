"""Request bodies in OpenAI's JSON shape.

Attribute names equal the JSON keys, so validation paths are OpenAI ``param``s.
"""

from __future__ import annotations

from typing import Literal

from attrs import define


@define
class CodeInterpreterResources:
    file_ids: list[str] | None = None


@define
class FileSearchResources:
    vector_store_ids: list[str] | None = None
    vector_stores: list[dict[str, object]] | None = None


@define
class ToolResources:
    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None


@define
class TextPartIn:
    text: str
    type: Literal["text"] = "text"


@define
class ImageFile:
    file_id: str
    detail: Literal["auto", "low", "high"] = "auto"


@define
class ImageUrl:
    url: str
    detail: Literal["auto", "low", "high"] = "auto"


@define
class ImageFilePartIn:
    image_file: ImageFile
    type: Literal["image_file"] = "image_file"


@define
class ImageUrlPartIn:
    image_url: ImageUrl
    type: Literal["image_url"] = "image_url"


PartIn = TextPartIn | ImageFilePartIn | ImageUrlPartIn


@define
class AttachmentTool:
    type: Literal["code_interpreter", "file_search"]


@define
class AttachmentIn:
    file_id: str
    tools: list[AttachmentTool] | None = None


@define
class CreateMessageBody:
    role: Literal["user", "assistant"]
    content: str | list[PartIn]
    attachments: list[AttachmentIn] | None = None
    metadata: dict[str, str] | None = None


@define
class CreateThreadBody:
    messages: list[CreateMessageBody] | None = None
    tool_resources: ToolResources | None = None
    metadata: dict[str, str] | None = None


@define
class ModifyThreadBody:
    tool_resources: ToolResources | None = None
    metadata: dict[str, str] | None = None


@define
class ModifyMessageBody:
    metadata: dict[str, str] | None = None
