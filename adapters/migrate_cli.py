"""``threadgate export`` and ``threadgate import``: the store as JSON Lines and back
(docs/export-format.md, docs/operations.md)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import os
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from adapters.export_format import parse_time

if TYPE_CHECKING:  # the stores load only when a command runs (cli.py imports this module)
    from adapters.settings import Settings
    from adapters.transfer_run import Refusal
    from core.transfer import TransferStore

# entries per transaction of a big thread (adapters.transfer_run.BATCH)
BATCH = 500

# refusals printed on stderr; the --report file lists them all
SHOWN = 20


def _since(text: str) -> datetime:
    try:
        return parse_time(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an RFC 3339 time with an offset: {text!r}") from None


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}")
    return int(text)


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> list[argparse.ArgumentParser]:
    """The two commands; the caller adds the store flags to each."""
    e = sub.add_parser("export", help="write the store (or part of it) as JSON Lines, from one snapshot")
    e.add_argument("--folder", default=None, help="only the threads of this folder")
    e.add_argument(
        "--since", type=_since, default=None, help="only threads changed at or after this RFC 3339 time"
    )
    e.add_argument("-o", "--output", default="-", help="file to write (- : stdout); gzip when it ends in .gz")
    i = sub.add_parser("import", help="read an export into the store: idempotent by id, resumable")
    i.add_argument("input", help="file to read (- : stdin); gunzip when it ends in .gz")
    i.add_argument("--report", type=Path, default=None, help="write every refused record here, as JSON Lines")
    i.add_argument(
        "--batch-entries", type=_positive, default=BATCH, help="entries per transaction of a big thread"
    )
    return [e, i]


@contextlib.contextmanager
def _output(name: str) -> Iterator[BinaryIO]:
    """stdout, or the file, written under a temporary name and renamed when complete."""
    if name == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    path = Path(name)
    partial = path.with_name(path.name + ".partial")
    raw = partial.open("wb")
    try:
        out: BinaryIO = raw
        if name.endswith(".gz"):
            out = cast(
                BinaryIO, gzip.GzipFile(filename=path.name.removesuffix(".gz"), fileobj=raw, mode="wb")
            )
        yield out
        if out is not raw:
            out.close()
        raw.close()
        os.replace(partial, path)
    finally:
        raw.close()
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def _input(name: str) -> Iterator[BinaryIO]:
    if name == "-":
        yield sys.stdin.buffer
    elif name.endswith(".gz"):
        with gzip.open(name, "rb") as f:
            yield f  # type: ignore[misc]
    else:
        with open(name, "rb") as f:
            yield f


async def _transfer_store(settings: Settings) -> TransferStore:
    from adapters.bootstrap import StoreError, open_store
    from core.transfer import TransferStore

    store = await open_store(settings)
    if not isinstance(store, TransferStore):
        await store.close()
        raise StoreError(f"the store {settings.database} cannot export or import")
    return store


async def _export(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.transfer_run import export
    from core.transfer import ThreadFilter

    store = await _transfer_store(settings)
    try:
        with _output(args.output) as out:
            where = ThreadFilter(folder_id=args.folder, since=args.since)
            threads, entries = await export(store, out, where, datetime.now(UTC))
    finally:
        await store.close()
    print(f"threadgate: exported {threads} threads, {entries} entries", file=sys.stderr)
    return 0


def _refusals(report: BinaryIO | None) -> Callable[[Refusal], None]:
    import orjson

    shown = 0

    def refuse(r: Refusal) -> None:
        nonlocal shown
        if report is not None:
            report.write(orjson.dumps(r.as_json()) + b"\n")
        if shown < SHOWN:
            print(f"threadgate: line {r.line}: refused ({r.reason}): {r.detail}", file=sys.stderr)
        shown += 1

    return refuse


async def _import(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.export_format import BadRecord
    from adapters.transfer_run import import_lines

    store = await _transfer_store(settings)
    try:
        with contextlib.ExitStack() as files:
            source = files.enter_context(_input(args.input))
            report = files.enter_context(args.report.open("wb")) if args.report else None
            stats = await import_lines(store, source, _refusals(report), batch=args.batch_entries)
    except BadRecord as exc:
        print(f"threadgate: line 1: {exc}", file=sys.stderr)
        return 2
    finally:
        await store.close()
    refused = sum(stats.refused.values())
    print(
        f"threadgate: imported {stats.threads} threads ({stats.threads_kept} kept: stored newer), "
        f"{stats.entries} entries ({stats.entries_added} new); refused {refused}"
        + "".join(f", {reason}: {n}" for reason, n in sorted(stats.refused.items())),
        file=sys.stderr,
    )
    return 1 if refused else 0


def main_transfer(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.bootstrap import StoreError
    from core.errors import DomainError

    run = _export if args.command == "export" else _import
    try:
        return asyncio.run(run(args, settings))
    except (StoreError, DomainError, OSError) as exc:
        print(f"threadgate: {exc}", file=sys.stderr)
        return 2
