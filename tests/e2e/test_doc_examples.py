"""docs/api.md's and docs/operations.md's examples, run in order against a fresh demo, as the README's are.

The same rules as tests/e2e/test_readme.py (a block is skipped only with a
`<!-- not run by tests/e2e/test_doc_examples.py: why -->` line before it; `# `
lines under a command are what it prints), and two more: every command must
exit 0, and none may print a problem body it does not show. The placeholders a
reader fills in are filled so:

- `127.0.0.1:8000` and `localhost:8000`: the demo's address; `DIR`: its data
  directory; `/tmp/` and `/backups/`: directories of the test's own;
- `"password": "…"`: lin's demo password;
- `cam-017.jpg` and `档案.xlsx` in the current directory: the demo's photo
  (fixtures/photos/IMG_2041.jpg) and a spreadsheet of two cameras.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import openpyxl

from bench._server import ServerProcess
from server.cli import main as server_main
from tests.e2e.test_readme import (
    ROOT,
    SHOWN_SERVER,
    Command,
    as_of_today,
    commands,
    example_env,
    run_examples,
    secrets_left,
    unexpected,
)

DOCS = [ROOT / "docs" / "api.md", ROOT / "docs" / "operations.md"]
PROBLEM = '"type":"urn:fieldsync:problem:'
SKIP = "<!-- not run by tests/e2e/test_doc_examples.py"


def _spreadsheet(path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in [["编号", "系统", "类型", "名称", "位置"], ["CAM-901", "视频监控", "球机", "东门球机", "东门"],
                ["CAM-902", "视频监控", "枪机", "停车场枪机", "停车场"]]:
        sheet.append(row)
    book.save(path)


def test_the_docs_examples_are_found_and_the_skipped_ones_say_why() -> None:
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        assert len(commands(text, SKIP)) >= 5, f"{doc.name}: its examples were not found"
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip().startswith("<!-- not run by"):
                continue
            if "tests/e2e/test_doc_examples.py: " not in line:
                raise AssertionError(f"{doc.name} line {n}: names another test or no reason")
            # The reason names the test that covers the block instead (a file that exists), or the doc that runs it.
            covering = [p for p in re.findall(r"tests/\S+?\.py", line.split(": ", 1)[1]) if (ROOT / p).is_file()]
            assert covering or "operations.md runs" in line, f"{doc.name} line {n}: names no covering test that exists"


def test_every_example_of_api_md_and_operations_md_does_what_the_doc_says(tmp_path: Path) -> None:
    data, work, backups = tmp_path / "data", tmp_path / "work", tmp_path / "backups"
    work.mkdir()
    backups.mkdir()
    shutil.copy(ROOT / "fixtures" / "photos" / "IMG_2041.jpg", work / "cam-017.jpg")
    _spreadsheet(work / "档案.xlsx")
    env = example_env(tmp_path)
    subprocess.run([sys.executable, "-m", "server.cli", "init", "--data", str(data), "--demo"],
                   env=env, check=True, capture_output=True)
    server = ServerProcess(data).start()
    try:
        address = f"127.0.0.1:{server.port}"

        def placed(text: str) -> str:
            text = text.replace(SHOWN_SERVER, address).replace("localhost:8000", address)
            text = text.replace("/tmp/", f"{tmp_path}/").replace("/backups/", f"{backups}/")
            return re.sub(r"\bDIR\b", str(data), text).replace('"password": "…"', '"password": "demo"')

        def expected(line: str) -> str:
            return as_of_today(line).replace(SHOWN_SERVER, address).replace("/backups/", f"{backups}/")

        found: list[tuple[str, Command]] = [(doc.name, c) for doc in DOCS for c in commands(doc.read_text(), SKIP)]
        outputs = run_examples([c for _, c in found], env, work, placed)
        wrong = []
        for n, (name, command) in enumerate(found):
            lines, status = outputs[n]
            wrong += unexpected([command], {0: outputs[n]}, f"docs/{name}", expected)
            if status != 0:
                wrong.append(f"docs/{name} line {command.line}: `{command.text}` exited {status}:\n  "
                             + "\n  ".join(lines[:30]))
            problems = [line for line in lines if PROBLEM in line]
            if problems and not any(PROBLEM in e for e in command.expected):
                wrong.append(f"docs/{name} line {command.line}: `{command.text}` was refused:\n  {problems[0][:500]}")
        assert not wrong, "\n\n".join(wrong)
        # A membership change takes a version too: the check of a restored server compared meta's version
        # with the rows' alone, and read 747 and 750 on a demo whose technician had joined a site since.
        assert server_main(["member", "--data", str(data), "科峰科技园", "wang", "--remove"]) in (0, None)
        [query] = [c.text for _, c in found if "key = 'version'" in c.text]
        sql = query.replace("\\\n", " ").split('"')[1]
        with contextlib.closing(sqlite3.connect(data / "fieldsync.db")) as db:
            newest, taken = db.execute(sql).fetchone()
        assert int(newest) == int(taken)
        # No token, and no sign-in's answer, is left in a file: operations.md's check wrote lin's whole answer
        # (token and refresh_token) to a fixed name in /tmp, world-readable, and never deleted it.
        assert secrets_left(tmp_path, data / "fieldsync.db", (data, backups)) == []
        # operations.md's check revokes the client it enrolled: run again and again, it locks nobody out.
        with contextlib.closing(sqlite3.connect(data / "fieldsync.db")) as db:
            assert db.execute("SELECT count(*) FROM clients WHERE name = 'ops-check' AND revoked_at IS NULL"
                              ).fetchone() == (0,)
    finally:
        server.stop()


def test_the_docs_sign_in_pasted_again_and_again_enrols_one_client(tmp_path: Path) -> None:
    """Each paste of the README's and api.md's `TOKEN=$(curl … /auth/token …)` enrolled a new client, and a user
    holds at most 10: a reader who pasted it an eleventh time got `429 too_many_clients` and no token, by doing what
    the docs said. Now each doc's first block, up to its `TOKEN=`, pasted twelve times (each in a new shell, as in
    a new terminal), gives a token every time and enrols one client of lin's in all."""
    from tests.e2e.test_readme import README
    from tests.reliability.wire import prepare

    data = tmp_path / "data"
    prepare(data, ["wang"], 1)  # lin, a supervisor, with the demo's password
    server = ServerProcess(data).start()
    try:
        env = example_env(tmp_path)
        for doc, skip in ((README, "<!-- not run by tests/e2e/test_readme.py"), (DOCS[0], SKIP)):
            found = commands(doc.read_text(encoding="utf-8"), skip)
            first = next(n for n, c in enumerate(found) if c.text.startswith("TOKEN="))
            paste = "\n".join(c.text for c in found[:first + 1] if "auth/token" in c.text or "TOKEN=" in c.text)
            paste = paste.replace(SHOWN_SERVER, f"127.0.0.1:{server.port}") + '\necho "token: $TOKEN"'
            for n in range(12):
                run = subprocess.run(["bash", "-c", paste], env=env, capture_output=True, text=True, timeout=60)
                assert re.search(r"^token: \S{20,}$", run.stdout, re.M), f"{doc.name}, paste {n + 1}: {run.stderr}"
        with contextlib.closing(sqlite3.connect(data / "fieldsync.db")) as db:
            held = db.execute("SELECT count(*) FROM clients JOIN users ON users.id = clients.user_id"
                              " WHERE users.username = 'lin' AND clients.revoked_at IS NULL").fetchone()
        assert held == (1,)
    finally:
        server.stop()


