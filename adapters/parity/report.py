"""A replay's result as a plain-text table and as JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from adapters.parity.compare import EQUAL, LOSS, UNEXPECTED, Check, Reading, Verdict, tally
from adapters.parity.runner import Run, StepResult
from adapters.parity.scenario import Scenario

MARK = {EQUAL: "=", LOSS: "~", UNEXPECTED: "!"}
CELL = 22  # characters of a value shown in a table cell


def _checks(runs: Sequence[Run]) -> list[Check]:
    return [c for run in runs for step in run.steps for c in step.checks]


def unexpected(runs: Sequence[Run]) -> bool:
    return any(UNEXPECTED in c.verdicts for c in _checks(runs))


def _shown(value: object) -> str:
    if value is None:
        return "-"
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return text if len(text) <= CELL else text[: CELL - 1] + "…"


def _cell(reading: Reading) -> str:
    return f"{MARK[reading.verdict]} {_shown(reading.value) if reading.reported else '(not shown)'}"


def _row(cells: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def _got(r: Reading) -> str:
    return _shown(r.value) if r.reported else "(not shown)"


def _step_rows(result: StepResult, faces: Sequence[str], every_row: bool) -> list[list[str]]:
    rows = []
    for check in result.checks:
        if " message " in check.object and not every_row and UNEXPECTED not in check.verdicts:
            continue
        cells = {r.face: r for r in check.readings}
        expected = _shown(check.expected) if check.basis == "scenario" else f"as {check.basis}"
        row = [check.object, check.field, expected]
        rows.append(row + [f"{MARK[cells[f].verdict]} {_got(cells[f])}" if f in cells else "" for f in faces])
    return rows


def table(scenario: Scenario, faces: Sequence[str], runs: Sequence[Run], *, every_row: bool = False) -> str:
    """Rows of the thread and its list always; a message's rows when a face differs
    unexpectedly (``every_row``: all of them).  Then the losses seen and a summary."""
    out = [
        f"parity {scenario.path} ({scenario.name}): faces {', '.join(faces)}",
        "legend: = equal, ~ expected loss (notes below), ! unexpected",
        "",
    ]
    header = ["object", "field", "expected", *faces]
    losses: dict[str, int] = {}
    problems: list[str] = []
    for run in runs:
        for result in run.steps:
            step = result.step
            out.append(f"written through {run.writer}: step {result.index} {step.op} {step.thread}")
            rows = _step_rows(result, faces, every_row)
            widths = [max(len(x) for x in col) for col in zip(header, *rows, strict=True)]
            out.extend("  " + _row(r, widths) for r in [header, *rows])
            out.append("")
            for check in result.checks:
                for r in check.readings:
                    if r.verdict == LOSS:
                        seen = f"{r.face} {check.kind}.{check.field}: {r.why}"
                        losses[seen] = losses.get(seen, 0) + 1
                    elif r.verdict == UNEXPECTED:
                        problems.append(
                            f"! through {run.writer}, step {result.index} (line {step.line}): "
                            f"{check.object} {check.field} on {r.face}: {r.why}; "
                            f"expected {_shown(check.expected)}, got {_got(r)}"
                        )
    if losses:
        out.append("expected losses (docs/mapping.md), times seen:")
        out.extend(f"  ~ {what} ({n})" for what, n in sorted(losses.items()))
    if problems:
        out.append("unexpected differences:")
        out.extend(f"  {p}" for p in problems)
    counts = tally(_checks(runs))
    verdict = (
        "FAIL: unexpected differences"
        if unexpected(runs)
        else "OK: the faces agree but for documented losses"
    )
    out.append(
        f"{verdict} ({counts[EQUAL]} equal, {counts[LOSS]} expected losses, {counts[UNEXPECTED]} unexpected)"
    )
    return "\n".join(out) + "\n"


def _reading_json(r: Reading) -> dict[str, Any]:
    out: dict[str, Any] = {"reported": r.reported, "value": r.value, "verdict": r.verdict}
    if r.why:
        out["why"] = r.why
    return out


def as_json(scenario: Scenario, faces: Sequence[str], runs: Sequence[Run]) -> dict[str, Any]:
    counts: dict[Verdict, int] = tally(_checks(runs))
    return {
        "scenario": scenario.name,
        "path": scenario.path,
        "faces": list(faces),
        "ok": not unexpected(runs),
        "counts": counts,
        "runs": [
            {
                "writer": run.writer,
                "steps": [
                    {
                        "step": s.index,
                        "op": s.step.op,
                        "thread": s.step.thread,
                        "line": s.step.line,
                        "checks": [
                            {
                                "object": c.object,
                                "kind": c.kind,
                                "field": c.field,
                                "expected": c.expected,
                                "basis": c.basis,
                                "faces": {r.face: _reading_json(r) for r in c.readings},
                            }
                            for c in s.checks
                        ],
                    }
                    for s in run.steps
                ],
            }
            for run in runs
        ],
    }
