"""Building and reading Yandex message content with the yandexcloud stubs."""

from __future__ import annotations

from yandex.cloud.ai.assistants.v1.threads import message_pb2 as mp


def content(*texts: str) -> mp.MessageContent:
    return mp.MessageContent(content=[mp.ContentPart(text=mp.Text(content=t)) for t in texts])


def texts_of(message: mp.Message) -> list[str]:
    return [part.text.content for part in message.content.content]
