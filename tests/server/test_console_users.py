"""The console's users page at company scale (s29-userspage).

Before, `/console/users` held every technician's sites, each with its remove form, and a password and
disable form per user: at 1,000 sites and 100 technicians of 12 sites each, 827 KB and 1,413 forms, in which
a supervisor could not find anyone. Now the list is a list (each user's number of sites, a link to his page,
a filter by name and role) and each user's page holds his sites and the forms. Membership changes on that
page are tested in test_console_members.py; the flow in chromium in tests/console/test_console_members.py.
"""

from __future__ import annotations

import re
import uuid

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


def _options(html: str) -> list[str]:
    form = html.split('id="add-site"', 1)[1].split("</form>", 1)[0] if 'id="add-site"' in html else ""
    return re.findall(r'<option value="[^"]+">([^<]*)</option>', form)


def test_a_users_add_site_select_lists_the_first_sites_and_a_search_finds_the_others(site, store: Store, lin):
    # Regression (session 30, office30, item 4): a technician's page offered every site of the company he was
    # not a member of in one select (1,000 options, 89 KB at company scale). It lists the first 50 by name and
    # says how many more; a search box (a part of the site's name or customer, any case, as the users list's)
    # narrows them, without JavaScript (the console has none).
    store.write_server_changes([
        ("sites", str(uuid.uuid5(uuid.NAMESPACE_URL, f"park-{n}")),
         {"name": f"园区{n:03d}", "customer": "华东医院" if n % 10 == 3 else "某公司", "tz": "Asia/Shanghai"}, False)
        for n in range(120)])
    wang = page(lin, "/console/users/wang").text
    assert _options(wang) == [f"园区{n:03d}（{'华东医院' if n % 10 == 3 else '某公司'}）" for n in range(50)]
    assert "还有 70 个现场未列出" in wang and 'id="find-site"' in wang
    assert _options(page(lin, "/console/users/wang", q="园区07").text) == [f"园区07{n}（{'华东医院' if n == 3 else '某公司'}）"
                                                                        for n in range(10)]
    found = page(lin, "/console/users/wang", q=" 华东 ").text  # the customer's name, stripped
    assert len(_options(found)) == 12 and "还有" not in found and 'value="华东"' in found
    none = page(lin, "/console/users/wang", q='<b>"x"</b>').text
    assert _options(none) == [] and "没有名称或客户含“&lt;b&gt;&#34;x&#34;&lt;/b&gt;”、可添加的现场。" in none
    assert page(lin, "/console/users/wang", q="x" * 65).status_code == 400
    # A few sites: the select holds them all, and no search box.
    store.create_user("sun", "孙工", "technician", "demo", demo=True,
                      sites=[str(uuid.uuid5(uuid.NAMESPACE_URL, f"park-{n}")) for n in range(75)])
    sun = page(lin, "/console/users/sun").text
    assert len(_options(sun)) == 46 and 'id="find-site"' not in sun and 'id="more-sites"' not in sun


def test_a_user_page_is_403_to_the_desk_and_technicians_whoever_it_names(site, wang, chen):
    # Walked (session 30, office30, item 5), not changed: a user page answers the desk and technicians 403 as
    # the users list and the API's PATCH /api/users/{username} do (an action of another role, docs/security.md),
    # for an account that exists and one that does not alike, so it tells them nothing of who has an account.
    # Users are not an object of a site's scope, where a 404 would hide another site's.
    for session in (wang, chen):
        for username in ("lin", "wang", "nobody"):
            assert page(session, f"/console/users/{username}").status_code == 403, (session, username)
            assert session.http.patch(f"/api/users/{username}", headers=session.headers,
                                      json={"disabled": False}).status_code == 403, (session, username)
