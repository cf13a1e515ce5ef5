"""The dashboard's inspections read by period, without and with m038's index (`rows_inspection_period`),
alternated in the same run, on SQLite and PostgreSQL (session 31, office31).

    python bench/inspection_period.py [--scale 1000] [--data DIR] [--samples 5] [--rounds 5] [--database URL|auto]

Builds (or reuses, with --data) `fieldsync init --demo --scale N` (N sites, each with two years of quarterly
inspections: 8,000 at 1,000) and schedules this quarter's inspection for every site, as the figures of session
30 had it (1,002 inspections this quarter). Then, in rounds alternating the index dropped (a database as
before m038) and the index there (m038's statement again), it measures in this process:

- `reads`: the six periods the dashboard asks (this quarter, half-year and month, and the ones before), each
  `InspectionReads.inspections(period)`, the storage read that took `json_extract` of every inspection's period;
- `dashboard`: the dashboard's whole inspection list (`pages.current_inspections`, the first 50 of them);
- `http` (SQLite only): `/console/` against a real `fieldsync serve`, signed in as the supervisor lin, the
  server's CPU (its processes' user + system time from /proc) per request, `--samples` requests a round.

Per call, the median of each round's samples (this process's CPU time on SQLite, which reads in it; the elapsed
time on PostgreSQL, whose server does the reading), then the median and spread of the rounds' and the ratio
without/with the index; each backend's plan for this quarter's read, without and with it. With `--database` the reads and the
dashboard are measured on PostgreSQL too (`auto`: a throwaway server of our own, the SQLite file copied into it
by `fieldsync migrate`'s copy). Prints figures only; never asserts a time.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._server import ServerProcess
from bench.console import console_session
from server.domains.console.pages import current_inspections
from server.domains.identity.service import Caller
from server.domains.inspections.service import Inspections
from server.services import Store
from server.settings import Settings
from server.storage.inspections import PERIOD_INDEX, SqliteInspections
from sync.periods import FREQUENCIES, period_of, previous_period

SUPERVISOR = Caller("bench", "lin", "Lin", "supervisor", "bench", None)
INDEX = {"SQLite": PERIOD_INDEX.format(period="json_extract(fields, '$.period')"),
         "PostgreSQL": PERIOD_INDEX.format(period="(fields ->> 'period')")}
DROP = "DROP INDEX IF EXISTS rows_inspection_period"


def prepare(data: Path, scale: int) -> None:
    """The scale demo and this quarter's inspection for every site, once."""
    if (data / ".scheduled").exists():
        print(f"reusing {data}")
        return
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "server.cli", "init", "--data", str(data), "--demo", "--scale", str(scale)],
                   check=True, stdout=subprocess.DEVNULL, cwd=Path(__file__).resolve().parent.parent)
    store = Store(Settings(data_dir=data))
    try:
        inspections = Inspections(store)
        made = inspections.generate(period_of(store.today()))
    finally:
        store.close()
    print(f"built the demo and {scale} sites, {len(made.created)} inspections of this quarter scheduled:"
          f" {time.perf_counter() - t0:.0f} s")
    (data / ".scheduled").write_text(str(scale))


def _periods(store: Store) -> list[str]:
    current = {period_of(store.today(), f) for f in FREQUENCIES}
    return sorted(current | {previous_period(p) for p in current})


def _ms(call: Callable[[], object], samples: int, clock: Callable[[], float]) -> float:
    took = []
    for _ in range(samples):
        began = clock()
        call()
        took.append((clock() - began) * 1000)
    return statistics.median(took)


def _plan(queries: SqliteInspections, backend: str, period: str) -> str:
    """How the database reads one period's inspections, on a connection the measured reads use (its plan's
    first lines): on SQLite the very statement `inspections(period)` sent, as its trace gives it."""
    with queries.reading() as q:
        if backend == "SQLite":
            sent: list[str] = []
            q.db.set_trace_callback(sent.append)  # type: ignore[attr-defined]
            q.inspections(period, None, None)
            q.db.set_trace_callback(None)  # type: ignore[attr-defined]
            # A text of its own: the connection's cached EXPLAIN of the same text keeps the plan of its first
            # preparing (an EXPLAIN never checks the schema it was prepared with).
            found = [str(r[-1]) for r in q.db.execute(f"EXPLAIN QUERY PLAN /* {time.monotonic_ns()} */ " + sent[0])]
        else:
            found = [str(r[0]).strip() for r in q.db.execute(
                "EXPLAIN SELECT i.id FROM rows i WHERE i.collection = 'inspections' AND i.deleted = 0"
                " AND (i.fields ->> 'period') = ?", [period])]
    return " / ".join(found[:2])


def _set_index(store: Store, backend: str, there: bool) -> None:
    with store.write() as db:
        db.execute(INDEX[backend] if there else DROP)
        if backend == "PostgreSQL":
            db.execute("ANALYZE rows")  # the expression's statistics, as a server's autovacuum gathers them


