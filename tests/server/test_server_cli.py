"""`fieldsync` run as the operator runs it: a real process per command (issue 10, items 2 and 3)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG = "plant-room-basement-42"
SCHOOL = ("ac1829de-92b2-5402-bb25-ef6359e9dd9c", "明德实验小学")  # fixtures/small_site.json


def fieldsync(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    # A session of its own: no terminal, so getpass reads the password from stdin.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8"}
    return subprocess.run([sys.executable, "-m", "server.cli", *args], input=stdin, env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, start_new_session=True)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("demo")
    assert fieldsync("init", "--data", str(data), "--demo").returncode == 0
    return data


def _users(data: Path) -> dict[str, list[str]]:
    with sqlite3.connect(data / "fieldsync.db") as db:
        users = [u for (u,) in db.execute("SELECT username FROM users")]
        sql = "SELECT m.site_id FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.username = ?"
        return {u: [s for (s,) in db.execute(sql, [u])] for u in users}


@pytest.mark.parametrize("command", [
    ["schedule", "--period", "2026-Q4"],
    ["add-user", "li", "--role", "technician", "--password", STRONG],
    ["purge"],
    ["gc"],  # Regression (s26-ops3, item 3): it made an empty database there and "removed 0 blobs", exit 0
    ["gc", "--dry-run"],
    ["serve", "--port", "{port}"],
    ["backup", "--to", "{tmp}/backup"],
])
def test_every_command_but_init_refuses_a_directory_without_a_database(tmp_path: Path, command: list[str],
                                                                       held_port: str) -> None:
    # Regression (issue 10, finding 2): a mistyped --data made an empty database and "0 inspections created", exit 0.
    mistyped = tmp_path / "dta"
    run = fieldsync(*[a.format(tmp=tmp_path, port=held_port) for a in command], "--data", str(mistyped))
    assert run.returncode == 2
    assert f"no database in {mistyped}" in run.stderr
    assert "fieldsync init --data" in run.stderr
    assert "Traceback" not in run.stderr
    assert not mistyped.exists() or list(mistyped.iterdir()) == []
    assert not (tmp_path / "backup").exists()


def test_add_user_takes_a_site_by_name_or_id(demo: Path) -> None:
    site_id, name = SCHOOL
    run = fieldsync("add-user", "--data", str(demo), "he", "--role", "technician", "--password", STRONG,
                    "--site", name)
    assert run.returncode == 0, run.stderr
    assert f"member of {name}" in run.stdout
    run = fieldsync("add-user", "--data", str(demo), "feng", "--role", "technician", "--password", STRONG,
                    "--site", site_id)
    assert run.returncode == 0, run.stderr
    users = _users(demo)
    assert users["he"] == [site_id]
    assert users["feng"] == [site_id]


@pytest.mark.parametrize("site", ["SITE_ID", "", "明德实验", "' OR 1=1 --"])
def test_add_user_refuses_an_unknown_site_and_creates_no_account(demo: Path, site: str) -> None:
    # Regression (issue 10, finding 3): `--site SITE_ID` typed literally stored a membership of no site.
    run = fieldsync("add-user", "--data", str(demo), "sun", "--role", "technician", "--password", STRONG,
                    "--site", SCHOOL[0], "--site", site)
    assert run.returncode == 2
    assert f"no site named or with id {site!r}" in run.stderr
    assert "sun" not in _users(demo)


def test_add_user_refuses_sites_for_a_supervisor(demo: Path) -> None:
    run = fieldsync("add-user", "--data", str(demo), "zhou", "--role", "supervisor", "--password", STRONG,
                    "--site", SCHOOL[1])
    assert run.returncode == 2
    assert "--site is for technicians" in run.stderr
    assert "zhou" not in _users(demo)


def test_add_user_asks_for_the_password_twice(demo: Path) -> None:
    # Regression (issue 10, finding 3): one typo in a password asked once locked the account out.
    run = fieldsync("add-user", "--data", str(demo), "wu", "--role", "technician", stdin=f"{STRONG}\n{STRONG}x\n")
    assert run.returncode == 2
    assert "the two passwords differ" in run.stderr
    assert "wu" not in _users(demo)
    run = fieldsync("add-user", "--data", str(demo), "wu", "--role", "technician", stdin=f"{STRONG}\n{STRONG}\n")
    assert run.returncode == 0, run.stderr
    assert "technician wu created" in run.stdout
    assert "wu" in _users(demo)


@pytest.mark.parametrize("command", [
    ["serve", "--port", "{port}"],
    ["add-user", "li", "--role", "technician", "--password", STRONG],
    ["schedule", "--period", "2026-Q4"],
    ["backup", "--to", "{tmp}/backup"],
])
def test_a_database_sqlite_cannot_open_is_one_line_not_a_traceback(tmp_path: Path, command: list[str],
                                                                   held_port: str) -> None:
    # Regression (session 26, ops): a data directory this user cannot write (here its WAL cannot be
    # opened: a directory stands where the file goes, which even root cannot write) was a traceback.
    data = tmp_path / "data"
    assert fieldsync("init", "--data", str(data)).returncode == 0
    (data / "fieldsync.db-wal").mkdir()
    run = fieldsync(*[a.format(tmp=tmp_path, port=held_port) for a in command], "--data", str(data))
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr == (f"fieldsync: SQLite: unable to open database file: check that {data} and its files can be"
                          " written by this user, and the disk is not full\n")


@pytest.mark.parametrize("command", [
    ["init", "--data", "{file}/data"],
    ["backup", "--data", "{demo}", "--to", "{file}/backup"],
])
def test_a_directory_that_cannot_be_made_is_one_line_not_a_traceback(tmp_path: Path, demo: Path,
                                                                     command: list[str]) -> None:
    # Regression (session 26, ops): an OSError (a path through a file, a read-only disk) was a traceback.
    file = tmp_path / "a-file"
    file.write_text("")
    run = fieldsync(*[a.format(file=file, demo=demo) for a in command])
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr.startswith("fieldsync: [Errno ") and str(file) in run.stderr and run.stderr.count("\n") == 1


def test_a_bad_public_url_says_what_it_takes(demo: Path, held_port: str) -> None:
    # Regression (session 26, ops): argparse said only "invalid public_url value: 'ftp://x'".
    run = fieldsync("serve", "--data", str(demo), "--port", held_port, "--public-url", "ftp://x")
    assert run.returncode == 2
    assert run.stderr.splitlines()[-1] == ("fieldsync serve: error: argument --public-url: an http:// or https://"
                                           " URL without query, at most 200 characters")


@pytest.mark.parametrize("url", ["https://service.example.cn/fieldsync", "http://10.0.0.5:8080/a/b/"])
def test_a_public_url_with_a_path_is_refused_as_a_sub_path_cannot_work(demo: Path, url: str, held_port: str) -> None:
    # Regression (session 26, ops2, item 2): a /prefix was taken, but only the QR codes used it; the
    # console's links and redirects and an upload's Location are absolute, so behind a proxy at
    # https://host/fieldsync/ the console and every photo upload failed. fieldsync needs a host or port.
    from server.settings import Settings, public_url

    run = fieldsync("serve", "--data", str(demo), "--port", held_port, "--public-url", url)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr.splitlines()[-1] == (
        "fieldsync serve: error: argument --public-url: a host and port only, without a path: fieldsync needs"
        " a host (or a port) of its own, not a sub-path such as /fieldsync (docs/operations.md)")
    with pytest.raises(ValueError, match="without a path"):
        Settings(data_dir=demo, public_url=url)
    assert public_url("https://service.example.cn:8443/") == "https://service.example.cn:8443"


def test_a_server_refused_for_a_data_directory_in_use_prints_only_why(demo: Path, held_port: str) -> None:
    # Regression (session 26, ops): it printed the demo accounts on stdout first, as if it served.
    from server.storage.sqlite.backup import data_lock

    with data_lock(demo):
        run = fieldsync("serve", "--data", str(demo), "--port", held_port)
    assert run.returncode == 2 and run.stdout == ""
    assert run.stderr == f"fieldsync: {demo} is in use by a running server; stop it first\n"


@pytest.mark.parametrize("command", [["serve", "--port", "{port}"], ["add-user", "li", "--role", "supervisor",
                                                                "--password", STRONG]])
def test_a_database_a_newer_fieldsync_upgraded_is_one_line_and_left_alone(tmp_path: Path, command: list[str],
                                                                          held_port: str) -> None:
    # Regression (session 26, ops): an older `serve` served it without a word (and its worker, not
    # the command, would have been the one to fail on anything else the schema refused).
    data = tmp_path / "data"
    assert fieldsync("init", "--data", str(data)).returncode == 0
    with sqlite3.connect(data / "fieldsync.db") as db:
        db.execute("INSERT INTO _sqlite_migrations(migration_set, name, applied_at)"
                   " VALUES ('fieldsync', 'm099_from_the_future', '2027-01-01')")
    run = fieldsync(*[a.format(port=held_port) for a in command], "--data", str(data))
    assert run.returncode == 1 and run.stdout == ""
    assert run.stderr == ("fieldsync: cannot open the database: it was upgraded by a newer fieldsync (its steps"
                          " m099_from_the_future are unknown to this one); serve it with that version, or restore"
                          " the backup taken before the upgrade\n")


def test_serve_warns_at_start_of_a_calendar_a_sites_terms_write_out(tmp_path: Path) -> None:
    # Regression (session 26, ops2, item 3): `fieldsync serve`'s start-up warning read only the server's
    # named calendars; a calendar a site's terms override writes out ended without a word there, while
    # the dashboard warned of it. Serve now says what the dashboard says, from the same function.
    import json
    from datetime import date

    from bench._server import ServerProcess
    from server.cli import _calendar_warnings
    from sync.hlc import wall_ms
    from sync.workhours import Calendar

    data = tmp_path / "data"
    assert fieldsync("init", "--data", str(data), "--demo").returncode == 0
    office = json.loads((ROOT / "fixtures" / "service_terms.json").read_text(encoding="utf-8"))
    last_year = f"{date.today().year - 1}-10-01"  # its calendar has ended, whatever today is
    own = {"week": office["calendars"]["cn-2026-office"]["week"], "holidays": [last_year], "source": "客户园区"}
    set_terms = fieldsync("terms", "--data", str(data), "科峰科技园", "--set", json.dumps({"calendar": own}))
    assert set_terms.returncode == 0, set_terms.stderr
    server = ServerProcess(data).start()
    try:
        logged = [line for line in server.output().splitlines() if "calendar" in line]
    finally:
        server.stop()
    expected = _calendar_warnings(wall_ms(), {"科峰科技园": Calendar.from_data(own)})
    assert [w for w in expected if "科峰科技园" in w] and logged == [f"fieldsync: {w}" for w in expected], logged


def test_passwd_disable_does_not_tell_the_operator_the_user_signs_in_again(demo: Path) -> None:
    # Regression (session 26, ops2, item 4): `passwd --disable` said "each signs in again with the password",
    # which a disabled account cannot; it now says how the account comes back.
    disabled = fieldsync("passwd", "--data", str(demo), "zhao", "--disable")
    assert (disabled.returncode, disabled.stdout) == (0, "zhao: disabled; 0 client(s) revoked (no sign-in until:"
                                                         " fieldsync passwd --enable zhao)\n")
    enabled = fieldsync("passwd", "--data", str(demo), "zhao", "--enable")
    assert (enabled.returncode, enabled.stdout) == (0, "zhao: enabled; 0 client(s) revoked (each signs in again"
                                                       " with the password)\n")


def _clear_data_caches() -> None:
    from server.domains.archive.spreadsheet import columns
    from server.domains.billing.service import fee_book
    from server.domains.duty import service as duty
    from server.domains.service.service import terms_book

    for cached in (duty.calendars, duty.duty_rules, duty.duty_rules_data, terms_book, fee_book, columns):
        cached.cache_clear()


@pytest.fixture
def data_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of fixtures/' JSON files, which the server and the demo read instead: edit one as an operator would
    (its caches cleared before and after, once the real files are back)."""
    from server import datafiles, demo
    from server.domains.duty import service as duty

    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    for found in datafiles.FIXTURES.glob("*.json"):
        (fixtures / found.name).write_bytes(found.read_bytes())
    for module in (datafiles, duty, demo):
        monkeypatch.setattr(module, "FIXTURES", fixtures)
    _clear_data_caches()
    yield fixtures
    monkeypatch.undo()
    _clear_data_caches()


