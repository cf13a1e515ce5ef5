"""The console's users page at company scale (s29-userspage).

Before, `/console/users` held every technician's sites, each with its remove form, and a password and
disable form per user: at 1,000 sites and 100 technicians of 12 sites each, 827 KB and 1,413 forms, in which
a supervisor could not find anyone. Now the list is a list (each user's number of sites, a link to his page,
a filter by name and role) and each user's page holds his sites and the forms. Membership changes on that
page are tested in test_console_members.py; the flow in chromium in tests/console/test_console_members.py.
"""

from __future__ import annotations

import re

from server.services import Store
from tests.conftest import OTHER_SITE, SITE
from tests.server.test_console_office import page, post

TECHNICIANS = 30


def _technicians(store: Store) -> None:
    for n in range(TECHNICIANS):
        store.create_user(f"tech{n:02d}", f"技术员{n:02d}", "technician", "demo", demo=True, sites=[SITE])


def _listed(html: str) -> list[str]:
    return re.findall(r'<tr data-user="([^"]+)">', html)


def test_the_users_list_holds_no_site_form_and_links_each_user_to_his_page(site, store: Store, lin):
    # Regression (s29-userspage): the list held a remove form for each technician's every site and a password
    # form for each user (1,413 forms at company scale); it holds the filter and the new-user form only.
    _technicians(store)
    listed = page(lin, "/console/users").text
    assert len(_listed(listed)) == TECHNICIANS + 4
    assert listed.count("<form") == 4  # the header's search box and sign-out, the filter, the new user
    assert "/console/memberships" not in listed and "/password" not in listed and "/disabled" not in listed
    row = listed.split('data-user="tech07"', 1)[1].split("</tr>", 1)[0]
    assert '<a href="/console/users/tech07">tech07</a>' in row and "<td>1</td>" in row  # his one site, counted
    assert "显示 34 个用户（共 34 个）" in listed


def test_a_supervisor_finds_a_user_by_a_part_of_his_name_or_username_and_by_role(site, store: Store, lin):
    _technicians(store)
    assert _listed(page(lin, "/console/users", q="技术员07").text) == ["tech07"]
    assert _listed(page(lin, "/console/users", q=" TECH1 ").text) == [f"tech1{n}" for n in range(10)]  # any case
    assert _listed(page(lin, "/console/users", q="Wang").text) == ["wang"]
    assert _listed(page(lin, "/console/users", role="service_desk").text) == ["chen"]
    assert _listed(page(lin, "/console/users", role="supervisor", q="tech").text) == []
    none = page(lin, "/console/users", q="nobody").text
    assert 'id="no-users"' in none and "没有符合条件的用户" in none and 'value="nobody"' in none


def test_a_bad_filter_is_a_400_page_naming_it(site, lin):
    for params in ({"role": "admin"}, {"q": "x" * 65}):
        r = page(lin, "/console/users", **params)
        assert r.status_code == 400 and "invalid_filter" in r.text, params


def test_a_users_page_holds_his_forms_and_an_unknown_one_is_404(site, store: Store, lin):
    assert 'id="nothing-to-add"' in page(lin, "/console/users/wang").text  # a member of every site: said so
    store.write_server_changes([("sites", OTHER_SITE, {"name": "Other park", "tz": "Asia/Shanghai"}, False)])
    wang = page(lin, "/console/users/wang").text
    for form in ('action="/console/users/wang/disabled"', 'action="/console/users/wang/password"',
                 'action="/console/memberships/remove"', 'id="add-site"'):
        assert form in wang, form
    own = page(lin, "/console/users/lin").text
    assert "/disabled" not in own and 'id="all-sites"' in own  # not himself; a supervisor sees every site
    assert post(lin, "/console/users/zhao/disabled", {"disabled": "true"}).headers["location"] == (
        "/console/users/zhao?done=disabled")
    zhao = page(lin, "/console/users/zhao", done="disabled").text
    assert "用户已停用" in zhao and 'id="add-site"' not in zhao and 'id="no-add"' in zhao
    for username in ("nobody", "u" * 65):
        assert page(lin, f"/console/users/{username}").status_code == 404, username


def test_a_sites_members_link_to_their_pages_for_a_supervisor_only(site, lin, chen):
    # The way back from a site to a technician's other sites: his name on the site page's 成员 opens his page.
    members = page(lin, f"/console/sites/{SITE}").text.split('id="member-list"', 1)[1].split("</table>", 1)[0]
    assert '<a href="/console/users/wang">Wang</a>' in members
    assert "/console/users/" not in page(chen, f"/console/sites/{SITE}").text  # the desk has no users pages
