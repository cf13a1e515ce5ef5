"""The one message catalogue (sync/messages/): every section complete, every stored value worded."""

from __future__ import annotations

import string

import pytest

from sync import schema
from sync.messages import LANGS, SECTIONS, label, language, values, words
from sync.rules import DELETED

# Fields with listed choices shown as stored: a photo's content type and whether its blob is stored.
AS_STORED = {"photos.content_type", "photos.blob"}


@pytest.mark.parametrize("lang", LANGS)
def test_every_value_the_schema_allows_has_words_in_every_language(lang):
    table = words("values", lang)
    missing = []
    for where, group in values.GROUPS.items():
        collection, name = where.split(".")
        found = schema.COLLECTIONS[collection].field(name)
        assert found is not None and found.choices, (collection, name)
        missing += [f"{group}.{v}" for v in found.choices if f"{group}.{v}" not in table]
    assert missing == []


@pytest.mark.parametrize("lang", LANGS)
def test_every_register_has_a_name_in_words(lang):
    # Regression (s28-conflictwords): the conflict log's 字段 column (and a group's values) showed `deleted`,
    # `amount_fen`, `verification`, `retracted_at` as stored; every field, group and the deletion register
    # of every collection has its words.
    table = words("values", lang)
    names = {n for spec in schema.COLLECTIONS.values() for n in [*spec.fields, *spec.groups]} | {DELETED}
    assert sorted(n for n in names if f"field.{n}" not in table) == []


def test_every_field_with_listed_choices_has_its_group_of_words():
    # Regression (s28-conflictwords): the conflict log showed a device's `retired` and an event's `clamped`
    # as stored on the Chinese page; every such field is now in `values.GROUPS` or shown as stored on purpose.
    listed = {f"{c}.{n}" for c, spec in schema.COLLECTIONS.items() for n, f in spec.fields.items() if f.choices}
    assert listed - AS_STORED == set(values.GROUPS)


def test_a_value_without_words_shows_as_stored_and_the_same_value_reads_the_same_everywhere():
    assert label("outcome", "serviced") == "服务正常" and label("outcome", "serviced", "en") == "Serviced"
    assert label("outcome", "unheard_of") == "unheard_of"
    assert label("outcome", "fault", "xx") == "故障"  # an unknown language is Chinese


@pytest.mark.parametrize("section", [s for s, m in SECTIONS.items() if hasattr(m, "ZH") and hasattr(m, "EN")])
def test_a_section_in_two_languages_has_the_same_keys_and_placeholders_in_both(section):
    zh, en = SECTIONS[section].ZH, SECTIONS[section].EN
    assert zh.keys() == en.keys()
    assert all(zh.values()) and all(en.values())

    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    assert [k for k in zh if fields(zh[k]) != fields(en[k])] == []


def test_a_missing_translation_falls_back_to_chinese_and_the_switch_picks_the_first_known_language():
    assert words("sheets", "en")["inspection_title"] == "定期维护单"
    assert words("cli", "zh")["synced"].startswith("同步完成") and words("cli", "en")["synced"].startswith("Synced")
    assert language(None, "en") == "en" and language("fr", None) == "zh" and language("zh", "en") == "zh"


def test_the_consoles_areas_define_each_word_once():
    # Merging the console's pages (issue 14) found the same key with two words in two areas (`role` 身份 and
    # 角色, `visits` 上门服务 and 上门次数): the later silently won in one page's table. One key, one word.
    from sync.messages.console import AREAS

    for lang in ("ZH", "EN"):
        seen: dict[str, str] = {}
        twice = [(key, seen.setdefault(key, area.__name__), area.__name__)
                 for area in AREAS for key in getattr(area, lang) if seen.setdefault(key, area.__name__) != area.__name__]
        assert twice == [], lang


def test_the_outcome_words_do_not_read_alike():
    # Regression (s27-office5, the supervisor's walk): a skipped device read 未检 beside 未检查 for one
    # never checked, on the site's counts and the printed sheet: a supervisor asking what is wrong with
    # the rest could not tell a device the technician chose to skip from one nobody reached.
    from sync.messages import label, words

    for lang in ("zh", "en"):
        shown = [label("outcome", o, lang) for o in ("serviced", "fault", "not_accessible", "skipped", "not_checked")]
        assert not [(a, b) for a in shown for b in shown if a != b and (a in b or b in a)], shown
    assert label("outcome", "skipped") == "已跳过"
    counts = words("sheets")["counts"]
    assert f"{label('outcome', 'skipped')} {{skipped}}" in counts and "未检查 {not_checked}" in counts


def test_a_client_is_never_called_a_device_in_chinese():
    # Regression (s28, noticed by members): the console's clients page and its refusals called a technician's
    # phone 设备 (登录设备, 设备已吊销, 该账号登录的设备过多), the word every other page uses for the equipment at a
    # site (设备编号, 设备清单): a supervisor reading 设备已吊销 could take a camera for revoked. A client is 终端.
    console = words("console", "zh")
    about_clients = {k: v for k, v in console.items() if "client" in k}
    assert len(about_clients) >= 5
    assert {k: v for k, v in about_clients.items() if "设备" in v} == {}
    assert all("终端" in v for k, v in about_clients.items() if k in ("nav_clients", "clients", "done_revoked"))
