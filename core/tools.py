"""How a thread's tools look to OpenAI clients.

OpenAI threads name at most one vector store under ``tool_resources.file_search``;
Yandex threads carry ``search_index`` tools that name search indexes.  Both are
"where this thread searches files", so they are one value here: the ids of the
first ``search_index`` tool.  Function and web-search tools have no OpenAI thread
counterpart; they are kept untouched when an OpenAI client changes the vector
store ids.
"""

from __future__ import annotations

from core.model import JsonValue, Tool

SEARCH_INDEX = "search_index"


def file_search_ids(tools: tuple[Tool, ...]) -> tuple[str, ...] | None:
    """Ids of the first search_index tool; None when the thread has none."""
    for tool in tools:
        if tool.kind == SEARCH_INDEX:
            ids = tool.spec.get("search_index_ids") or []
            return tuple(str(i) for i in ids) if isinstance(ids, list) else ()
    return None


def with_file_search_ids(tools: tuple[Tool, ...], ids: tuple[str, ...] | None) -> tuple[Tool, ...]:
    """Set the file-search ids, keeping every other tool and setting as it was.

    ``None`` removes the search_index tools; otherwise the first search_index tool
    gets the ids (its other settings are kept), or one is added.
    """
    if ids is None:
        return tuple(t for t in tools if t.kind != SEARCH_INDEX)
    id_list: list[JsonValue] = list(ids)
    result: list[Tool] = []
    placed = False
    for tool in tools:
        if tool.kind == SEARCH_INDEX and not placed:
            result.append(Tool(kind=SEARCH_INDEX, spec={**tool.spec, "search_index_ids": id_list}))
            placed = True
        else:
            result.append(tool)
    if not placed:
        result.append(Tool(kind=SEARCH_INDEX, spec={"search_index_ids": id_list}))
    return tuple(result)
