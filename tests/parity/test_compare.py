"""The comparer: a documented loss is expected, anything else unexpected; and the loss
table docs/mapping.md shows is the one the comparer uses (no server, no generated protos)."""

from __future__ import annotations

import re
from pathlib import Path

from adapters.parity.compare import Check, Expected, ThreadIntent, compare_thread
from adapters.parity.faces import ThreadView, Value
from adapters.parity.losses import FACES, LOSSES, markdown_table, read_loss, write_loss
from adapters.parity.report import as_json, table, unexpected
from adapters.parity.runner import Run, StepResult
from adapters.parity.scenario import Scenario, Step

MAPPING = Path(__file__).resolve().parents[2] / "docs" / "mapping.md"
T = "2026-05-01T10:00:00.250000Z"


def intent(**labels: str) -> ThreadIntent:
    return ThreadIntent(
        fields={
            "name": Expected("n", "n"),
            "description": Expected("", ""),
            "labels": Expected(labels, labels),
        },
        messages=[
            {"role": Expected("user", "user"), "text": Expected("hi", "hi"), "labels": Expected({}, {})},
        ],
    )


def yandex(labels: dict[str, str], messages: int = 1) -> ThreadView:
    return ThreadView(
        {"name": "n", "description": "", "labels": labels, "created_at": T, "expires_at": T},
        tuple(
            {"id": f"m{i}", "role": "user", "text": "hi", "labels": {}, "created_at": T}
            for i in range(messages)
        ),
    )


def openai(
    labels: dict[str, str], *, conversations: bool = False, created_at: str = "2026-05-01T10:00:00Z"
) -> ThreadView:
    message: dict[str, Value] = {"id": "m0", "role": "user", "text": "hi"}
    if not conversations:
        message |= {"labels": {}, "created_at": created_at}
    return ThreadView({"labels": labels, "created_at": created_at}, (message,))


def verdicts(checks: list[Check], verdict: str) -> set[tuple[str, str, str]]:
    return {(c.object, c.field, r.face) for c in checks for r in c.readings if r.verdict == verdict}


def test_documented_losses_are_expected_and_nothing_else_differs() -> None:
    views = {
        "assistants": openai({"a": "1"}),
        "conversations": openai({"a": "1"}, conversations=True),
        "yandex-grpc": yandex({"a": "1"}),
        "yandex-rest": yandex({"a": "1"}),
    }
    checks = compare_thread("t", intent(a="1"), views)
    assert verdicts(checks, "unexpected") == set()
    assert verdicts(checks, "expected-loss") == {
        ("thread t", "name", "assistants"),
        ("thread t", "name", "conversations"),
        ("thread t", "description", "assistants"),
        ("thread t", "description", "conversations"),
        ("thread t", "created_at", "assistants"),
        ("thread t", "created_at", "conversations"),
        ("thread t", "expires_at", "assistants"),
        ("thread t", "expires_at", "conversations"),
        ("thread t message 1", "created_at", "assistants"),
        ("thread t message 1", "created_at", "conversations"),
        ("thread t message 1", "labels", "conversations"),
    }


def test_a_wrong_value_a_missing_field_and_a_wrong_second_are_unexpected() -> None:
    views = {
        "assistants": openai({"a": "1"}, created_at="2026-05-01T10:00:01Z"),  # not the stored second
        "yandex-grpc": yandex({"a": "1"}),
        "yandex-rest": ThreadView({**yandex({}).fields, "labels": {}, "name": "n"}, yandex({}, 2).messages),
    }
    del views["yandex-rest"].fields["expires_at"]  # a Yandex face must show it
    checks = compare_thread("t", intent(a="1"), views)
    assert verdicts(checks, "unexpected") == {
        ("thread t", "created_at", "assistants"),
        ("thread t message 1", "created_at", "assistants"),
        ("thread t", "labels", "yandex-rest"),
        ("thread t", "expires_at", "yandex-rest"),
        ("thread t messages", "count", "yandex-rest"),
        ("thread t messages", "texts", "yandex-rest"),
        ("thread t messages", "ids", "yandex-rest"),
        ("thread t message 2", "id", "assistants"),
        ("thread t message 2", "id", "yandex-grpc"),
        ("thread t message 2", "created_at", "assistants"),
        ("thread t message 2", "created_at", "yandex-grpc"),
        ("thread t message 2", "role", "assistants"),
        ("thread t message 2", "role", "yandex-grpc"),
        ("thread t message 2", "role", "yandex-rest"),
        ("thread t message 2", "text", "assistants"),
        ("thread t message 2", "text", "yandex-grpc"),
        ("thread t message 2", "text", "yandex-rest"),
        ("thread t message 2", "labels", "assistants"),
        ("thread t message 2", "labels", "yandex-grpc"),
        ("thread t message 2", "labels", "yandex-rest"),
    }