def test_the_docs_signin_keeps_its_client_unless_the_server_says_it_is_gone(tmp_path: Path) -> None:
    """The docs' `signin` deleted its kept client id after any failure (a server not up, a wrong password, the
    throttle), so each stop, paste and restart enrolled another client, and a server not up printed two Python
    tracebacks. Now one line and the file kept; a new client only on `client_unavailable`: that client revoked,
    or (a hand-edited file) another user's, which stays as it was. The file holds the id alone, 0600."""
    import hashlib
    import stat

    import httpx

    from tests.e2e.test_readme import README
    from tests.reliability.wire import prepare

    [defined] = {c.text for doc in (README, DOCS[0]) for c in commands(doc.read_text(encoding="utf-8"), SKIP)
                 if c.text.startswith("signin() {")}  # the README's and api.md's are one function
    data = tmp_path / "data"
    prepare(data, ["wang"], 1)  # lin, a supervisor, and wang, a technician, with the demo's password
    server = ServerProcess(data).start()
    env = example_env(tmp_path)
    kept = tmp_path / "home" / ".fieldsync-lin"

    def signin(user: str, address: str = f"127.0.0.1:{server.port}", password: str = "demo") -> \
            subprocess.CompletedProcess[str]:
        script = defined.replace(SHOWN_SERVER, address).replace('\\"demo\\"', f'\\"{password}\\"')
        return subprocess.run(["bash", "-c", f'{script}\nTOKEN=$(signin {user}) && echo "token: $TOKEN"'], env=env,
                              capture_output=True, text=True, timeout=60)

    def holder(run: subprocess.CompletedProcess[str]) -> tuple[str, str, object]:
        """(username, client id, revoked_at) of the token a sign-in printed."""
        token = re.search(r"^token: (\S+)$", run.stdout, re.M)
        assert token, run.stderr
        with contextlib.closing(sqlite3.connect(data / "fieldsync.db")) as db:
            return db.execute("SELECT u.username, c.id, c.revoked_at FROM tokens t JOIN clients c ON c.id = t.client_id"
                              " JOIN users u ON u.id = c.user_id WHERE t.token_hash = ?",
                              [hashlib.sha256(token[1].encode()).hexdigest()]).fetchone()

    try:
        first = holder(signin("lin"))
        assert first[0] == "lin" and kept.read_text() == first[1]  # the client's id, nothing more
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        assert holder(signin("lin"))[1] == first[1]  # pasted again: the same client
        # A server not up, a wrong password: one line each, no traceback, the kept client kept.
        for run, says in ((signin("lin", address="127.0.0.1:1"), "signin: cannot reach the server"),
                          (signin("lin", password="wrong"), "signin: ")):
            assert run.returncode != 0 and "token:" not in run.stdout
            assert len(run.stderr.splitlines()) == 1 and run.stderr.startswith(says), run.stderr
            assert kept.read_text() == first[1]
        # Revoked (a supervisor did, on 登录终端): the server says client_unavailable, and a new one is enrolled.
        token = re.findall(r"^token: (\S+)$", signin("lin").stdout, re.M)[0]
        assert httpx.delete(f"{server.url}/api/clients/{first[1]}", headers={"authorization": f"Bearer {token}"},
                            timeout=10).status_code == 204
        second = holder(signin("lin"))
        assert second[0] == "lin" and second[1] != first[1] and kept.read_text() == second[1]
        # Another user's client id in the file: lin gets one of his own, wang's is untouched.
        wang = holder(signin("wang"))
        kept.write_text(wang[1])
        third = holder(signin("lin"))
        assert third[0] == "lin" and third[1] not in (wang[1], second[1]) and kept.read_text() == third[1]
        assert holder(signin("wang")) == ("wang", wang[1], None)
        assert (tmp_path / "home" / ".fieldsync-wang").read_text() == wang[1]
    finally:
        server.stop()
