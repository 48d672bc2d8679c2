"""``threadgate export`` and ``import`` as commands: files, gzip, refusals with line
numbers, a kill -9 midway, and memory that does not grow with the data."""

from __future__ import annotations

import asyncio
import gzip
import os
import signal
import sqlite3
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import orjson
from attrs import evolve

from adapters.cli import main
from adapters.export_format import encode, end, entry_record, header, thread_record
from adapters.storage.sqlite import SqliteStore
from adapters.transfer_run import export, import_lines
from core.model import Author, Message, Role, TextPart
from core.transfer import ThreadFilter
from tests.storage.transfer_data import T, dump, fill, rich_thread

ROOT = Path(__file__).resolve().parents[2]
IMPORT = [sys.executable, "-m", "adapters.cli", "import"]


def make_store(path: Path, threads: int = 3) -> None:
    async def run() -> None:
        store = await SqliteStore.open(path)
        await fill(store, threads)
        await store.close()

    asyncio.run(run())


def dump_of(path: Path) -> bytes:
    async def run() -> bytes:
        store = await SqliteStore.open(path)
        try:
            return await dump(store)
        finally:
            await store.close()

    return asyncio.run(run())


def test_gzip_out_and_in(tmp_path: Path) -> None:
    make_store(tmp_path / "a.db")
    out = tmp_path / "all.jsonl.gz"
    assert main(["export", "--database", f"sqlite:///{tmp_path / 'a.db'}", "-o", str(out)]) == 0
    lines = gzip.decompress(out.read_bytes()).splitlines()
    assert orjson.loads(lines[0])["format"] == "threadgate.export"
    assert orjson.loads(lines[-1]) == {"type": "end", "threads": 3, "entries": 18}
    assert not (tmp_path / "all.jsonl.gz.partial").exists()
    assert main(["import", str(out), "--database", f"sqlite:///{tmp_path / 'b.db'}"]) == 0
    assert dump_of(tmp_path / "b.db") == dump_of(tmp_path / "a.db")


def test_folder_and_since_flags(tmp_path: Path) -> None:
    make_store(tmp_path / "a.db", threads=3)  # rich0 in folder-b, rich1 and rich2 in folder-a
    db = f"sqlite:///{tmp_path / 'a.db'}"
    out = tmp_path / "f.jsonl"
    assert main(["export", "--database", db, "--folder", "folder-b", "-o", str(out)]) == 0
    threads = [r for r in map(orjson.loads, out.read_bytes().splitlines()) if r.get("type") == "thread"]
    assert [t["id"] for t in threads] == ["thread_rich0000"]
    assert main(["export", "--database", db, "--since", "2030-01-01T00:00:00+02:00", "-o", str(out)]) == 0
    assert orjson.loads(out.read_bytes().splitlines()[-1])["threads"] == 0


def test_bad_lines_are_reported_with_line_numbers(tmp_path: Path) -> None:
    thread, entries = rich_thread(1)
    assert isinstance(entries[0], Message) and isinstance(entries[2], Message)
    bad_labels = evolve(entries[0], id="msg_bad", labels={f"k{i}": "v" for i in range(17)})
    nul = evolve(entries[2], id="msg_nul", content=(TextPart("a\x00b"),))
    lines = [
        encode(header(T)),  # 1
        encode(thread_record(thread)),  # 2
        encode(entry_record(entries[0])),  # 3
        b'{"type": "message", "id": \n',  # 4: malformed
        encode(entry_record(bad_labels)),  # 5: too many labels
        encode(entry_record(nul)),  # 6: NUL
        b'{"type": "rumour"}\n',  # 7
        encode(entry_record(entries[1])),  # 8
        encode(end(1, 2)),  # 9
    ]
    source = tmp_path / "in.jsonl"
    source.write_bytes(b"".join(lines))
    report = tmp_path / "report.jsonl"
    db = tmp_path / "t.db"
    assert main(["import", str(source), "--database", f"sqlite:///{db}", "--report", str(report)]) == 1
    refused = [orjson.loads(x) for x in report.read_bytes().splitlines()]
    assert [(r["line"], r["reason"]) for r in refused] == [
        (4, "malformed_json"),
        (5, "object_above_max_properties"),
        (6, "nul_character"),
        (7, "unknown_type"),
    ]
    assert refused[1]["id"] == "msg_bad"
    stored = [orjson.loads(x) for x in dump_of(db).splitlines()]
    assert [r["id"] for r in stored[:-1]] == [thread.id, entries[0].id, entries[1].id]


