"""A parity scenario: a list of operations in the neutral vocabulary, read from YAML or
JSON, checked with errors that name the file, line and column.

    scenario: basic-thread          # optional; default: the file's name
    page_size: 20                   # optional: list page size on the faces that page
    steps:
      - create: {thread: t1, name: chat, description: d, labels: {team: a},
                 messages: [{role: user, text: hi, labels: {k: v}}]}
      - append: {thread: t1, messages: [{role: assistant, text: "m{n}", repeat: 3}]}
      - update: {thread: t1, labels: {team: b}, name: chat2, description: d2}
      - list: {thread: t1}          # also reads newest first, and compares that order
      - get: {thread: t1}           # a read-back and nothing else
      - delete: {thread: t1}        # then "not found" on every face

``repeat: N`` writes the message N times, ``{n}`` in its text counting from 1.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import yaml
from attrs import field, frozen

OPS = ("create", "append", "update", "list", "get", "delete")
ROLES = ("user", "assistant")
MAX_INITIAL_MESSAGES = 32  # the Assistants face's bound on a create (Conversations writes in chunks)
MAX_REPEAT = 1000
MAX_PAGE_SIZE = 100

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"


class ScenarioError(Exception):
    """A scenario that cannot be run; the message starts with ``file:line:column:``."""


@frozen
class NeutralMessage:
    role: Literal["user", "assistant"]
    text: str
    labels: dict[str, str] = field(factory=dict)


@frozen
class Step:
    op: Literal["create", "append", "update", "list", "get", "delete"]
    thread: str  # the scenario's handle, not a server id
    line: int  # 1-based, of the step in the file
    name: str | None = None
    description: str | None = None
    labels: dict[str, str] | None = None
    messages: tuple[NeutralMessage, ...] = ()


@frozen
class Scenario:
    name: str
    path: str
    steps: tuple[Step, ...]
    page_size: int = 20


class _Node:
    """A YAML node and where it is, for errors."""

    def __init__(self, node: yaml.Node, path: str) -> None:
        self.node = node
        self.path = path

    def fail(self, message: str) -> ScenarioError:
        mark = self.node.start_mark
        return ScenarioError(f"{self.path}:{mark.line + 1}:{mark.column + 1}: {message}")

    @property
    def line(self) -> int:
        return int(self.node.start_mark.line) + 1

    def mapping(self, what: str, allowed: tuple[str, ...]) -> dict[str, _Node]:
        if not isinstance(self.node, yaml.MappingNode):
            raise self.fail(f"{what} must be a mapping")
        out: dict[str, _Node] = {}
        for key, value in self.node.value:
            k = _Node(key, self.path)
            name = k.string(f"a key of {what}")
            if name not in allowed:
                raise k.fail(f"unknown key {name!r} in {what}; expected one of: {', '.join(allowed)}")
            if name in out:
                raise k.fail(f"{name!r} given twice in {what}")
            out[name] = _Node(value, self.path)
        return out

    def sequence(self, what: str) -> list[_Node]:
        if not isinstance(self.node, yaml.SequenceNode):
            raise self.fail(f"{what} must be a list")
        return [_Node(n, self.path) for n in self.node.value]

    def string(self, what: str) -> str:
        if not isinstance(self.node, yaml.ScalarNode) or self.node.tag != _STR:
            raise self.fail(f"{what} must be a string (quote it)")
        return str(self.node.value)

    def integer(self, what: str, low: int, high: int) -> int:
        if not isinstance(self.node, yaml.ScalarNode) or self.node.tag != _INT:
            raise self.fail(f"{what} must be an integer")
        value = int(self.node.value)
        if not low <= value <= high:
            raise self.fail(f"{what} must be from {low} to {high}, not {value}")
        return value

    def labels(self, what: str) -> dict[str, str]:
        if not isinstance(self.node, yaml.MappingNode):
            raise self.fail(f"{what} must be a mapping of strings to strings")
        out: dict[str, str] = {}
        for key, value in self.node.value:
            k = _Node(key, self.path).string(f"a key of {what}")
            out[k] = _Node(value, self.path).string(f"{what}[{k!r}]")
        return out


def _messages(node: _Node, what: str) -> tuple[NeutralMessage, ...]:
    out: list[NeutralMessage] = []
    for i, item in enumerate(node.sequence(what)):
        keys = item.mapping(f"{what}[{i}]", ("role", "text", "labels", "repeat"))
        for required in ("role", "text"):
            if required not in keys:
                raise item.fail(f"{what}[{i}] needs {required!r}")
        role = keys["role"].string(f"{what}[{i}].role")
        if role not in ROLES:
            raise keys["role"].fail(f"{what}[{i}].role must be user or assistant (the faces in common)")
        text = keys["text"].string(f"{what}[{i}].text")
        if not text:
            raise keys["text"].fail(f"{what}[{i}].text must not be empty")
        labels = keys["labels"].labels(f"{what}[{i}].labels") if "labels" in keys else {}
        times = keys["repeat"].integer(f"{what}[{i}].repeat", 1, MAX_REPEAT) if "repeat" in keys else 0
        if not times:
            out.append(NeutralMessage(role, text, labels))  # type: ignore[arg-type]
        for n in range(1, times + 1):
            out.append(NeutralMessage(role, text.replace("{n}", str(n)), labels))  # type: ignore[arg-type]
    return tuple(out)


_STEP_KEYS = {
    "create": ("thread", "name", "description", "labels", "messages"),
    "append": ("thread", "messages"),
    "update": ("thread", "name", "description", "labels"),
    "list": ("thread",),
    "get": ("thread",),
    "delete": ("thread",),
}


def _step(node: _Node, index: int, live: set[str], made: set[str]) -> Step:
    what = f"steps[{index}]"
    outer = node.mapping(what, OPS)
    if len(outer) != 1:
        raise node.fail(f"{what} must name exactly one operation: {', '.join(OPS)}")
    ((op, body),) = outer.items()
    what = f"{what}.{op}"
    keys = body.mapping(what, _STEP_KEYS[op])
    if "thread" not in keys:
        raise body.fail(f"{what} needs 'thread' (a name for the thread within this scenario)")
    handle = keys["thread"].string(f"{what}.thread")
    if op == "create":
        if handle in made:
            raise keys["thread"].fail(f"thread {handle!r} is created twice")
        made.add(handle)
        live.add(handle)
    elif handle not in live:
        state = "was deleted" if handle in made else "is not created before this step"
        raise keys["thread"].fail(f"thread {handle!r} {state}")
    if op == "delete":
        live.discard(handle)
    messages = _messages(keys["messages"], f"{what}.messages") if "messages" in keys else ()
    if op == "append" and not messages:
        raise body.fail(f"{what} needs at least one message")
    if op == "create" and len(messages) > MAX_INITIAL_MESSAGES:
        raise keys["messages"].fail(
            f"{what}.messages: at most {MAX_INITIAL_MESSAGES} (the Assistants face's limit); append the rest"
        )
    if op == "update" and not {"name", "description", "labels"} & keys.keys():
        raise body.fail(f"{what} needs at least one of name, description, labels")
    return Step(
        op,  # type: ignore[arg-type]
        handle,
        node.line,
        name=keys["name"].string(f"{what}.name") if "name" in keys else None,
        description=keys["description"].string(f"{what}.description") if "description" in keys else None,
        labels=keys["labels"].labels(f"{what}.labels") if "labels" in keys else None,
        messages=messages,
    )


def parse(text: str, path: str) -> Scenario:
    """The scenario in ``text`` (YAML, or JSON: a file ending in .json must be JSON)."""
    if path.endswith(".json"):
        try:
            json.loads(text)
        except ValueError as exc:
            at = f"{path}:{exc.lineno}:{exc.colno}" if isinstance(exc, json.JSONDecodeError) else path
            raise ScenarioError(f"{at}: not JSON: {exc}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else path
        raise ScenarioError(f"{at}: not YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not YAML: {exc}") from None
    if root is None:
        raise ScenarioError(f"{path}:1:1: the scenario is empty")
    keys = _Node(root, path).mapping("the scenario", ("scenario", "description", "page_size", "steps"))
    if "steps" not in keys:
        raise _Node(root, path).fail("the scenario needs 'steps', a list of operations")
    name = keys["scenario"].string("scenario") if "scenario" in keys else Path(path).stem
    if "description" in keys:
        keys["description"].string("description")
    page_size = keys["page_size"].integer("page_size", 1, MAX_PAGE_SIZE) if "page_size" in keys else 20
    live: set[str] = set()
    made: set[str] = set()
    nodes = keys["steps"].sequence("steps")
    if not nodes:
        raise keys["steps"].fail("steps must not be empty")
    steps = tuple(_step(n, i, live, made) for i, n in enumerate(nodes))
    return Scenario(name, path, steps, page_size)


def load(path: str) -> Scenario:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read the scenario: {exc}") from None
    return parse(text, path)
