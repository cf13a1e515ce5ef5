"""The README's examples, run in order against a fresh demo, compared with what the README says they print.

Every ```sh block of README.md runs, top to bottom in one shell (variables carry
over), unless the line before it is `<!-- not run by tests/e2e/test_readme.py: why -->`.
Within a block:

- a line that is not a comment is a command (a trailing backslash continues it);
- `# ` lines right under a command (no blank line between) show what it prints:
  each must match a line of its output, in order; `…` stands for anything and a
  run of spaces for any spacing;
- a comment after a blank line, or after a command on its own line, is prose.

The examples show this quarter as 2026-Q4 and `make run`'s server at
127.0.0.1:8000: the test runs the walk at noon on the 15th of this month (every
process on a faked clock, `tests/faketime.py`), reads the README's periods, sheet
numbers, due dates and inspection ids as that day's, serves the demo on a free port
(`FIELDSYNC_SERVER`) and keeps every file under its temporary directory (`/tmp/`
and `$HOME`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import msgspec
import pytest

from bench._server import ServerProcess
from client_sdk.cli.main import DEFAULT_DB
from sync import schema
from sync.periods import period_bounds, period_of, site_today
from tests import faketime

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
SKIP = "<!-- not run by tests/e2e/test_readme.py"
SHOWN_PERIOD = "2026-Q4"
SHOWN_SERVER = "127.0.0.1:8000"
PHONE_DB = Path(DEFAULT_DB.removeprefix("~/")).parent  # the phone's database and its journal, under HOME


@dataclass
class Command:
    text: str
    line: int  # in README.md, for the failure message
    expected: list[str] = field(default_factory=list)


def commands(readme: str, skip: str = SKIP) -> list[Command]:
    """The commands of the README's runnable blocks, each with the output lines shown under it."""
    found: list[Command] = []
    lines = readme.splitlines()
    i = 0
    while i < len(lines):
        if lines[i].strip() != "```sh":
            i += 1
            continue
        skipped = i > 0 and lines[i - 1].strip().startswith(skip)
        i += 1
        last: Command | None = None
        while lines[i].strip() != "```":
            text = lines[i]
            if not text.strip():
                last = None
            elif text.lstrip().startswith("#"):
                if last is not None and text.startswith("# "):
                    last.expected.append(text[2:])
            elif not skipped:
                start = i
                while lines[i].endswith("\\"):
                    i += 1
                    text += "\n" + lines[i]
                last = Command(text, start + 1)
                found.append(last)
            i += 1
        i += 1
    return found


def as_of_today(text: str, period: str | None = None) -> str:
    """The README's 2026-Q4 values read as today's quarter (or `period`), in the demo's time zone: its
    inspection ids, due date, sheet numbers, and a time shown by its year alone (`checked_at='2026-…'`)."""
    period = period or period_of(site_today(None), "quarterly")
    for site in _demo_sites():
        shown, today = schema.inspection_id(site, SHOWN_PERIOD), schema.inspection_id(site, period)
        text = text.replace(shown, today).replace(shown[:8], today[:8])
    text = text.replace("2026-12-20", period_bounds(period)[1].replace(day=20).isoformat())
    text = text.replace(f"'{SHOWN_PERIOD[:4]}-…'", f"'{period[:4]}-…'")
    return text.replace(SHOWN_PERIOD, period).replace(SHOWN_PERIOD.replace("-", ""), period.replace("-", ""))


def _demo_sites() -> list[str]:
    return [msgspec.json.decode((ROOT / "fixtures" / name).read_bytes())["site"]["id"]
            for name in ("reference_site.json", "small_site.json")]


def pattern(expected: str) -> re.Pattern[str]:
    """`…` stands for anything, a run of spaces for any spacing."""
    pieces = re.split(r"(\s+|…)", expected.strip())
    regex = "".join(r"\s+" if p.isspace() else ".*" if p == "…" else re.escape(p) for p in pieces if p)
    return re.compile(regex.replace(r"\s+.*\s+", r"\s+(?:.*\s+)?"))


def unmatched(expected: list[str], output: list[str]) -> str | None:
    """The first expected line that no output line (after the previous match) matches."""
    at = 0
    for line in expected:
        want = pattern(line)
        while at < len(output) and not want.search(output[at]):
            at += 1
        if at == len(output):
            return line
        at += 1
    return None


def test_the_readme_is_parsed_into_commands_and_outputs() -> None:
    sample = "\n".join([
        "```sh", "a --flag   # prose", "# out 1", "# out 2", "", "# prose", "b \\", "  c", "# out 3", "```",
        SKIP + ": reason -->", "```sh", "never", "```",
    ])
    found = commands(sample)
    assert [(c.text, c.expected) for c in found] == [
        ("a --flag   # prose", ["out 1", "out 2"]), ("b \\\n  c", ["out 3"])]
    assert unmatched(["out …  2"], ["x", "out 1   2"]) is None
    assert unmatched(["b", "a"], ["a", "b"]) == "a"


