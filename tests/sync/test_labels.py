"""The printed sheets' words (sync/labels.py): every value the schema lets a sheet show has Chinese words."""

from sync import schema
from sync.labels import ZH, label


def test_every_outcome_system_and_role_the_schema_allows_has_chinese_words():
    groups = {"outcome": ("device_checks", "outcome"), "system": ("devices", "system"),
              "signer_role": ("signatures", "signer_role"), "decision": ("charge_lines", "decision"),
              "visit_outcome": ("service_visits", "outcome"), "channel": ("service_requests", "channel")}
    missing = []
    for group, (collection, name) in groups.items():
        found = schema.COLLECTIONS[collection].field(name)
        assert found is not None and found.choices, (collection, name)
        missing += [f"{group}.{v}" for v in found.choices if f"{group}.{v}" not in ZH]
    assert missing == []
    assert label("outcome", "serviced") == "服务正常" and label("outcome", "unheard_of") == "unheard_of"