def _edited_calendar(fixtures: Path, edit: Callable[[str], str]) -> None:
    """fixtures/service_terms.json edited by hand as docs/operations.md, "Next year's holidays", says."""
    path = fixtures / "service_terms.json"
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")


LAST = '"2026-10-06", "2026-10-07"'


@pytest.mark.parametrize(("added", "said"), [
    # Regression (s26-ops3, item 4): a comma left out after the year's last date was a JSON traceback, exit 1.
    (f'{LAST} "2027-01-01"', "fixtures/service_terms.json: not JSON at line 51 column 106: Expecting ',' delimiter"),
    # ... and a date that is not one did not say which of the 35.
    (f'{LAST}, "2027-02-30"', "fixtures/service_terms.json: holidays: not a date 'YYYY-MM-DD': '2027-02-30'"),
])
def test_a_typo_in_next_years_dates_stops_serve_in_one_line(tmp_path: Path, data_files: Path,
                                                           capsys: pytest.CaptureFixture[str], added: str,
                                                           said: str, held_port: str) -> None:
    from server.cli import main

    _edited_calendar(data_files, lambda text: text.replace(LAST, added))
    assert main(["init", "--data", str(tmp_path / "data")]) == 0
    capsys.readouterr()
    assert main(["serve", "--data", str(tmp_path / "data"), "--port", held_port]) == 2
    err = capsys.readouterr().err
    assert said in err and err.count("\n") == 1 and "Traceback" not in err