def example_env(tmp_path: Path) -> dict[str, str]:
    """The environment the examples run in: the venv's commands on PATH, HOME under `tmp_path`."""
    home = tmp_path / "home"
    home.mkdir()
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(home), "PYTHONUNBUFFERED": "1", "COLUMNS": "200",
           "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}", "LANG": "C.UTF-8"}
    env.pop("FIELDSYNC_CLIENT_DB", None)
    return env


def run_examples(found: list[Command], env: dict[str, str], cwd: Path, placed: Callable[[str], str]) -> \
        dict[int, tuple[list[str], int]]:
    """Each command (as `placed` makes it) in one bash, in order: its output lines and its exit status."""
    script = ["exec 2>&1", f"cd '{cwd}'"]
    for n, command in enumerate(found):
        # The end mark on a line of its own even after output without a final newline.
        script += [f"echo '@@begin {n}@@'", placed(command.text), f"printf '\\n@@end {n} %s@@\\n' $?"]
    run = subprocess.run(["bash", "-c", "\n".join(script)], env=env, capture_output=True, text=True, timeout=600,
                         stdin=subprocess.DEVNULL)
    outputs: dict[int, tuple[list[str], int]] = {}
    current: list[str] | None = None
    for line in run.stdout.splitlines():
        if line.startswith("@@begin "):
            current = []
        elif line.startswith("@@end ") and current is not None:
            n, status = line[6:-2].split()
            outputs[int(n)] = (current, int(status))
            current = None
        elif current is not None:
            current.append(line)
    missing = [c for n, c in enumerate(found) if n not in outputs]
    assert not missing, f"line {missing[0].line}: `{missing[0].text}` never ended:\n{run.stdout[-3000:]}"
    return outputs


def unexpected(found: list[Command], outputs: dict[int, tuple[list[str], int]], where: str,
               expected: Callable[[str], str]) -> list[str]:
    """What each command printed that its `# ` lines do not say, named by `where` and its line."""
    wrong = []
    for n, command in enumerate(found):
        lines = outputs[n][0]
        missing = unmatched([expected(e) for e in command.expected], lines)
        if missing is not None:
            wrong.append(f"{where} line {command.line}: `{command.text}` should print a line like\n  {missing}\n"
                         "but printed:\n  " + "\n  ".join(lines[:30]))
    return wrong


def secrets_left(root: Path, database: Path, skip: tuple[Path, ...] = ()) -> list[str]:
    """Files under `root` (the examples' HOME and /tmp) but `skip` that hold a token the server issued (any in
    `tokens`, revoked or not, or a live refresh credential) or a sign-in's answer (`refresh_token`): what
    another user of the machine could read, and with `/auth/refresh` and `enrol` make a client of their own."""
    with contextlib.closing(sqlite3.connect(database)) as db:
        issued = {h for (h,) in db.execute("SELECT token_hash FROM tokens UNION SELECT refresh_hash FROM clients"
                                           " WHERE refresh_hash IS NOT NULL")}
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not any(p.is_relative_to(s) for s in skip)):
        data = path.read_bytes()
        words = re.findall(rb"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])", data)  # token_urlsafe(32)
        if b"refresh_token" in data or any(hashlib.sha256(w).hexdigest() in issued for w in words):
            found.append(str(path.relative_to(root)))
    return found


def test_every_readme_example_prints_what_the_readme_says(tmp_path: Path) -> None:
    # Every process of the walk (the server, the phone, the shell's `date`) reads noon on the 15th of this month
    # in Shanghai (libfaketime): no inspection is overdue yet. Walked on the 1st, zhao's visits were last month's
    # and his expected report line missing (session 29, yearend); the README now expects only wang's, there every
    # day, and says when zhao's is (fixyearend). The edges: test_yearend.py, test_new_year.py, the tests below.
    today = site_today(None)
    noon = datetime(today.year, today.month, 15, 12, tzinfo=ZoneInfo("Asia/Shanghai"))
    env = faketime.fixed(noon, example_env(tmp_path))
    period = period_of(noon.date(), "quarterly")
    data = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "server.cli", "init", "--data", str(data), "--demo"],
                   env=env, check=True, capture_output=True)
    server = ServerProcess(data, env=env).start()
    try:
        # `make run` shows whom to sign in as (issue 10): the accounts still on the published password.
        assert ("demo accounts, password demo: lin (林经理, supervisor), wang (王工, technician), "
                "zhao (赵工, technician), chen (陈, service_desk)") in server.output()
        address = f"127.0.0.1:{server.port}"
        env["FIELDSYNC_SERVER"] = server.url
        found = commands(README.read_text())
        assert len(found) > 20, "the README's examples were not found"
        outputs = run_examples(found, env, ROOT,
                               lambda text: text.replace(SHOWN_SERVER, address).replace("/tmp/", f"{tmp_path}/"))
        wrong = unexpected(found, outputs, "README", lambda e: as_of_today(e, period).replace(SHOWN_SERVER, address))
        assert not wrong, "\n\n".join(wrong)
        # A phone's database keeps its token, as any phone does; nothing else the examples wrote does.
        phones = (tmp_path / "home" / PHONE_DB, *tmp_path.glob("*-phone.db*"))
        assert secrets_left(tmp_path, data / "fieldsync.db", (data, *phones)) == []
    finally:
        server.stop()


