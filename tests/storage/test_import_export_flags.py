"""The import and export flags: --strict, --overwrite, --max-ttl-days, --quiet, the
progress display, and an export that only ever reads the store."""

from __future__ import annotations

import asyncio
import hashlib
import io
import sqlite3
from pathlib import Path

import asyncpg
import orjson
import pytest
from attrs import evolve

from adapters.cli import main
from adapters.export_format import encode, end, entry_record, header, thread_record
from adapters.progress import Bar, Lines, progress
from adapters.storage.sqlite import SqliteStore
from core.model import ExpirationConfig, Message
from testkit.postgres import PgServer
from tests.storage.test_migrate_cli import dump_of, make_store
from tests.storage.transfer_data import T, rich_thread


def _db(path: Path) -> str:
    return f"sqlite:///{path}"


def _file(path: Path, *records: bytes) -> Path:
    path.write_bytes(b"".join(records))
    return path


def _ids(db: Path) -> list[str]:
    return [orjson.loads(x)["id"] for x in dump_of(db).splitlines()[:-1]]


def test_strict_stops_at_the_first_refusal(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one, one_entries = rich_thread(1)
    two, two_entries = rich_thread(2)
    source = _file(
        tmp_path / "in.jsonl",
        encode(header(T)),
        encode(thread_record(one)),
        *(encode(entry_record(e)) for e in one_entries),
        encode(thread_record(two)),
        encode(entry_record(two_entries[0])),
        b"{not json\n",  # line 4 + len(one_entries)
        encode(entry_record(two_entries[1])),
        encode(end(2, 2 + len(one_entries))),
    )
    db = tmp_path / "t.db"
    assert main(["import", str(source), "--database", _db(db), "--strict"]) == 1
    err = capsys.readouterr().err
    bad_line = 5 + len(one_entries)
    assert f"line {bad_line}: refused (malformed_json)" in err
    assert f"stopped at line {bad_line} (--strict)" in err
    assert _ids(db) == [one.id, *(e.id for e in one_entries)]  # the second thread never landed
    # without --strict the same file skips the line and goes on
    assert main(["import", str(source), "--database", _db(db)]) == 1
    assert _ids(db)[-3:] == [two.id, two_entries[0].id, two_entries[1].id]


def test_an_older_record_never_overwrites_unless_overwrite(tmp_path: Path) -> None:
    thread, entries = rich_thread(1)
    older = evolve(thread, name="old name", updated_at=thread.updated_at.replace(year=2020))
    assert isinstance(entries[0], Message)
    old_entry = evolve(entries[0], labels={"edited": "in the file"})
    source = _file(
        tmp_path / "old.jsonl",
        encode(header(T)),
        encode(thread_record(older)),
        encode(entry_record(old_entry)),
        encode(end(1, 1)),
    )
    db = tmp_path / "t.db"
    current = _file(
        tmp_path / "cur.jsonl",
        encode(header(T)),
        encode(thread_record(thread)),
        *(encode(entry_record(e)) for e in entries),
        encode(end(1, len(entries))),
    )
    assert main(["import", str(current), "--database", _db(db)]) == 0
    before = dump_of(db)
    assert main(["import", str(source), "--database", _db(db)]) == 0
    assert dump_of(db) == before
    assert main(["import", str(source), "--database", _db(db), "--overwrite"]) == 0
    records = [orjson.loads(x) for x in dump_of(db).splitlines()]
    assert records[0]["name"] == "old name"
    assert records[1]["id"] == old_entry.id and records[1]["labels"] == {"edited": "in the file"}
    assert len(records) == len(before.splitlines())  # rewritten in place: nothing added


def test_a_ttl_above_the_server_maximum_is_refused(tmp_path: Path) -> None:
    thread, _ = rich_thread(1)
    long = evolve(thread, expiration=ExpirationConfig(thread.expiration.policy, 400))
    source = _file(tmp_path / "in.jsonl", encode(header(T)), encode(thread_record(long)), encode(end(1, 0)))
    report = tmp_path / "r.jsonl"
    db = tmp_path / "t.db"
    assert main(["import", str(source), "--database", _db(db), "--report", str(report)]) == 1
    assert orjson.loads(report.read_bytes())["reason"] == "ttl_out_of_range"
    assert main(["import", str(source), "--database", _db(db), "--max-ttl-days", "400"]) == 0
    assert _ids(db) == [thread.id]


def test_quiet_prints_nothing_and_plain_lines_otherwise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    make_store(tmp_path / "a.db")
    out = tmp_path / "all.jsonl"
    assert main(["export", "--database", _db(tmp_path / "a.db"), "-o", str(out), "--quiet"]) == 0
    assert main(["import", str(out), "--database", _db(tmp_path / "b.db"), "-q"]) == 0
    assert capsys.readouterr().err == ""
    assert main(["import", str(out), "--database", _db(tmp_path / "c.db")]) == 0
    err = capsys.readouterr().err.splitlines()
    # stderr is not a terminal here: the closing progress line, then the summary
    assert err[0].startswith("threadgate: import: 23 records") and "100% of" in err[0]
    assert err[1].startswith("threadgate: imported 3 threads")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_with_rate_and_eta() -> None:
    out = _Terminal()
    shown = progress("import", 10_000, "bytes", quiet=False, out=out)
    assert isinstance(shown, Bar)
    shown.update(2_500, 40)
    shown.close()
    text = out.getvalue()
    assert "import" in text and "25%" in text and "40 records" in text and "<" in text  # tqdm's ETA
    assert isinstance(progress("x", None, "records", quiet=False, out=io.StringIO()), Lines)


def test_a_missing_sqlite_store_is_not_created_by_export(tmp_path: Path) -> None:
    assert main(["export", "--database", _db(tmp_path / "none.db"), "-o", str(tmp_path / "x.jsonl")]) == 2
    assert not (tmp_path / "none.db").exists() and not (tmp_path / "x.jsonl").exists()


def test_export_neither_migrates_nor_writes_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "a.db"
    make_store(db)
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    assert main(["export", "--database", _db(db), "-o", str(tmp_path / "x.jsonl")]) == 0
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 4")  # as an older threadgate left it
    conn.close()
    capsys.readouterr()
    assert main(["export", "--database", _db(db), "-o", str(tmp_path / "y.jsonl")]) == 2
    assert "schema version 4, older than this threadgate's" in capsys.readouterr().err
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 4
    conn.close()


async def _read_only(dsn: str, on: bool) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET default_transaction_read_only = off")  # this session may still write
        name = await conn.fetchval("SELECT current_database()")
        await conn.execute(
            f'ALTER DATABASE "{name}" SET default_transaction_read_only = {"on" if on else "off"}'
        )
    finally:
        await conn.close()


def test_export_reads_a_postgres_store_that_refuses_writes(
    tmp_path: Path, pg: PgServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.storage.conftest import empty_database

    asyncio.run(empty_database(pg.dsn))
    make_store(tmp_path / "a.db")
    out = tmp_path / "a.jsonl"
    assert main(["export", "--database", _db(tmp_path / "a.db"), "-o", str(out)]) == 0
    assert main(["import", str(out), "--database", pg.dsn]) == 0
    asyncio.run(_read_only(pg.dsn, True))  # as a hot standby is
    try:
        capsys.readouterr()
        assert main(["import", str(out), "--database", pg.dsn]) == 2  # a writer refuses to start
        assert "read-only transaction" in capsys.readouterr().err
        back = tmp_path / "b.jsonl"
        assert main(["export", "--database", pg.dsn, "-o", str(back)]) == 0
        assert back.read_bytes().splitlines()[1:] == out.read_bytes().splitlines()[1:]
    finally:
        asyncio.run(_read_only(pg.dsn, False))


def test_export_of_an_empty_postgres_database_says_so(
    pg: PgServer, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.storage.conftest import empty_database

    asyncio.run(empty_database(pg.dsn))
    assert main(["export", "--database", pg.dsn, "-o", "-", "-q"]) == 2
    assert "holds no threadgate store" in capsys.readouterr().err


def test_sqlite_store_opened_for_import_still_migrates(tmp_path: Path) -> None:
    async def run() -> int:
        store = await SqliteStore.open(tmp_path / "n.db")
        await store.close()
        conn = sqlite3.connect(tmp_path / "n.db")
        try:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()

    assert asyncio.run(run()) >= 5