def test_next_years_dates_added_as_the_docs_say_end_the_warning_and_count_as_holidays(data_files: Path) -> None:
    from datetime import date

    from server.cli import _calendar_warnings
    from server.domains.duty import service as duty

    now = int(datetime(2026, 12, 7, 12, tzinfo=UTC).timestamp() * 1000)
    assert _calendar_warnings(now) != []  # the repo's calendar ends with 2026
    _edited_calendar(data_files, lambda text: text.replace(LAST, f'{LAST}, "2027-01-01"').replace(
        '"2026-10-10": ["08:30-17:30"]', '"2026-10-10": ["08:30-17:30"], "2027-02-07": ["08:30-17:30"]'))
    _clear_data_caches()  # the repo's calendar was read above
    assert _calendar_warnings(now) == []
    office = duty.calendars()["cn-2026-office"]
    assert office.spans_of(date(2027, 1, 1)) == ()  # a Friday, a holiday
    assert office.spans_of(date(2027, 2, 7)) == ((510, 1050),)  # a Sunday, a make-up workday


def _json_edit(name: str, edit: Callable[[Any], object]) -> Callable[[Path], None]:
    def apply(fixtures: Path) -> None:
        data = json.loads((fixtures / name).read_text(encoding="utf-8"))
        (fixtures / name).write_text(json.dumps(edit(data) or data, ensure_ascii=False), encoding="utf-8")
    return apply


