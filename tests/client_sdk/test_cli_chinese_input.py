"""The technician's CLI takes what a Chinese technician types (session 31, phonezh31b): a listed choice by its
Chinese words as well as stored (`--outcome 故障` is `fault`, before anything is stored or sent), and argparse's
own error lines in the CLI's language (English unchanged), exit status 2 as before."""

from __future__ import annotations

import argparse
import gettext
import inspect
import json
import re
import sqlite3
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench._server import ROOT
from client_sdk.cli import MESSAGES, main
from client_sdk.cli.main import _parser
from client_sdk.cli.messages import ARGPARSE, Choice
from server.services import Store
from sync.messages import label, words
from sync.schema import device_check_id

ZH, EN = words("cli", "zh"), words("cli", "en")


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "cli.db")


def _options_with_choices(lang: str) -> dict[str, argparse.Action]:
    """Every option (and positional) of every command that lists its choices, by `command option`; not
    `--lang` (zh, en are their own words) nor the command itself."""
    before = MESSAGES.use(lang)
    try:
        parser = _parser()
    finally:
        MESSAGES.use(before)
    subs = next(a for a in parser._actions if a.dest == "command")
    found = {}
    for name, command in subs.choices.items():  # type: ignore[union-attr]
        for action in command._actions:
            if action.choices is not None:
                found[f"{name} {action.dest}"] = action
    return found


# -- a choice by its words -----------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_option_with_choices_takes_every_chinese_word_of_its_choices_and_gives_the_stored_value(lang):
    # Exhaustive over the parser and the catalogue: a choice added to a command without its words in `values`
    # fails here (label() gives the value as stored), as does an option of choices that only takes them stored.
    options = _options_with_choices(lang)
    assert {"check outcome", "charge item", "event kind", "event reason", "report outcome", "report void",
            "new-request kind", "duty-call outcome", "photo stage", "sign role", "sign-visit role"} <= set(options)
    for name, action in options.items():
        assert isinstance(action.type, Choice), name
        said = {choice: label(action.type.group, choice, "zh") for choice in action.choices}  # type: ignore[union-attr]
        assert all(w != c and not w.isascii() for c, w in said.items()), (name, said)
        assert len(set(said.values())) == len(said), (name, said)  # one word, one choice
        for choice, word in said.items():
            # Typed by its words, as stored, with a stray space or in capitals: always the stored value.
            for typed in (word, f" {word}\t", choice, choice.upper()):
                assert action.type(typed) == choice, (name, typed)


def test_the_chinese_help_says_a_choice_is_typed_either_way():
    before = MESSAGES.use("zh")
    try:
        text = _options_with_choices("zh")["check outcome"].help
    finally:
        MESSAGES.use(before)
    assert text == "检查结果（代码或中文均可）：serviced 服务正常，fault 故障，not_accessible 无法进入，skipped 已跳过"


_OUTCOME = Choice("outcome", ("serviced", "fault", "not_accessible", "skipped"))


_TYPED = {**{c: c for c in _OUTCOME.choices}, **{label("outcome", c, "zh"): c for c in _OUTCOME.choices}}


@given(st.one_of(
    st.tuples(st.sampled_from(sorted(_TYPED)), st.sampled_from(["", " ", "  ", "\t"]), st.booleans()).map(
        lambda t: (f"{t[1]}{t[0].upper() if t[2] else t[0]}{t[1]}", _TYPED[t[0]])),
    st.text(max_size=12).map(lambda t: (t, None))))
def test_a_choice_gives_a_stored_value_or_refuses_so_no_chinese_choice_goes_further(case):
    # A stored value or its words, padded or in capitals, give that stored value (review of phonezh31b: plain
    # text alone never drew one); anything else is refused or is a known choice, and what is given is ASCII.
    text, expected = case
    try:
        stored = _OUTCOME(text)
    except argparse.ArgumentTypeError:
        assert expected is None
    else:
        assert stored in _OUTCOME.choices and stored.isascii()
        assert expected is None or stored == expected


def test_a_refused_choice_is_one_line_in_either_language_whatever_was_typed():
    # The Chinese refusal printed what was typed as it was: a newline broke the one line, an escape code
    # reached the terminal (review of phonezh31b).
    for lang in ("zh", "en"):
        before = MESSAGES.use(lang)
        try:
            with pytest.raises(argparse.ArgumentTypeError) as refused:
                _OUTCOME("fa\nult\x1b[31m")
        finally:
            MESSAGES.use(before)
        assert "\n" not in str(refused.value) and "\x1b" not in str(refused.value)
        assert ("无效的选择" if lang == "zh" else "invalid choice") in str(refused.value)


def test_the_hand_written_choice_helps_list_every_word_the_option_takes():
    for key, group, choices in (("help_stage", "stage", ("before", "after", "evidence")),
                                ("help_role", "signer_role", ("customer", "technician"))):
        text = words("cli", "zh")[key]
        assert "代码或中文均可" in text
        assert all(c in text and label(group, c, "zh") in text for c in choices)


def _local_text(db: str) -> str:
    """Everything the phone's database holds of its rows and outbox, as one text."""
    with sqlite3.connect(db) as conn:
        return repr([conn.execute(f"SELECT * FROM {table}").fetchall() for table in ("rows", "outbox")])


