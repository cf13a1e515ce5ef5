"""The technician's CLI in Chinese (session 31): which language a run speaks (`--lang`, `FIELDSYNC_LANG`,
the locale, else English), the phone's commands end to end in Chinese and in English, a Chinese listing's
columns and the Chinese help lined up by terminal columns, and one name for one thing with the console."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench._server import ROOT, ServerProcess
from client_sdk.cli import MESSAGES, display_width, main
from client_sdk.cli.main import _parser
from client_sdk.cli.messages import _units, choose, wrap
from server.services import Store
from sync.messages import label, words
from sync.schema import device_check_id, inspection_id
from tests.reliability.wire import INSPECTION, prepare

ZH, EN = words("cli", "zh"), words("cli", "en")


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "cli.db")


# -- which language ---------------------------------------------------------------------------


@pytest.mark.parametrize(("option", "environ", "lang"), [
    (None, {}, "en"),  # nothing says: English, as a server's or a test's C locale
    (None, {"LANG": "C.UTF-8"}, "en"),
    (None, {"LANG": "zh_CN.UTF-8"}, "zh"),
    (None, {"LANG": "zh_TW.UTF-8"}, "zh"),
    (None, {"LANG": "fr_FR.UTF-8"}, "en"),  # a language the catalogue lacks: English
    (None, {"LANG": "zh_CN.UTF-8", "LC_MESSAGES": "en_US.UTF-8"}, "en"),  # LC_MESSAGES before LANG
    (None, {"LC_MESSAGES": "en_US.UTF-8", "LC_ALL": "zh_CN.UTF-8"}, "zh"),  # LC_ALL before both
    (None, {"LC_ALL": "", "LANG": "zh_CN.UTF-8"}, "zh"),  # an empty variable is not set
    (None, {"FIELDSYNC_LANG": "zh", "LANG": "C"}, "zh"),  # FIELDSYNC_LANG before the locale
    (None, {"FIELDSYNC_LANG": "en", "LC_ALL": "zh_CN.UTF-8"}, "en"),
    (None, {"FIELDSYNC_LANG": "klingon", "LANG": "zh_CN.UTF-8"}, "zh"),  # not a language: the locale decides
    ("en", {"FIELDSYNC_LANG": "zh", "LC_ALL": "zh_CN.UTF-8"}, "en"),  # the option before everything
    ("zh", {}, "zh"),
])
def test_the_language_is_the_option_then_fieldsync_lang_then_the_locale_then_english(option, environ, lang):
    assert choose(option, environ) == lang


_ENV_NAMES = st.sampled_from(["FIELDSYNC_LANG", "LC_ALL", "LC_MESSAGES", "LANG", "LANGUAGE", "HOME"])


@given(option=st.one_of(st.none(), st.text(max_size=12), st.sampled_from(["zh", "en"])),
       environ=st.dictionaries(_ENV_NAMES, st.one_of(st.text(max_size=16), st.sampled_from(
           ["zh_CN.UTF-8", "en_US.UTF-8", "C", "zh", "en", ""])), max_size=6))
def test_any_option_and_environment_choose_a_language_of_the_catalogue_and_the_option_wins(option, environ):
    lang = choose(option, environ)
    assert lang in ("zh", "en")
    if option in ("zh", "en"):
        assert lang == option


def test_a_run_speaks_its_language_and_leaves_the_process_as_it_found_it(http, site, db, capsys, monkeypatch):
    # The option, FIELDSYNC_LANG and the locale, in one process: each run chooses anew, and its choice
    # does not leak into what the next run or the next test formats.
    assert main(["--lang", "zh", "--db", db, "login", "wang", "--password", "demo"], http=http) == 0
    assert capsys.readouterr().out.startswith("已登录：Wang（技术员）")
    assert MESSAGES.lang == "en" and MESSAGES["synced"] == EN["synced"]
    monkeypatch.delenv("FIELDSYNC_LANG")
    monkeypatch.setenv("LANG", "zh_CN.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    assert main(["--db", db, "sync"], http=http) == 0
    assert capsys.readouterr().out.startswith("同步完成：上传 0 条修改，下载 4 条记录。")
    assert main(["--db", db, "--lang=en", "outbox"], http=http) == 0
    assert capsys.readouterr().out.startswith("0 change(s) waiting to be sent.")
    monkeypatch.setenv("FIELDSYNC_LANG", "en")
    assert main(["--db", db, "outbox"], http=http) == 0
    assert capsys.readouterr().out.startswith("0 change(s) waiting to be sent.")
    assert main(["--db", db, "--lan", "zh", "outbox"], http=http) == 0  # argparse's abbreviation, too
    assert capsys.readouterr().out.startswith("0 条修改待上传。")


@pytest.mark.parametrize("spelled", [["--lan", "zh"], ["--la=zh"], ["--l", "zh"], ["--lang", "zh"], ["--lang=zh"]])
def test_every_spelling_of_lang_argparse_takes_speaks_from_the_parse_on(spelled, db, capsys, monkeypatch):
    """Regression (phone32 item 2): `--lan zh` ran the command in Chinese, but its parse errors and its help were
    English: the language was looked for before argparse ran, as `--lang` and `--lang=` only, and argparse
    takes every unambiguous prefix of an option. Now argparse reads the options before the command for both."""
    monkeypatch.setenv("FIELDSYNC_LANG", "en")
    with pytest.raises(SystemExit) as exited:
        main([*spelled, "--db", db, "check"])
    assert exited.value.code == 2
    assert "缺少必需的参数：inspection, DEVICE, --outcome" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exited:
        main([*spelled, "--db", db, "outbox", "-h"])
    assert exited.value.code == 0 and capsys.readouterr().out.startswith("用法：fieldsync-client outbox")
    # After the command it is not the CLI's option: the command's own `--l…` is read as the command reads it.
    with pytest.raises(SystemExit):
        main(["--db", db, "devices", "x", "--l", "zh"])
    assert "unrecognized arguments: zh" in capsys.readouterr().err


def test_a_language_the_cli_lacks_is_refused_by_the_option(db, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["--lang", "fr", "--db", db, "outbox"])
    assert exited.value.code == 2 and "--lang" in capsys.readouterr().err


# -- the commands end to end ------------------------------------------------------------------


def test_the_offline_day_in_chinese_in_process(http, site, store: Store, db, capsys):
    store.write_server_changes([("sites", site["site"], {"name": "科峰科技园"}, None)])

    def run(*args: str) -> str:
        assert main(["--lang", "zh", "--db", db, *args], http=http) == 0, capsys.readouterr().err
        return capsys.readouterr().out

    assert run("login", "wang", "--password", "demo").startswith("已登录：Wang（技术员）")
    assert "下载 4 条记录" in run("sync")
    [line] = run("inspections").splitlines()
    assert "科峰科技园" in line and "进行中" in line and "截止 2026-12-20" in line and "0/2" in line
    sheet_no = line.split()[0]
    devices = run("devices", sheet_no)
    assert "视频监控系统" in devices and "球形摄像机" in devices and "已检查 0/2" in devices
    assert run("check", sheet_no, "CAM-001", "--outcome", "fault", "--note", "红外灯不亮").startswith(
        "已记录 CAM-001：故障（待上传，序号 1）。有网络时请运行 `fieldsync-client sync`。")
    out = run("check", sheet_no, "CAM-002", "CAM-001", "--outcome", "serviced")  # CAM-001 has one: kept
    assert "已记录 CAM-002：服务正常（待上传，序号 2）" in out and "跳过 1 台已有检查结果的设备（CAM-001：故障）" in out
    assert run("outbox").startswith("2 条修改待上传。")
    devices = run("devices", sheet_no, "--left")
    assert "2 台中还有 0 台未检查" in devices and f"fieldsync-client complete {sheet_no}" in devices
    assert "同步完成：上传 " in run("sync")
    assert run("outbox").splitlines() == ["0 条修改待上传。", "没有问题。"]
    # The server completed it with its last check; the phone says so rather than completing it again.
    assert run("complete", sheet_no) == f"{sheet_no} 当前状态：已完成，无需操作。\n"
    [line] = run("inspections").splitlines()
    assert "已完成" in line and "2/2" in line

    # A mistake in the command is told in Chinese too, on stderr with status 2.
    assert main(["--lang", "zh", "--db", db, "devices", "PM-1999Q1-9999"], http=http) == 2
    assert capsys.readouterr().err.strip() == "没有与“PM-1999Q1-9999”相符的巡检单。"


@pytest.fixture
def real_server(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "server")
    prepare(server.data, ["wang"], 3)
    server.start()
    yield server
    server.stop()


def cli(db: str, server: ServerProcess, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`fieldsync-client` as a process of its own, in the environment `env` adds to the suite's (whose
    FIELDSYNC_LANG is `en`, tests/conftest.py; an empty value here removes a variable)."""
    environ = {**os.environ, "PYTHONPATH": str(ROOT), "FIELDSYNC_SERVER": server.url, **env}
    done = subprocess.run([sys.executable, "-m", "client_sdk.cli", "--db", db, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={k: v for k, v in environ.items() if v})
    assert "Traceback" not in done.stderr, done.stderr
    return done


def test_a_real_phone_process_speaks_its_locales_chinese_and_english_when_asked(real_server, tmp_path):
    db = str(tmp_path / "phone.db")
    chinese = {"FIELDSYNC_LANG": "", "LC_ALL": "", "LC_MESSAGES": "", "LANG": "zh_CN.UTF-8"}
    done = cli(db, real_server, "login", "wang", "--password", "demo", **chinese)
    assert done.returncode == 0 and done.stdout.startswith("已登录：Wang（技术员）"), done.stderr
    done = cli(db, real_server, "sync", **chinese)
    assert done.returncode == 0 and done.stdout.startswith("同步完成：上传 0 条修改，下载 "), done.stderr
    inspection = INSPECTION
    done = cli(db, real_server, "check", inspection[:8], "CAM-000..CAM-002", "--outcome", "serviced", **chinese)
    assert done.returncode == 0, done.stderr
    assert "已记录 3 台设备（CAM-000 … CAM-002）：服务正常（待上传，序号 " in done.stdout
    waiting = cli(db, real_server, "outbox", **chinese).stdout.split(" ")[0]
    assert waiting.isdigit() and int(waiting) >= 3  # the three checks (and the start they made)
    done = cli(db, real_server, "--lang", "en", "outbox", **chinese)  # the option over the locale
    assert done.stdout.startswith(f"{waiting} change(s) waiting to be sent.")
    done = cli(db, real_server, "outbox", **{**chinese, "FIELDSYNC_LANG": "en"})
    assert done.stdout.startswith(f"{waiting} change(s) waiting to be sent.")
    done = cli(db, real_server, "sync", **chinese)
    assert done.returncode == 0 and done.stdout.startswith(f"同步完成：上传 {waiting} 条修改"), done.stderr
    done = cli(db, real_server, "devices", inspection[:8], **chinese)
    assert "已检查 3/3" in done.stdout and done.stdout.count("服务正常") == 3
    done = cli(db, real_server, "devices", inspection[:8])  # the suite's FIELDSYNC_LANG=en
    assert "3/3 checked" in done.stdout and done.stdout.count("serviced") == 3

    real_server.stop()  # the server gone: the offline message is Chinese, and nothing is lost
    done = cli(db, real_server, "sync", **chinese)
    assert done.returncode == 3 and done.stderr.startswith(f"无法连接服务器 {real_server.url}"), done.stderr
    assert "本机没有你待上传的内容" in done.stderr


# -- the columns -------------------------------------------------------------------------------


def test_a_chinese_listing_lines_up_its_columns_by_terminal_width(http, site, store: Store, db, capsys):
    # Two sites, a Chinese name and an English one, with an inspection each: in Chinese, the status and
    # 截止 columns start at the same terminal column on both lines, as do a device listing's kinds.
    other = str(uuid.uuid5(uuid.NAMESPACE_URL, "fieldsync-test-site-2"))
    store.write_server_changes([
        ("sites", site["site"], {"name": "科峰科技园"}, None),
        ("sites", other, {"name": "Harbour office", "customer": "ACME", "tz": "Asia/Shanghai"}, False),
        ("inspections", inspection_id(other, "2026-Q4"), {"site_id": other, "period": "2026-Q4",
                                                          "status": "completed", "assigned_to": "wang",
                                                          "due_on": "2026-12-21"}, False),
    ])
    store.add_member(other, "wang")
    # Kinds of other widths than characters: 球形摄像机 is 5 characters, 10 columns; PoE交换机 6 and 9.
    store.write_server_changes([("devices", site["cam2"], {"kind": "poe_switch"}, None)])
    assert main(["--db", db, "login", "wang", "--password", "demo"], http=http) == 0
    assert main(["--db", db, "sync"], http=http) == 0
    capsys.readouterr()
    assert main(["--lang", "zh", "--db", db, "inspections"], http=http) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and {"已完成", "进行中"} <= {w for line in lines for w in line.split()}

    def column(line: str, word: str) -> int:
        return display_width(line[:line.index(word)])

    assert column(lines[0], "截止") == column(lines[1], "截止")
    assert column(lines[0], "2026-Q4") == column(lines[1], "2026-Q4")
    status = [column(line, w) for line in lines for w in ("已完成", "进行中") if w in line]
    assert status[0] == status[1]

    assert main(["--lang", "zh", "--db", db, "devices", site["inspection"][:8]], http=http) == 0
    devices = [line for line in capsys.readouterr().out.splitlines() if "CAM-00" in line]
    assert [line.split()[1] for line in devices] == ["球形摄像机", "PoE交换机"]
    assert len({display_width(line.rstrip()[:-1]) for line in devices}) == 1  # the outcome column, `-`


def test_the_chinese_help_of_every_command_fits_the_terminal_and_says_it_in_chinese(monkeypatch):
    # argparse wraps by characters: a Chinese help line of 54 characters took 108 columns of a terminal
    # of 80. Every line of every command's help fits, and the option column still lines up.
    monkeypatch.setenv("COLUMNS", "80")
    before = MESSAGES.use("zh")
    try:
        parser = _parser()
        helps = {"": parser.format_help()}
        subs = next(a for a in parser._actions if a.dest == "command")
        helps.update({name: sub.format_help() for name, sub in subs.choices.items()})  # type: ignore[attr-defined]
    finally:
        MESSAGES.use(before)
    for name, text in helps.items():
        assert text.startswith("用法：fieldsync-client"), name
        assert "选项:" in text and "显示此帮助并退出" in text, name
        # The usage and the list of commands are argparse's, names it does not break, English as Chinese.
        too_wide = [line for line in text.split("\n\n", 1)[1].splitlines() if display_width(line) > 80
                    and not line.strip().startswith("{")]
        assert too_wide == [], name
    usage = helps["check"].split("\n\n")[0].splitlines()
    # The usage's later lines start under the first's arguments: 用法： is 3 characters but 6 columns.
    assert display_width(usage[0][:usage[0].index("[-h]")]) == len(usage[1]) - len(usage[1].lstrip())
    flat = {name: text.replace("\n", "").replace(" ", "") for name, text in helps.items()}
    assert ZH["help_overwrite"][:10] in flat["check"]
    # A choice is typed as stored or by its words (`--outcome fault`, `--outcome 故障`): the Chinese help says
    # which words are which.
    assert "fault故障" in flat["check"] and "not_accessible无法进入" in flat["check"]
    assert "labour人工费" in flat["charge"] and "paused暂停" in flat["event"]
    english = _parser().format_help()  # the test's language, English: its own help, no glossary
    assert "Fault" not in _english_help("check") and "the outcome of the check\n" in _english_help("check")
    assert english.startswith("usage: fieldsync-client") and "options:" in english


def _english_help(command: str) -> str:
    parser = _parser()
    subs = next(a for a in parser._actions if a.dest == "command")
    return str(subs.choices[command].format_help())  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", [10, 24, 40, 80])
def test_wrapping_by_terminal_columns_keeps_every_character_and_no_line_over_the_width(width):
    for text in (ZH["help_item"], ZH["help_overwrite"], EN["help_overwrite"], ZH["help_lang"]):
        lines = wrap(text, width)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")
        assert all(display_width(line) <= width or len(_units(line)) == 1 for line in lines), lines
        assert not any(line[0] in "，。；：、）" for line in lines)  # closing punctuation never starts a line


# -- one thing, one name ------------------------------------------------------------------------


def test_the_chinese_cli_names_things_as_the_console_and_the_sheets_do():
    for milestone in ("on_site", "fix", "restore", "bench_repair", "callback"):
        assert ZH[f"milestone_{milestone}"] == label("milestone", milestone)
    for reason in ("invalid_field", "immutable", "unknown_parent", "incomplete", "forbidden", "sealed"):
        assert ZH[f"reason_{reason}"] == label("conflict_reason", reason)
    assert ZH["bill_declined"] == label("decision", "declined")
    # A technician's phone is 本机 or a 终端, never 设备: that is the equipment at a site (as on the console).
    about_the_phone = ("signed_in", "signed_out", "restored", "never_synced", "no_fees", "offline")
    assert [k for k in about_the_phone if "设备" in ZH[k]] == []
    assert "终端" in ZH["signed_in"] and all("本机" in ZH[k] for k in about_the_phone if k != "signed_in")


def test_a_photo_added_again_names_its_stage_in_chinese(http, site, db, tmp_path, capsys):
    # The stage is a stored value: 维护前 as on the console's photos, not `before` inside a Chinese sentence.
    from PIL import Image

    photo = tmp_path / "cam.jpg"
    Image.new("RGB", (64, 48), (200, 30, 30)).save(photo, "JPEG")
    assert main(["--db", db, "login", "wang", "--password", "demo"], http=http) == 0
    assert main(["--db", db, "sync"], http=http) == 0
    capsys.readouterr()
    ref = site["inspection"][:8]
    assert main(["--lang", "zh", "--db", db, "photo", ref, "CAM-001", str(photo)], http=http) == 0
    assert capsys.readouterr().out.startswith("CAM-001 的照片已排队：")
    assert main(["--lang", "zh", "--db", db, "photo", ref, "CAM-001", str(photo), "--stage", "before",
                 "--caption", "镜头已清洁"], http=http) == 0
    assert capsys.readouterr().out.startswith(
        "CAM-001 的这张照片已经添加过：已更新其记录（拍摄时机：维护前，说明“镜头已清洁”；待上传，序号 ")


# -- after the review (fixphonezh31) --------------------------------------------------------------


def _two_phones_check_cam1(http, site, db: str, other: str, capsys) -> None:
    """This phone records CAM-001 serviced (note `first`), the other phone fault (`second`) a moment later;
    the other phone syncs first, so this phone's check loses to the newer one."""
    for phone in (db, other):
        assert main(["--db", phone, "login", "wang", "--password", "demo"], http=http) == 0
        assert main(["--db", phone, "sync"], http=http) == 0
    insp = site["inspection"]
    assert main(["--db", db, "check", insp, "CAM-001", "--outcome", "serviced", "--note", "first"], http=http) == 0
    assert main(["--db", other, "check", insp, "CAM-001", "--outcome", "fault", "--note", "second"], http=http) == 0
    assert main(["--db", other, "sync"], http=http) == 0
    capsys.readouterr()


def test_a_lost_check_names_the_outcome_now_held_in_chinese(http, site, db, tmp_path, capsys):
    # Regression (fixphonezh31, item 1): the notice after a sync read 现为 fault: second, the stored value
    # inside a Chinese sentence; it names the outcome as `devices` and the console do, 故障.
    _two_phones_check_cam1(http, site, db, str(tmp_path / "other.db"), capsys)
    assert main(["--lang", "zh", "--db", db, "sync"], http=http) == 0
    [notice] = [line for line in capsys.readouterr().out.splitlines() if "CAM-001" in line]
    assert "现为 故障" in notice and "fault" not in notice and "检查人 wang" in notice, notice


def test_the_chinese_conflict_list_names_fields_and_choices_as_the_console_and_a_refusal_its_reason(
        http, site, db, tmp_path, capsys, wang):
    # Regression (fixphonezh31, items 2 and 3): the Chinese list read `result` in its column and
    # `你的 checked_at …, note “first”, outcome “serviced” 被 wang 的 … outcome “fault” 覆盖`; the console shows the
    # same entry as 检查结果 and 结果：故障；检查时间：…. And d2d368a's reason of a refused change, 值不被接受,
    # had no test: wang's own client pushes an outcome no check may have.
    _two_phones_check_cam1(http, site, db, str(tmp_path / "other.db"), capsys)
    assert main(["--db", db, "sync"], http=http) == 0
    refused = wang.change("device_checks", device_check_id(site["inspection"], site["cam2"]), {
        "inspection_id": site["inspection"], "device_id": site["cam2"], "outcome": "exploded"}, delete=False)
    [result] = wang.push([refused]).json()["results"]
    assert (result["status"], result["reason"]) == ("rejected", "invalid_field")
    capsys.readouterr()
    assert main(["--lang", "zh", "--db", db, "conflicts"], http=http) == 0
    out = capsys.readouterr().out
    logged = [line for line in out.splitlines() if not line.startswith("  #")]  # not `outbox`'s problem lines
    [lost] = [line for line in logged if " 被覆盖 " in line]
    assert " CAM-001 " in lost and " 检查结果 " in lost and " result " not in lost, lost
    assert "结果：服务正常；备注：“first”" in lost and "结果：故障；备注：“second”" in lost, lost
    assert "检查时间：“" in lost and not {"outcome", "note", "checked_at", "serviced", "fault"} & set(
        lost.replace("“", " ").replace("”", " ").replace("：", " ").replace("；", " ").split()), lost
    [rejected] = [line for line in logged if " 被拒绝 " in line]
    assert " 值不被接受：" in rejected and "invalid_field" not in rejected, rejected
    # The English list keeps the names and values as stored, the words `check --outcome` takes.
    assert main(["--db", db, "conflicts"], http=http) == 0
    english = capsys.readouterr().out
    [lost] = [line for line in english.splitlines() if " lost " in line]
    assert " result " in lost and "outcome serviced, note “first”" in lost and "outcome fault" in lost, lost
    [rejected] = [line for line in english.splitlines() if " rejected " in line]
    assert "invalid_field: " in rejected, rejected


def test_the_chinese_outbox_devices_and_checklists_name_stored_values_and_separate_as_chinese_does(
        http, site, store: Store, db, tmp_path, capsys):
    # Regression (fixphonezh31, item 5): `devices --checklist` named kinds as stored under Chinese lines
    # (bullet_camera：没有检查表); `outbox`'s problem line kept `superseded` and `device_checks`; an ASCII `: `
    # stood between an outcome and its note (故障: second).
    store.write_server_changes([("checklist_templates", str(uuid.uuid5(uuid.NAMESPACE_URL, "template-dome")), {
        "kind": "dome_camera", "title": "球机巡检", "items": '[{"key": "lens_cleaned", "label": "Lens wiped clean",'
        ' "label_zh": "镜头已擦拭", "type": "bool"}]'}, False)])
    _two_phones_check_cam1(http, site, db, str(tmp_path / "other.db"), capsys)

    def run(*args: str) -> str:
        assert main(["--lang", "zh", "--db", db, *args], http=http) == 0, capsys.readouterr().err
        return capsys.readouterr().out

    assert "（现为 故障：second，检查人 wang）" in run("sync")
    [problem] = [line for line in run("outbox").splitlines() if line.startswith("  #")]
    assert " 被覆盖 " in problem and " 检查记录 " in problem, problem
    assert "superseded" not in problem and "device_checks" not in problem, problem
    devices = run("devices", site["inspection"][:8], "--checklist")
    assert "故障：second" in devices and ": " not in devices, devices
    assert "  球形摄像机：球机巡检" in devices and "  枪式摄像机：没有检查表" in devices, devices
    assert "dome_camera" not in devices and "bullet_camera" not in devices, devices
    # The same in English: as stored, `: ` between outcome and note, as the commands take them.
    assert main(["--db", db, "devices", site["inspection"][:8], "--checklist"], http=http) == 0
    english = capsys.readouterr().out
    assert "fault: second" in english and "  dome_camera: 球机巡检" in english and "  bullet_camera: no checklist" in english
    assert main(["--db", db, "outbox"], http=http) == 0
    assert " superseded " in capsys.readouterr().out


def test_the_language_option_goes_before_the_command_as_the_readme_says(db, capsys):
    # README: `--lang zh|en` before the command, as `--db`; after it, argparse refuses it (exit 2), in the
    # language it names (the refusal's words are argparse's, in the catalogue's Chinese since phonezh31b).
    readme = (ROOT / "README.md").read_text()
    assert "`--lang zh|en` before the command" in readme and "fieldsync-client --lang zh outbox" in readme
    with pytest.raises(SystemExit) as exited:
        main(["--db", db, "outbox", "--lang", "zh"])
    assert exited.value.code == 2 and "无法识别的参数：--lang zh" in capsys.readouterr().err


def test_every_collection_and_problem_status_has_chinese_words_and_english_keeps_it_as_stored():
    # A collection added to the schema without words would show as stored in a Chinese `outbox`.
    from client_sdk.outbox import _STATUS
    from sync.schema import COLLECTIONS

    statuses = {"superseded", "rejected", "applied", *_STATUS.values()}
    for key in [f"collection_{c}" for c in COLLECTIONS] + [f"problem_{s}" for s in statuses]:
        assert EN[key] == key.partition("_")[2] and ZH[key] != EN[key] and not ZH[key].isascii(), key
    for reason in {r for _, r in _STATUS}:
        assert EN[f"problem_reason_{reason}"] == reason and not ZH[f"problem_reason_{reason}"].isascii()