def in_process(store: Store, backend: str, rounds: int, samples: int) -> dict[str, dict[bool, list[float]]]:
    """Each round: the index dropped, then there; the reads' and the dashboard's CPU ms (median of `samples`)."""
    inspections = Inspections(store)
    queries = SqliteInspections(store)  # the storage's one class for both backends
    sites = inspections.sites(SUPERVISOR)
    periods = _periods(store)

    def reads() -> None:
        with queries.reading() as q:
            for period in periods:
                q.inspections(period, None, None)

    calls = {"reads": reads, "dashboard": lambda: current_inspections(inspections, SUPERVISOR, sites, 0, 50)}
    # This process's CPU on SQLite, which reads in it; the elapsed time on PostgreSQL, whose server reads.
    clock = time.process_time if backend == "SQLite" else time.perf_counter
    out: dict[str, dict[bool, list[float]]] = {name: {False: [], True: []} for name in calls}
    for n in range(rounds):
        for there in (False, True):
            _set_index(store, backend, there)
            if n == 0:
                print(f"{backend}, index {'there' if there else 'dropped'}: {_plan(queries, backend, periods[-1])}")
            for name, call in calls.items():
                call()  # warm
                out[name][there].append(_ms(call, samples, clock))
    with queries.reading() as q:
        listed = sum(len(q.inspections(period, None, None)) for period in periods)
    print(f"{backend}: the six periods {', '.join(periods)}: {listed:,} inspections listed")
    return out


def _server_cpu(pgid: int) -> float:
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rpartition(")")[2].split()
            if len(fields) > 12 and fields[2] == str(pgid):
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def over_http(data: Path, rounds: int, samples: int) -> dict[bool, list[float]]:
    """`/console/` against a real server: its CPU ms per request, each round the index dropped, then there
    (changed by another connection while the server runs, as a migration would be)."""
    out: dict[bool, list[float]] = {False: [], True: []}
    server = ServerProcess(data).start()
    assert server.proc is not None
    try:
        with httpx.Client(base_url=server.url, timeout=120) as page:
            console_session(page)
            for _ in range(rounds):
                for there in (False, True):
                    store = Store(Settings(data_dir=data))
                    try:
                        _set_index(store, "SQLite", there)
                    finally:
                        store.close()
                    page.get("/console/").raise_for_status()  # warm: the server's statements prepared again
                    began = _server_cpu(server.proc.pid)
                    for _ in range(samples):
                        page.get("/console/").raise_for_status()
                    out[there].append((_server_cpu(server.proc.pid) - began) * 1000 / samples)
    finally:
        server.stop()
    return out


def _report(label: str, figures: dict[bool, list[float]]) -> None:
    before, after = figures[False], figures[True]
    print(f"{label:<34} without the index {statistics.median(before):7.1f} ms ({min(before):.1f}-{max(before):.1f}),"
          f" with it {statistics.median(after):6.1f} ms ({min(after):.1f}-{max(after):.1f}),"
          f" ratio {statistics.median(before) / statistics.median(after):.1f}")


@contextlib.contextmanager
def _postgres(database: str, data: Path) -> Iterator[str]:
    """The SQLite file copied into `database` (`auto`: a new database on a throwaway server of our own)."""
    from server.storage.postgres.from_sqlite import copy_database

    if database != "auto":
        copy_database(data / "fieldsync.db", database)
        yield database
        return
    from bench._postgres import PostgresServer, new_database

    pg = PostgresServer(durable=True).start()
    try:
        url = new_database(pg.url)
        t0 = time.perf_counter()
        copy_database(data / "fieldsync.db", url)
        print(f"copied into PostgreSQL: {time.perf_counter() - t0:.0f} s")
        yield url
    finally:
        pg.stop()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=1000)
    parser.add_argument("--data", type=Path, help="reuse or keep the database here")
    parser.add_argument("--samples", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--database", help="PostgreSQL too: an empty database's URL, or `auto`")
    args = parser.parse_args(argv)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data or Path(tmp) / "data"
        prepare(data, args.scale)
        work = Path(tmp) / "work"  # a copy: the bench drops and makes the index
        shutil.copytree(data, work)
        print(f"load average at the start: {os.getloadavg()[0]:.1f}")
        store = Store(Settings(data_dir=work))
        try:
            results["SQLite"] = in_process(store, "SQLite", args.rounds, args.samples)
        finally:
            store.close()
        results["http"] = over_http(work, args.rounds, args.samples)
        if args.database:
            with _postgres(args.database, work) as url:
                store = Store(Settings(data_dir=work, database=url))
                try:
                    results["PostgreSQL"] = in_process(store, "PostgreSQL", args.rounds, args.samples)
                finally:
                    store.close()
        print(f"load average at the end: {os.getloadavg()[0]:.1f}; ms a call (SQLite: CPU, PostgreSQL: elapsed),"
              f" median of {args.samples} a round, median (spread) of {args.rounds} rounds")
        for backend in ("SQLite", "PostgreSQL"):
            for name, label in (("reads", "the six periods' reads"), ("dashboard", "the dashboard's inspection list")):
                if backend in results:
                    _report(f"{backend}, {label}", results[backend][name])
        _report("SQLite, /console/ over HTTP (server)", results["http"])
    return results


if __name__ == "__main__":
    main()
