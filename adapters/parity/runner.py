"""Replay a scenario through each writing face; after every step read the thread back
through every selected face and compare (``compare``)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from attrs import frozen

from adapters.parity.compare import Check, Expected, Observed, Reading, ThreadIntent, compare_thread
from adapters.parity.faces import Face, FaceError, NewThreadIntent, ThreadChange
from adapters.parity.losses import write_loss
from adapters.parity.scenario import NeutralMessage, Scenario, Step


@frozen
class StepResult:
    index: int
    step: Step
    checks: tuple[Check, ...]


@frozen
class Run:
    writer: str
    steps: tuple[StepResult, ...]


def _created(
    writer: str, kind: str, name: str, intended: str | dict[str, str], default: str | dict[str, str]
) -> Expected:
    loss = write_loss(writer, kind, name)
    return Expected(intended, default, loss) if loss is not None else Expected(intended, intended)


def _updated(writer: str, name: str, intended: str | dict[str, str], before: Expected) -> Expected:
    loss = write_loss(writer, "thread", name)
    return Expected(intended, before.effective, loss) if loss is not None else Expected(intended, intended)


def _messages(writer: str, messages: tuple[NeutralMessage, ...]) -> list[dict[str, Expected]]:
    return [
        {
            "role": Expected(m.role, m.role),
            "text": Expected(m.text, m.text),
            "labels": _created(writer, "message", "labels", m.labels, {}),
        }
        for m in messages
    ]


def _write(face: Face, step: Step, ids: dict[str, str], intents: dict[str, ThreadIntent]) -> None:
    """Do ``step`` through ``face`` and move the scenario's intent with it."""
    writer = face.name
    if step.op == "create":
        thread = NewThreadIntent(step.name or "", step.description or "", step.labels or {}, step.messages)
        ids[step.thread] = face.create(thread)
        intents[step.thread] = ThreadIntent(
            fields={
                "name": _created(writer, "thread", "name", thread.name, ""),
                "description": _created(writer, "thread", "description", thread.description, ""),
                "labels": _created(writer, "thread", "labels", thread.labels, {}),
            },
            messages=_messages(writer, step.messages),
        )
        return
    intent = intents[step.thread]
    if step.op == "append":
        face.append(ids[step.thread], step.messages)
        intent.messages.extend(_messages(writer, step.messages))
    elif step.op == "update":
        face.update(ids[step.thread], ThreadChange(step.name, step.description, step.labels))
        for name, value in (("name", step.name), ("description", step.description), ("labels", step.labels)):
            if value is not None:
                intent.fields[name] = _updated(writer, name, value, intent.fields[name])
    elif step.op == "delete":
        face.delete(ids[step.thread])
        intent.exists = False


def _read_back(faces: Mapping[str, Face], step: Step, thread_id: str, intent: ThreadIntent) -> list[Check]:
    observed: dict[str, Observed] = {}
    newest: dict[str, list[str]] = {}
    for name, face in faces.items():
        try:
            observed[name] = face.read(thread_id)
            if step.op == "list" and observed[name] is not None:
                newest[name] = face.newest_first(thread_id)
        except FaceError as exc:
            observed[name] = str(exc)
    return compare_thread(step.thread, intent, observed, newest if step.op == "list" else None)


def run_through(writer: Face, faces: Mapping[str, Face], scenario: Scenario) -> Run:
    """The scenario written through ``writer``, read back through every face of ``faces``."""
    ids: dict[str, str] = {}
    intents: dict[str, ThreadIntent] = {}
    results = []
    try:
        for index, step in enumerate(scenario.steps, 1):
            try:
                _write(writer, step, ids, intents)
            except FaceError as exc:
                failed = Check(
                    f"step {index}",
                    "step",
                    step.op,
                    None,
                    "scenario",
                    (Reading(writer.name, False, None, "unexpected", str(exc)),),
                )
                results.append(StepResult(index, step, (failed,)))
                break  # later steps build on this one
            checks = _read_back(faces, step, ids[step.thread], intents[step.thread])
            results.append(StepResult(index, step, tuple(checks)))
    finally:
        for handle, thread_id in ids.items():  # leave the server as it was
            if handle not in intents or intents[handle].exists:
                with contextlib.suppress(FaceError):
                    writer.delete(thread_id)
    return Run(writer.name, tuple(results))


def replay(scenario: Scenario, faces: Mapping[str, Face]) -> list[Run]:
    """One run per selected face as the writer."""
    return [run_through(face, faces, scenario) for face in faces.values()]
