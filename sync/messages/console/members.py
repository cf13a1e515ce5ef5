"""The console's words for who works at a site: the site page's members, the users page's sites (session 28)."""

from __future__ import annotations

ZH: dict[str, str] = {
    "members": "成员",
    "no_members": "该现场还没有技术员。",
    "member_disabled": "（账号已停用）",
    "member_open_work": "未完成：服务请求 {requests} 个，巡检单 {inspections} 张",
    "add_member": "添加技术员",
    "no_addable": "没有可添加的技术员（账号未停用、尚非本现场成员）。",
    "add": "添加",
    "remove_member": "移出",
    "done_member_added": "已将 {name} 加入 {site}：其手机下次同步时会收到该现场。",
    "done_member_already": "{name} 已是 {site} 的成员，未做更改。",
    "done_member_removed": "已将 {name} 移出 {site}：其手机下次同步时会移除该现场。派给他的工作不会自动改派。",
    "done_member_not_member": "{name} 不是 {site} 的成员，未做更改。",
    "stranded": "派给非本现场成员（已移出或账号已停用）的未完成工作：未自动改派，请逐一改派",
    "stranded_of": "派给 {name}：",
    "no_technician_left": "该现场已没有可派单的技术员：请先添加一名技术员，再改派下列工作。",
    "more_open_requests": "未完成的服务请求多于 {limit} 个，以上只按前 {limit} 个统计：",
    "all_open_requests": "该现场全部未完成的服务请求",
    "member_no_user": "没有这个用户，未做更改。",
    "member_no_site": "没有这个现场，未做更改。",
    "member_not_technician": "只有技术员能成为现场成员（主管和客服本就能看到所有现场），未做更改。",
    "member_user_disabled": "该技术员的账号已停用，不能加入现场：请先在用户页重新启用，未做更改。",
    "add_site": "给技术员添加现场",
    "see_site_members": "查看该现场的成员与工作",
}

EN: dict[str, str] = {
    "members": "Members",
    "no_members": "No technician works at this site yet.",
    "member_disabled": " (account disabled)",
    "member_open_work": "Open: {requests} service requests, {inspections} inspections",
    "add_member": "Add a technician",
    "no_addable": "No technician to add (enabled and not yet a member here).",
    "add": "Add",
    "remove_member": "Remove",
    "done_member_added": "{name} was added to {site}: their phone receives the site at its next sync.",
    "done_member_already": "{name} is already a member of {site}; nothing changed.",
    "done_member_removed": "{name} was removed from {site}: their phone removes the site at its next sync."
                           " Work assigned to them is not reassigned.",
    "done_member_not_member": "{name} is not a member of {site}; nothing changed.",
    "stranded": "Open work assigned to someone who is not a member here (removed, or account disabled):"
                " not reassigned; please reassign each",
    "stranded_of": "Assigned to {name}:",
    "no_technician_left": "No technician can be assigned at this site now: add one first, then reassign this work.",
    "more_open_requests": "More than {limit} open service requests; the above counts the first {limit}:",
    "all_open_requests": "every open service request of the site",
    "member_no_user": "No such user; nothing changed.",
    "member_no_site": "No such site; nothing changed.",
    "member_not_technician": "Only a technician can be a member of a site (supervisors and the service desk see"
                             " every site already); nothing changed.",
    "member_user_disabled": "This technician's account is disabled and cannot join a site: enable it on the users"
                            " page first; nothing changed.",
    "add_site": "Add a site to a technician",
    "see_site_members": "the site's members and work",
}
