"""The scenario loader: the neutral vocabulary, and errors that say where (no server, no
generated protos)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from adapters.cli import main
from adapters.parity.scenario import NeutralMessage, ScenarioError, load, parse

EXAMPLES = sorted((Path(__file__).resolve().parents[2] / "examples" / "parity").iterdir())


def test_a_scenario_reads_into_steps_with_their_lines() -> None:
    scenario = parse(
        """\
scenario: s
page_size: 5
steps:
  - create: {thread: t, name: n, labels: {a: b}, messages: [{role: user, text: hi}]}
  - append:
      thread: t
      messages:
        - {role: assistant, text: "m{n}", repeat: 3, labels: {k: v}}
  - update: {thread: t, labels: {}}
  - delete: {thread: t}
""",
        "s.yaml",
    )
    assert (scenario.name, scenario.page_size) == ("s", 5)
    assert [(s.op, s.line) for s in scenario.steps] == [
        ("create", 4),
        ("append", 5),
        ("update", 9),
        ("delete", 10),
    ]
    assert scenario.steps[0].name == "n" and scenario.steps[0].description is None
    assert scenario.steps[1].messages == tuple(
        NeutralMessage("assistant", f"m{n}", {"k": "v"}) for n in (1, 2, 3)
    )
    assert scenario.steps[2].labels == {}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_shipped_scenario_loads(path: Path) -> None:
    assert load(str(path)).steps


@pytest.mark.parametrize(
    ("text", "where", "says"),
    [
        ("steps: []\n", "s.yaml:1:8", "steps must not be empty"),
        (
            "steps:\n  - create: {thread: t}\n  - append: {thread: u, messages: [{role: user, text: x}]}\n",
            "s.yaml:3:22",
            "thread 'u' is not created before this step",
        ),
        (
            "steps:\n  - create: {thread: t}\n  - delete: {thread: t}\n  - get: {thread: t}\n",
            "s.yaml:4:19",
            "thread 't' was deleted",
        ),
        ("steps:\n  - create: {thread: t, labels: {n: 2}}\n", "s.yaml:2:37", "must be a string (quote it)"),
        (
            "steps:\n  - create: {thread: t, messages: [{role: system, text: x}]}\n",
            "s.yaml:2:43",
            "must be user or assistant",
        ),
        ("steps:\n  - create: {thread: t, colour: red}\n", "s.yaml:2:25", "unknown key 'colour'"),
        ("steps:\n  - rename: {thread: t}\n", "s.yaml:2:5", "unknown key 'rename'"),
        (
            "steps:\n  - create: {thread: t}\n  - update: {thread: t}\n",
            "s.yaml:3:13",
            "needs at least one of name, description, labels",
        ),
        ("steps:\n  - create: {thread: t\n", "s.yaml:3:1", "not YAML"),
    ],
)
def test_a_bad_scenario_is_refused_with_its_position(text: str, where: str, says: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse(text, "s.yaml")
    assert str(caught.value).startswith(where + ": "), caught.value
    assert says in str(caught.value)


def test_a_json_scenario_that_is_not_json_says_where() -> None:
    with pytest.raises(ScenarioError, match=r"^s\.json:2:1: not JSON"):
        parse('{"steps": [\n}', "s.json")


def test_the_command_exits_2_on_a_bad_scenario_and_prints_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("steps:\n  - create: {thread: t, messages: [{role: user}]}\n")
    assert main(["parity", str(bad), "--api-key", "k", "--base-url", "http://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err == f"threadgate: {bad}:2:36: steps[0].create.messages[0] needs 'text'\n"
    assert main(["parity", str(tmp_path / "missing.yaml"), "--api-key", "k"]) == 2
    assert "cannot read the scenario" in capsys.readouterr().err
    assert not any(m.startswith("adapters.yandex._gen") for m in sys.modules)


def test_the_command_refuses_unknown_faces_and_a_missing_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["parity", str(EXAMPLES[0]), "--faces", "assistants,smoke-signals"])
    assert caught.value.code == 2
    assert "faces are some of assistants,conversations,yandex-grpc,yandex-rest" in capsys.readouterr().err
    assert main(["parity", str(EXAMPLES[0]), "--api-key", ""]) == 2
    assert "needs --api-key" in capsys.readouterr().err
