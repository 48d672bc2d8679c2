"""Per object and field, what each face reports, against the scenario's intent (or, for
what a scenario cannot know, ids and times, against the face that shows it fully), each
reading classified as equal, an expected (documented) loss, or unexpected."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

from attrs import define, field, frozen

from adapters.parity.faces import ThreadView, Value, truncated_to_seconds
from adapters.parity.losses import Loss, read_loss

Verdict = Literal["equal", "expected-loss", "unexpected"]
EQUAL: Verdict = "equal"
LOSS: Verdict = "expected-loss"
UNEXPECTED: Verdict = "unexpected"

THREAD_INTENT = ("name", "description", "labels")
THREAD_OBSERVED = ("created_at", "expires_at")
MESSAGE_INTENT = ("role", "text", "labels")
MESSAGE_OBSERVED = ("id", "created_at")


@frozen
class Expected:
    """What the scenario meant, and what the writing face could store of it."""

    intended: Value
    effective: Value
    because: Loss | None = None  # the writer's loss that makes ``effective`` differ


@define
class ThreadIntent:
    """The scenario's idea of one thread, kept up to date step by step."""

    fields: dict[str, Expected]
    messages: list[dict[str, Expected]] = field(factory=list)
    exists: bool = True


@frozen
class Reading:
    face: str
    reported: bool
    value: Value | None
    verdict: Verdict
    why: str = ""


@frozen
class Check:
    object: str
    kind: str  # "thread", "message", "messages" (the list), "step"
    field: str
    expected: Value | None
    basis: str  # "scenario", or the face the others are compared with
    readings: tuple[Reading, ...]

    @property
    def verdicts(self) -> set[Verdict]:
        return {r.verdict for r in self.readings}


# A face's reading of a thread: its view, None (not found), or the error that kept it from reading
Observed = ThreadView | None | str


def _missing(face: str, kind: str, name: str) -> Reading:
    loss = read_loss(face, kind, name)
    if loss is not None and loss.shows == "absent":
        return Reading(face, False, None, LOSS, f"{face} cannot show it: {loss.why}")
    return Reading(face, False, None, UNEXPECTED, f"{face} does not report it")


def against_intent(
    obj: str, kind: str, name: str, expected: Expected | None, reported: Mapping[str, Value | None]
) -> Check:
    """``reported``: per face, its value, or None when it has no such field."""
    readings = []
    for face, value in reported.items():
        if value is None:
            readings.append(_missing(face, kind, name))
        elif expected is not None and value == expected.effective:
            if expected.because is not None and expected.effective != expected.intended:
                why = f"written through {expected.because.face}: {expected.because.why}"
                readings.append(Reading(face, True, value, LOSS, why))
            else:
                readings.append(Reading(face, True, value, EQUAL))
        else:
            readings.append(Reading(face, True, value, UNEXPECTED, "differs from the scenario"))
    intended = expected.intended if expected is not None else None
    return Check(obj, kind, name, intended, "scenario", tuple(readings))


def against_reference(obj: str, kind: str, name: str, reported: Mapping[str, Value | None]) -> Check:
    """Values the scenario cannot know: the face that shows the field fully is the reference."""
    shown = [f for f, v in reported.items() if v is not None]
    full = [f for f in shown if read_loss(f, kind, name) is None]
    reference = (full or shown or [""])[0]
    ref = reported.get(reference)
    readings = []
    for face, value in reported.items():
        loss = read_loss(face, kind, name)
        if value is None:
            readings.append(_missing(face, kind, name))
        elif value == ref:
            readings.append(Reading(face, True, value, EQUAL))
        elif (
            loss is not None
            and loss.shows == "seconds"
            and isinstance(ref, str)
            and value == truncated_to_seconds(ref)
        ):
            readings.append(Reading(face, True, value, LOSS, f"{face} shows whole seconds: {loss.why}"))
        else:
            readings.append(Reading(face, True, value, UNEXPECTED, f"differs from {reference}"))
    return Check(obj, kind, name, ref, reference or "none", tuple(readings))


def compare_thread(
    handle: str,
    intent: ThreadIntent,
    observed: Mapping[str, Observed],
    newest_first: Mapping[str, list[str]] | None = None,
) -> list[Check]:
    """Every check of one thread as each face read it back."""
    obj = f"thread {handle}"
    checks = []
    errors = {f: o for f, o in observed.items() if isinstance(o, str)}
    if errors:
        readings = tuple(Reading(f, False, None, UNEXPECTED, why) for f, why in errors.items())
        checks.append(Check(obj, "thread", "read", None, "scenario", readings))
    views = {f: o for f, o in observed.items() if not isinstance(o, str)}
    exists = Expected(intent.exists, intent.exists)
    checks.append(
        against_intent(obj, "thread", "exists", exists, {f: v is not None for f, v in views.items()})
    )
    found = {f: v for f, v in views.items() if v is not None}
    if not intent.exists or not found:
        return checks
    for name in THREAD_INTENT:
        reported = {f: v.fields.get(name) for f, v in found.items()}
        checks.append(against_intent(obj, "thread", name, intent.fields[name], reported))
    for name in THREAD_OBSERVED:
        checks.append(
            against_reference(obj, "thread", name, {f: v.fields.get(name) for f, v in found.items()})
        )
    checks.extend(_compare_list(obj, intent, found, newest_first))
    return checks


def _compare_list(
    obj: str,
    intent: ThreadIntent,
    found: Mapping[str, ThreadView],
    newest_first: Mapping[str, list[str]] | None,
) -> list[Check]:
    listed = f"{obj} messages"
    count = len(intent.messages)
    texts = [str(m["text"].effective) for m in intent.messages]
    ids: dict[str, Value | None] = {f: [str(m.get("id")) for m in v.messages] for f, v in found.items()}
    checks = [
        against_intent(
            listed,
            "messages",
            "count",
            Expected(count, count),
            {f: len(v.messages) for f, v in found.items()},
        ),
        against_intent(
            listed,
            "messages",
            "texts",
            Expected(texts, texts),
            {f: [str(m.get("text")) for m in v.messages] for f, v in found.items()},
        ),
        against_reference(listed, "messages", "ids", ids),
    ]
    if newest_first is not None:
        reference = checks[-1].expected
        backwards = list(reversed(reference)) if isinstance(reference, list) else []
        reported: dict[str, Value | None] = {f: list(v) for f, v in newest_first.items()}
        checks.append(
            against_intent(listed, "messages", "newest_first", Expected(backwards, backwards), reported)
        )
    for i in range(max([count, *(len(v.messages) for v in found.values())])):
        one = f"{obj} message {i + 1}"
        meant = intent.messages[i] if i < count else {}
        at = {f: (v.messages[i] if i < len(v.messages) else {}) for f, v in found.items()}
        for name in MESSAGE_INTENT:
            checks.append(
                against_intent(one, "message", name, meant.get(name), {f: m.get(name) for f, m in at.items()})
            )
        for name in MESSAGE_OBSERVED:
            checks.append(against_reference(one, "message", name, {f: m.get(name) for f, m in at.items()}))
    return checks


def tally(checks: Sequence[Check]) -> dict[Verdict, int]:
    out: dict[Verdict, int] = {EQUAL: 0, LOSS: 0, UNEXPECTED: 0}
    for check in checks:
        for reading in check.readings:
            out[reading.verdict] += 1
    return out