@pytest.mark.parametrize("shown", ["PM-2026Q4-0001", "2026-Q4", "due 2026-12-20"])
def test_the_readme_shows_this_quarter_only_in_output_lines(shown: str) -> None:
    """Commands take sheet numbers and periods from an earlier command's output, so they work on any date."""
    for command in commands(README.read_text()):
        code = "\n".join(re.split(r"\s{2,}# ", line)[0] for line in command.text.splitlines())
        assert shown not in code, f"README line {command.line} names {shown}: read it from the demo"


def test_the_readmes_months_read_from_date_are_months_the_api_takes_all_year() -> None:
    """`MONTH=$(TZ=Asia/Shanghai date +%Y-M%m)` gave 2027-M01 in January: the API takes 2027-M1 and answered
    the month's report and duty log `400 invalid_filter`, from January to September (the README's test runs on
    today's date, so it passed in the autumn). Each `date +FORMAT` the README runs is tried on every month."""
    from sync.fields import is_month

    formats = [m[1] for command in commands(README.read_text()) for m in re.finditer(r"\bdate \+(\S+?)\)", command.text)]
    assert formats, "the README no longer reads a month from `date`: drop this test"
    for fmt in formats:
        shown = [subprocess.run(["date", "-d", f"2027-{month:02d}-15", f"+{fmt}"], capture_output=True, text=True,
                                check=True).stdout.strip() for month in range(1, 13)]
        assert [s for s in shown if not is_month(s)] == [], fmt


# Regression (session 29, yearend): `ID=$(fieldsync-client inspections | awk '{print $NF; exit}')` read the
# inspection's id as the line's last column; an overdue inspection's line ends `OVERDUE`, so from the 21st of
# a quarter's last month (the demo's due day is the 20th: 21 to 31 December) the README's next command asked
# for `/api/inspections/OVERDUE` and failed, and so did this file's walk on those days. Each value the README
# reads out of the CLI's output is read here from the catalogue's line, overdue or not, a site's name with a
# space, in English and in Chinese.
# Regression (fixphonezh31, item 4): `VISIT=$(fieldsync-client visit $REQ | awk '{print $7}')` read the 7th word
# of `visit_started`: the id in English, ``sync`。`` in Chinese, so a reader who left FIELDSYNC_LANG=en out
# recorded `arrived` on no visit.
_READ = {"SHEET": "sheet_no", "PERIOD": "period", "ID": "id", "VISIT": "id"}  # what each variable holds


def test_the_readmes_values_read_from_the_clis_output_hold_in_both_languages() -> None:
    from sync.messages import words

    values = {"sheet_no": "PM-2026Q4-0001", "period": "2026-Q4", "id": "6d854cf7-c682-56ae-ad9b-a4dd1c6ca6d8"}
    found = [(m[1], m[2], m[3]) for command in commands(README.read_text())
             for m in re.finditer(r"^(\w+)=\$\(fieldsync-client (\w+)[^|]*\| (.+)\)(?:\s+#.*)?$", command.text, re.M)]
    assert {name for name, _, _ in found} == set(_READ), found
    for said in (words("cli", "en"), words("cli", "zh")):
        lines = {"inspections": [said["inspection_line"].format(
                     site="科峰 科技园", status=status, due_on="2026-12-20", checked=0, total=624, overdue=overdue,
                     **values) for overdue in ("", said["overdue"]) for status in ("scheduled", "进行中")],
                 "visit": [said["visit_started"].format(number="SR-2026-00012", id=values["id"], seq=7)]}
        assert {command for _, command, _ in found} <= lines.keys(), found
        for name, command, pipe in found:
            for line in lines[command]:
                read = subprocess.run(["bash", "-c", pipe], input=line + "\n", capture_output=True, text=True,
                                      check=True)
                assert read.stdout.strip() == values[_READ[name]], (name, pipe, line)


def test_the_readmes_times_shown_by_their_year_read_as_todays_year() -> None:
    # Regression (session 29, yearend): the outbox's `checked_at='2026-…'` was read as it stands, so from
    # 1 January 2027 the README's walk failed every day of the year (a check recorded today is 2027's).
    shown = "#2     create  device_checks PM-2026Q4-0001 CAM-001: … checked_at='2026-…', …"
    assert as_of_today(shown, "2027-Q1") == "#2     create  device_checks PM-2027Q1-0001 CAM-001: … checked_at='2027-…', …"
    assert "checked_at='2026-…'" in README.read_text()  # what it reads: the README still shows 2026-Q4's walk
