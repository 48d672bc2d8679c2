"""``threadgate export`` and ``threadgate import``: the store as JSON Lines and back
(docs/export-format.md, docs/operations.md)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, cast

from adapters.export_format import parse_time

if TYPE_CHECKING:  # the stores load only when a command runs (cli.py imports this module)
    from adapters.progress import Progress
    from adapters.settings import Settings
    from adapters.transfer_run import ImportStats, Refusal
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
    i.add_argument("--strict", action="store_true", help="stop at the first refused record")
    i.add_argument(
        "--overwrite",
        action="store_true",
        help="the file wins: rewrite stored threads and entries even when the stored ones are newer",
    )
    i.add_argument(
        "--max-ttl-days",
        type=_positive,
        default=os.environ.get("THREADGATE_MAX_TTL_DAYS", "365"),  # argparse applies type
        help="refuse threads with a longer TTL: the server's --max-ttl-days (THREADGATE_MAX_TTL_DAYS)",
    )
    for p in (e, i):
        p.add_argument("-q", "--quiet", action="store_true", help="no progress and no summary on stderr")
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
def _input(name: str) -> Iterator[tuple[BinaryIO, BinaryIO | None]]:
    """The lines to read, and the file under them (``None`` for stdin), whose position
    says how much of it was read."""
    if name == "-":
        yield sys.stdin.buffer, None
        return
    with open(name, "rb") as raw:
        if name.endswith(".gz"):
            with gzip.GzipFile(fileobj=raw, mode="rb") as f:
                yield cast(BinaryIO, f), raw
        else:
            yield raw, raw


def _counted(lines: Iterable[bytes], raw: BinaryIO | None, shown: Progress) -> Iterator[bytes]:
    count = 0
    for count, line in enumerate(lines, start=1):
        yield line
        if count % 1000 == 0:
            shown.update(raw.tell() if raw else count, count)
    shown.update(raw.tell() if raw else count, count)


async def _transfer_store(settings: Settings) -> TransferStore:
    from adapters.bootstrap import StoreError, open_store
    from core.transfer import TransferStore

    store = await open_store(settings)
    if not isinstance(store, TransferStore):
        await store.close()
        raise StoreError(f"the store {settings.database} cannot export or import")
    return store


async def _export(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.bootstrap import open_export_source
    from adapters.progress import progress
    from adapters.transfer_run import export
    from core.transfer import ThreadFilter

    store = await open_export_source(settings)
    try:
        with _output(args.output) as out:
            where = ThreadFilter(folder_id=args.folder, since=args.since)
            # no progress: no count of the records to come either
            shown = None if args.quiet else partial(progress, "export", unit="records", quiet=False)
            threads, entries = await export(store, out, where, datetime.now(UTC), shown=shown)
    finally:
        await store.close()
    if not args.quiet:
        print(f"threadgate: exported {threads} threads, {entries} entries", file=sys.stderr)
    return 0


def _refusals(report: BinaryIO | None, quiet: bool) -> Callable[[Refusal], None]:
    import orjson

    shown = SHOWN if quiet else 0

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
    from adapters.progress import progress
    from adapters.transfer_run import ImportOptions, import_lines

    options = ImportOptions(
        batch=args.batch_entries, overwrite=args.overwrite, strict=args.strict, max_ttl_days=args.max_ttl_days
    )
    store = await _transfer_store(settings)
    try:
        with contextlib.ExitStack() as files:
            source, raw = files.enter_context(_input(args.input))
            report = files.enter_context(args.report.open("wb")) if args.report else None
            size = os.fstat(raw.fileno()).st_size if raw else None
            shown = progress("import", size, "bytes" if raw else "records", quiet=args.quiet)
            try:
                lines = _counted(source, raw, shown)
                stats = await import_lines(store, lines, _refusals(report, args.quiet), options)
            finally:
                shown.close()
    except BadRecord as exc:
        print(f"threadgate: line 1: {exc}", file=sys.stderr)
        return 2
    finally:
        await store.close()
    refused = sum(stats.refused.values())
    if not args.quiet:
        print(_summary(stats), file=sys.stderr)
    return 1 if refused else 0


def _summary(stats: ImportStats) -> str:
    line = (
        f"threadgate: imported {stats.threads} threads ({stats.threads_kept} kept: stored newer), "
        f"{stats.entries} entries ({stats.entries_added} new, {stats.entries_rewritten} rewritten); "
        f"refused {sum(stats.refused.values())}"
        + "".join(f", {reason}: {n}" for reason, n in sorted(stats.refused.items()))
    )
    if stats.stopped_at is not None:
        line += (
            f"; stopped at line {stats.stopped_at} (--strict): its thread is not complete; fix it and rerun"
        )
    return line


def main_transfer(args: argparse.Namespace, settings: Settings) -> int:
    from adapters.bootstrap import StoreError
    from core.errors import DomainError

    run = _export if args.command == "export" else _import
    try:
        return asyncio.run(run(args, settings))
    except (StoreError, DomainError, OSError) as exc:
        print(f"threadgate: {exc}", file=sys.stderr)
        return 2