def test_not_an_export_exits_2(tmp_path: Path) -> None:
    source = tmp_path / "x.jsonl"
    source.write_bytes(b'{"format": "threadgate.export", "version": 2}\n')
    assert main(["import", str(source), "--database", f"sqlite:///{tmp_path / 't.db'}"]) == 2


def test_kill_9_midway_then_rerun_gives_the_exact_result(tmp_path: Path) -> None:
    make_store(tmp_path / "a.db", threads=4)
    full = tmp_path / "all.jsonl"
    assert main(["export", "--database", f"sqlite:///{tmp_path / 'a.db'}", "-o", str(full)]) == 0
    lines = full.read_bytes().splitlines(keepends=True)
    target = tmp_path / "t.db"
    # feed the header, two threads of 6 entries and the third with 5 of its 6: with
    # batches of 4 the store then holds 6 + 6 + 4 entries, the third thread's fifth
    # waits in a batch; kill -9 there, mid-thread, and import the whole file again
    proc = subprocess.Popen(
        [*IMPORT, "-", "--database", f"sqlite:///{target}", "--batch-entries", "4"],
        stdin=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdin is not None
    proc.stdin.write(b"".join(lines[:21]))
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    while _entries(target) < 16:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stdin.close()
    partial = _entries(target)
    assert partial == 16
    assert main(["import", str(full), "--database", f"sqlite:///{target}"]) == 0
    assert dump_of(target) == dump_of(tmp_path / "a.db")


def _entries(path: Path) -> int:
    if not path.exists():
        return 0
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("SELECT count(*) FROM messages").fetchone()[0])
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    finally:
        conn.close()


class _Counting:
    """A sink that keeps nothing: the bytes written, counted."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)

    def writelines(self, lines: object) -> None:
        for line in lines:  # type: ignore[attr-defined]
            self.write(line)


async def test_export_memory_stays_flat_for_a_big_thread(tmp_path: Path) -> None:
    store = await SqliteStore.open(tmp_path / "big.db", synchronous="NORMAL")
    try:
        thread, _ = rich_thread(1)
        text = "x" * 1000
        for start in range(0, 20_000, 5_000):
            batch = [
                Message(
                    id=f"msg_{i}",
                    thread_id=thread.id,
                    created_by="s",
                    created_at=T,
                    author=Author("u", Role.USER),
                    content=(TextPart(text),),
                )
                for i in range(start, start + 5_000)
            ]
            await store.import_batch(thread, batch)
            del batch
        sink = _Counting()
        tracemalloc.start()
        try:
            await export(store, sink, ThreadFilter(), T)  # type: ignore[arg-type]
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert sink.size > 20_000_000  # 20,000 messages of 1 kB and more
        assert peak < 4_000_000, peak  # a few pages, not the thread
    finally:
        await store.close()


async def test_import_memory_stays_flat_for_a_big_thread(tmp_path: Path) -> None:
    thread, _ = rich_thread(1)
    text = "y" * 1000

    def lines() -> Iterator[bytes]:  # made as they are read: the input is never in memory
        yield encode(header(T))
        yield encode(thread_record(thread))
        for i in range(20_000):
            message = Message(
                id=f"msg_{i}",
                thread_id=thread.id,
                created_by="s",
                created_at=T,
                author=Author("u", Role.USER),
                content=(TextPart(text),),
            )
            yield encode(entry_record(message))
        yield encode(end(1, 20_000))

    store = await SqliteStore.open(tmp_path / "big.db", synchronous="NORMAL")
    try:
        tracemalloc.start()
        try:
            stats = await import_lines(store, lines(), lambda r: None)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert stats.entries_added == 20_000 and not stats.refused
        assert peak < 8_000_000, peak  # one batch of 500, not 20 MB of thread
    finally:
        await store.close()