def test_a_check_typed_in_chinese_words_is_stored_and_sent_as_stored(http, site, store: Store, db, capsys):
    # End to end, in English: `--outcome 故障` records `fault` on the phone, in its outbox and on the server;
    # no 故障 anywhere but on the screen.
    insp = site["inspection"]
    assert main(["--db", db, "login", "wang", "--password", "demo"], http=http) == 0
    assert main(["--db", db, "sync"], http=http) == 0
    capsys.readouterr()
    assert main(["--db", db, "check", insp, "CAM-001", "--outcome", "故障", "--note", "红外灯不亮"], http=http) == 0
    assert capsys.readouterr().out.startswith("Recorded CAM-001: fault")
    local = _local_text(db)
    assert "红外灯不亮" in local and "故障" not in local  # the note as typed: the text is not escaped
    assert re.search(r"""["']outcome["']: ?["']fault["']""", local), local
    assert main(["--db", db, "sync"], http=http) == 0
    with store.read() as conn:
        [fields] = conn.execute("SELECT fields FROM rows WHERE collection = 'device_checks' AND id = ?",
                                [device_check_id(insp, site["cam1"])]).fetchone()
    held = fields if isinstance(fields, dict) else json.loads(fields)  # PostgreSQL's jsonb, SQLite's text
    assert held["outcome"] == "fault" and held["note"] == "红外灯不亮"


def test_a_word_no_choice_has_is_refused_naming_the_choices_in_the_language_and_nothing_is_stored(http, site, db,
                                                                                                 capsys):
    insp = site["inspection"]
    assert main(["--db", db, "login", "wang", "--password", "demo"], http=http) == 0
    assert main(["--db", db, "sync"], http=http) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main(["--lang", "zh", "--db", db, "check", insp, "CAM-001", "--outcome", "故"], http=http)
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert "参数 --outcome：无效的选择：'故'（可选：serviced 服务正常，fault 故障，" in err, err
    with pytest.raises(SystemExit) as exited:
        main(["--db", db, "check", insp, "CAM-001", "--outcome", "broken"], http=http)
    err = capsys.readouterr().err
    assert exited.value.code == 2
    # English as argparse said it before the words were taken.
    assert ("argument --outcome: invalid choice: 'broken' (choose from 'serviced', 'fault', 'not_accessible', "
            "'skipped')") in err, err
    assert main(["--db", db, "outbox"], http=http) == 0
    assert capsys.readouterr().out.startswith("0 change(s) waiting to be sent.")


# -- argparse's own lines ------------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "chinese", "english"), [
    (["check", "PM-1"], "fieldsync-client check：错误：缺少必需的参数：DEVICE, --outcome",
     "fieldsync-client check: error: the following arguments are required: DEVICE, --outcome"),
    (["chek"], "fieldsync-client：错误：参数 command：无效的选择：'chek'（可选：'login', ",
     "fieldsync-client: error: argument command: invalid choice: 'chek' (choose from 'login', "),
    (["outbox", "--all"], "fieldsync-client：错误：无法识别的参数：--all",
     "fieldsync-client: error: unrecognized arguments: --all"),
    (["check", "PM-1", "CAM-001", "--outcome"], "fieldsync-client check：错误：参数 --outcome：需要一个值",
     "fieldsync-client check: error: argument --outcome: expected one argument"),
    (["charge", "V-1", "labour", "two"], "fieldsync-client charge：错误：参数 quantity：无效的 int 值：'two'",
     "fieldsync-client charge: error: argument quantity: invalid int value: 'two'"),
    (["charge", "V-1", "labour", "2", "--agreed", "--declined"],
     "fieldsync-client charge：错误：参数 --declined：不能与参数 --agreed 同时使用",
     "fieldsync-client charge: error: argument --declined: not allowed with argument --agreed"),
])
def test_argparses_own_error_lines_are_chinese_in_chinese_english_unchanged_and_exit_2(argv, chinese, english, db,
                                                                                     capsys):
    for lang, line in (("zh", chinese), ("en", english)):
        with pytest.raises(SystemExit) as exited:
            main(["--lang", lang, "--db", db, *argv])
        err = capsys.readouterr().err
        assert exited.value.code == 2
        assert line in err, err
        assert err.startswith("用法：" if lang == "zh" else "usage: "), err
        # The parse over, argparse is as Python has it: another parser in the process speaks English.
        assert argparse._ is gettext.gettext and argparse.ngettext is gettext.ngettext  # type: ignore[attr-defined]


def test_the_catalogues_argparse_lines_are_argparses_own_messages_with_the_same_placeholders():
    # The English of each is the message argparse looks up: a Python that rewords one fails here rather than
    # leaving that line English in Chinese without a word said.
    source = inspect.getsource(argparse)
    placeholders = re.compile(r"%(?:\(\w+\))?[sr]")
    for key in ARGPARSE:
        assert repr(EN[key]) in source, key
        assert sorted(placeholders.findall(ZH[key])) == sorted(placeholders.findall(EN[key])), key
        assert not ZH[key].replace("%s", "").replace("%r", "").isascii(), key


def test_the_readme_says_argparses_lines_follow_the_language(db, capsys):
    # README: `--lang` before the command; after it, argparse refuses it (exit 2), in the CLI's language.
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "argparse's own error lines (an unknown option, a missing argument) are in that language too" in readme
    assert "`--outcome 故障` is `--outcome fault`" in readme
    for lang, line in (("zh", "无法识别的参数：--lang zh"), ("en", "unrecognized arguments: --lang zh")):
        with pytest.raises(SystemExit) as exited:
            main(["--db", db, "--lang", lang, "outbox", "--lang", "zh"])
        assert exited.value.code == 2 and line in capsys.readouterr().err
