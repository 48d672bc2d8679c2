"""The ``openai-agents`` package's ``OpenAIConversationsSession``, unchanged, keeping an
agent's history in threadgate: the Agents SDK's own conversation store."""

from __future__ import annotations

import asyncio
from typing import Any

from agents.memory import OpenAIConversationsSession
from openai import AsyncOpenAI

from testkit.server import Server


def _session(client: AsyncOpenAI, conversation_id: str | None = None) -> OpenAIConversationsSession:
    return OpenAIConversationsSession(conversation_id=conversation_id, openai_client=client)


def _turns(n: int) -> list[Any]:
    """What an agent run leaves: user turns, assistant turns without ids (the SDK strips
    them), tool calls and their outputs, reasoning."""
    items: list[Any] = []
    for i in range(n):
        items.append({"role": "user", "content": f"question {i}"})
        items.append(
            {
                "type": "function_call",
                "call_id": f"call_{i}",
                "name": "lookup",
                "arguments": f'{{"i": {i}}}',
            }
        )
        items.append({"type": "function_call_output", "call_id": f"call_{i}", "output": f"result {i}"})
        items.append({"type": "reasoning", "summary": [{"type": "summary_text", "text": f"why {i}"}]})
        items.append(
            {
                "role": "assistant",
                "type": "message",
                "status": "completed",
                "content": [{"type": "output_text", "text": f"answer {i}", "annotations": []}],
            }
        )
    return items


def _shape(item: Any) -> tuple[str, str]:
    kind = item.get("type", "message")
    if kind == "message":
        return kind, item["content"][0]["text"]
    if kind == "function_call":
        return kind, item["arguments"]
    if kind == "function_call_output":
        return kind, item["output"]
    return kind, item["summary"][0]["text"]


def _text_of(item: Any) -> str:
    return item["content"] if isinstance(item["content"], str) else item["content"][0]["text"]


def test_the_session_keeps_an_agents_history(server: Server) -> None:
    async def run() -> None:
        async with AsyncOpenAI(
            base_url=server.base_url, api_key=server.api_key, max_retries=0, _strict_response_validation=True
        ) as client:
            await exercise(client)

    async def exercise(client: AsyncOpenAI) -> None:
        session = _session(client)
        written = _turns(9)  # 45 items: three requests of at most 20
        await session.add_items(written)
        history: list[Any] = await session.get_items()
        assert len(history) == len(written)
        assert [_shape(h) for h in history] == [
            (w.get("type", "message"), _text_of(w) if "content" in w else _shape(w)[1]) for w in written
        ]
        assert all(h["id"] for h in history)  # the server minted every id

        last: list[Any] = await session.get_items(limit=3)
        assert [h["id"] for h in last] == [h["id"] for h in history[-3:]]

        popped: Any = await session.pop_item()
        assert popped is not None and popped["id"] == history[-1]["id"]
        left: list[Any] = await session.get_items()
        assert [h["id"] for h in left] == [h["id"] for h in history[:-1]]

        # another process picks the same conversation up by its id
        again = _session(client, session.session_id)
        assert len(await again.get_items()) == len(written) - 1

        conversation_id = session.session_id
        await session.clear_session()
        gone = _session(client, conversation_id)
        try:
            await gone.get_items()
        except Exception as exc:  # the conversation is gone, for every session
            assert "404" in str(exc) or "not found" in str(exc).lower(), exc
        else:
            raise AssertionError("the cleared conversation is still readable")

    asyncio.run(run())