def _text_edit(name: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(fixtures: Path) -> None:
        text = (fixtures / name).read_text(encoding="utf-8")
        assert old in text
        (fixtures / name).write_text(text.replace(old, new, 1), encoding="utf-8")
    return apply


def _gone(name: str, directory: bool = False) -> Callable[[Path], None]:
    def apply(fixtures: Path) -> None:
        (fixtures / name).unlink()
        if directory:
            (fixtures / name).mkdir()
    return apply


# Each input class once: a file an operator edits, broken as a hand edit breaks it.
BROKEN_DATA_FILES = [
    # Regression (s26-ops4, item 1): serve started, and every price (a push's charge line, GET /api/fee-schedules)
    # was a 500 with the traceback in the log.
    (_text_edit("fee_schedules.json", '"urban": 40000,', '"urban": 40000'),
     "fixtures/fee_schedules.json: not JSON at line 9 column 34: Expecting ',' delimiter"),
    (_json_edit("fee_schedules.json", lambda d: d["schedules"][0]["itemised"].update(labour="100")),
     "fixtures/fee_schedules.json: Expected `int`, got `str`"),
    # ... an unknown term (restore_hour for restore_hours) was ignored: the contract then promised no restore time.
    (_json_edit("service_terms.json", lambda d: d["contracts"]["annual"].update(restore_hour=12)),
     "fixtures/service_terms.json: contracts.annual: restore_hour: not a term"),
    (_json_edit("service_terms.json", lambda d: d.update(contracts=[])),
     "fixtures/service_terms.json: a value of the wrong type"),
    (_gone("service_terms.json"), "fixtures/service_terms.json: no such file"),
    # ... a zone misspelt counted the duty roster in China Standard Time without a word; an unknown rule was ignored.
    (_json_edit("duty.json", lambda d: d.update(zone="Asia/Shangai")),
     "fixtures/duty.json: duty: zone 'Asia/Shangai' is not an IANA time zone"),
    (_json_edit("duty.json", lambda d: d.update(untill="22:00")), "fixtures/duty.json: duty: untill: not a rule"),
    # ... an import was a 500.
    (_gone("archive_columns.json", directory=True), "fixtures/archive_columns.json: a directory, not a file"),
    (_json_edit("archive_columns.json", lambda d: d.pop("headers") and d), "fixtures/archive_columns.json: 'headers'"
                                                                          " is missing"),
    # ... the demo accounts' hint was a KeyError traceback.
    (_json_edit("accounts.json", lambda d: d[0].pop("username") and d), "fixtures/accounts.json: 'username' is missing"),
    # Regression (s27-ops6, item 2): accounts.json an object showed (and init --demo loaded) no demo account without a
    # word; a broken calendar written out as duty.json's office hours was reported as service_terms.json; an unknown
    # key of the fee book (a price misplaced at the top) was ignored.
    (lambda fixtures: (fixtures / "accounts.json").write_text("{}"), "fixtures/accounts.json: a list of accounts (each with username, name,"
                                                " role, password, sites), not dict"),
    (_json_edit("duty.json", lambda d: d.update(office_hours={"week": {"mon": ["08:30-17:30"]}, "holiday": []})),
     "fixtures/duty.json: office_hours: a calendar has only week, holidays, workdays, source and note"),
    (_json_edit("fee_schedules.json", lambda d: d.update(tax_bps=900)),
     "fixtures/fee_schedules.json: tax_bps: not a key of the fee book; its keys are annual_items, interpretation,"
     " note, schedules"),
]


@pytest.mark.parametrize(("edit", "said"), BROKEN_DATA_FILES)
def test_a_data_file_an_operator_broke_stops_serve_in_one_line_naming_it(
        tmp_path: Path, data_files: Path, capsys: pytest.CaptureFixture[str], edit: Callable[[Path], None],
        said: str, held_port: str) -> None:
    from server.cli import main

    assert main(["init", "--data", str(tmp_path / "data")]) == 0
    edit(data_files)
    capsys.readouterr()
    assert main(["serve", "--data", str(tmp_path / "data"), "--port", held_port]) == 2  # refused before binding
    err = capsys.readouterr().err
    assert err.startswith(f"fieldsync: {said}") and err.count("\n") == 1, err


def test_commands_that_read_a_broken_data_file_say_which_and_change_nothing(
        tmp_path: Path, data_files: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from server.cli import main

    data = tmp_path / "data"
    _text_edit("reference_site.json", '"code": "CAM-001",', '"code": "CAM-001"')(data_files)
    # Regression (s26-ops4, item 1): init --demo wrote the templates and sites, then stopped on a traceback.
    assert main(["init", "--data", str(data), "--demo"]) == 2
    assert capsys.readouterr().err.startswith("fieldsync: fixtures/reference_site.json: not JSON at line")
    assert not data.exists()
    _edited_calendar(data_files, lambda text: text)  # mended
    (data_files / "reference_site.json").write_bytes((ROOT / "fixtures" / "reference_site.json").read_bytes())
    assert main(["init", "--data", str(data), "--demo"]) == 0
    csv = tmp_path / "devices.csv"
    csv.write_text("系统,类型,编号,名称\n视频监控,摄像机,CAM-900,新增\n", encoding="utf-8")
    for name, command in [("archive_columns.json", ["import", str(csv), "--site", SCHOOL[0]]),
                          ("service_terms.json", ["terms", SCHOOL[0]])]:
        _gone(name)(data_files)
        _clear_data_caches()
        capsys.readouterr()
        assert main([command[0], "--data", str(data), *command[1:]]) == 2
        assert capsys.readouterr().err == f"fieldsync: fixtures/{name}: no such file\n"
    with sqlite3.connect(data / "fieldsync.db") as db:
        assert db.execute("SELECT count(*) FROM rows WHERE fields LIKE '%CAM-900%'").fetchone() == (0,)


@pytest.mark.parametrize(("command", "most"), [
    (["purge", "--days", "-1"], 36_500), (["purge", "--days", "nan"], 36_500), (["purge", "--days", "1e300"], 36_500),
    (["gc", "--grace-hours", "-1"], 876_000), (["gc", "--grace-hours", "inf"], 876_000),
    (["gc", "--grace-hours", "nan", "--dry-run"], 876_000),
])
def test_purge_and_gc_refuse_a_negative_or_unbounded_span_and_change_nothing(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], most: int) -> None:
    # Regression (s27-ops6, the operator's walk): `purge --days -1` (a typo for 1) forgot every tombstone, today's
    # too, so every phone whose last pull was older pulled everything again; nan, inf and 1e300 were tracebacks.
    from server.cli import main
    from server.services import Store
    from server.settings import Settings

    data = tmp_path / "data"
    assert main(["init", "--data", str(data)]) == 0
    store = Store(Settings(data_dir=data))
    try:
        store.write_server_changes([("sites", SCHOOL[0], {"name": SCHOOL[1]}, False)])
        store.write_server_changes([("sites", SCHOOL[0], {}, True)])  # deleted just now
    finally:
        store.close()
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        main([command[0], "--data", str(data), *command[1:]])
    assert refused.value.code == 2
    assert capsys.readouterr().err.endswith(f"error: argument {command[1]}: a number from 0 to {most}\n")
    with sqlite3.connect(data / "fieldsync.db") as db:
        assert db.execute("SELECT count(*) FROM rows WHERE deleted = 1").fetchone() == (1,)


def test_schedule_refusing_a_zero_padded_month_says_how_months_are_written(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Regression (s27-ops6, the operator's walk): `schedule --period 2027-M01` was refused as "not like 2026-Q4,
    # 2026-H2 or 2026-M11", which shows no one-digit month: nothing said that January is 2027-M1.
    from server.cli import main

    data = tmp_path / "data"
    assert main(["init", "--data", str(data)]) == 0
    capsys.readouterr()
    assert main(["schedule", "--data", str(data), "--period", "2027-M01"]) == 2
    assert "2027-M1 (no leading zero)" in capsys.readouterr().err
    assert main(["schedule", "--data", str(data), "--period", "2027-M1"]) == 0


@pytest.mark.parametrize(("scale", "said"), [(["--demo", "--scale", "0"], "--scale is a number of sites, 1 to 1,000"),
                                             (["--scale", "5"], "--scale adds to the demo: use it with --demo")])
def test_init_refusing_a_scale_says_so_as_every_refusal_does(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                             scale: list[str], said: str) -> None:
    # Regression (s27-ops6, the operator's walk): these two were the only refusals without the `fieldsync: ` prefix.
    from server.cli import main

    assert main(["init", "--data", str(tmp_path / "data"), *scale]) == 2
    assert capsys.readouterr().err == f"fieldsync: {said}\n"
    assert not (tmp_path / "data").exists()