def test_a_writers_loss_is_expected_only_where_the_writer_cannot_write() -> None:
    meant = intent()
    loss = write_loss("conversations", "thread", "name")
    assert loss is not None
    meant.fields["name"] = Expected("n", "", loss)
    kept = ThreadView({**yandex({}).fields, "name": ""}, yandex({}).messages)
    wrong = ThreadView({**yandex({}).fields, "name": "n"}, yandex({}).messages)  # stored what it could not
    checks = compare_thread("t", meant, {"yandex-grpc": kept, "yandex-rest": wrong})
    assert verdicts(checks, "expected-loss") == {("thread t", "name", "yandex-grpc")}
    assert verdicts(checks, "unexpected") == {("thread t", "name", "yandex-rest")}


def test_after_a_delete_every_face_must_say_not_found() -> None:
    gone = intent()
    gone.exists = False
    checks = compare_thread(
        "t", gone, {"assistants": None, "yandex-grpc": yandex({}), "yandex-rest": "500 boom"}
    )
    assert verdicts(checks, "equal") == {("thread t", "exists", "assistants")}
    assert verdicts(checks, "unexpected") == {
        ("thread t", "exists", "yandex-grpc"),
        ("thread t", "read", "yandex-rest"),
    }


def test_the_report_flags_and_the_json_carries_every_reading() -> None:
    step = Step("get", "t", 3)
    checks = compare_thread("t", intent(a="1"), {"assistants": openai({}), "yandex-grpc": yandex({"a": "1"})})
    runs = [Run("yandex-grpc", (StepResult(1, step, tuple(checks)),))]
    scenario = Scenario("s", "s.yaml", (step,))
    assert unexpected(runs)
    text = table(scenario, ["assistants", "yandex-grpc"], runs)
    assert "! through yandex-grpc, step 1 (line 3): thread t labels on assistants" in text
    assert text.rstrip().splitlines()[-1].startswith("FAIL: unexpected differences")
    document = as_json(scenario, ["assistants", "yandex-grpc"], runs)
    labels = next(c for c in document["runs"][0]["steps"][0]["checks"] if c["field"] == "labels")
    assert labels["faces"]["assistants"] == {
        "reported": True,
        "value": {},
        "verdict": "unexpected",
        "why": "differs from the scenario",
    }
    assert document["ok"] is False and document["counts"]["unexpected"] == 1


def test_docs_mapping_shows_the_loss_table_the_comparer_uses() -> None:
    section = re.search(
        r"<!-- parity-losses:begin -->\n(.*?)<!-- parity-losses:end -->", MAPPING.read_text(), re.S
    )
    assert section is not None, "docs/mapping.md lost its parity-losses section"
    assert section.group(1) == markdown_table(), "run: python -m adapters.parity.losses"


def test_every_loss_names_a_face_and_is_found_by_its_lookup() -> None:
    for loss in LOSSES:
        assert loss.face in FACES
        lookup = read_loss if loss.direction == "read" else write_loss
        assert lookup(loss.face, loss.kind, loss.field) is loss
    assert read_loss("yandex-grpc", "thread", "labels") is None  # the Yandex faces show everything
