from sync.schema import device_check_id


def test_push_then_pull_round_trip(site, wang, lin):
    check = device_check_id(site["inspection"], site["cam1"])
    r = wang.push([wang.change("device_checks", check, {
        "inspection_id": site["inspection"], "device_id": site["cam1"], "outcome": "serviced",
        "checked_by": "wang", "checked_at": "2026-11-20T10:15:00.000Z", "item.lens_cleaned": True}, delete=False)])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["acked_seq"] == 1 and body["results"][0]["status"] == "applied"
    rows = {row["id"]: row for row in lin.pull().json()["rows"]}
    assert rows[check]["fields"]["outcome"] == "serviced"
    assert rows[check]["fields"]["item.lens_cleaned"] is True
    assert "note" not in rows[check]["fields"]
