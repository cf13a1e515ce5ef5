"""The console's words for what every page shares: the frame, sign-in, the dashboard, a site's coverage."""

from __future__ import annotations

ZH: dict[str, str] = {
    "title": "fieldsync 办公台",
    "lang_other": "English",
    "login": "登录",
    "logout": "退出",
    "username": "用户名",
    "password": "密码",
    "signed_in_as": "当前用户：{name}",
    "nav_dashboard": "总览",
    "nav_sites": "客户站点",
    "bad_login": "用户名或密码错误。",
    "throttled": "登录失败次数过多，请 {seconds} 秒后再试。",
    "disabled": "该账号已停用，请联系主管。",
    "too_many_clients": "该账号登录的设备过多，请先在其他地方退出。",
    "csrf": "表单已过期或来自其他网站，操作未执行。请返回重试。",
    "not_found": "找不到该页面或站点。",
    "forbidden": "您的角色不能执行此操作。",
    "bad_request": "请求有误：{detail}",
    "unavailable": "数据库暂时无法连接，操作未执行。请过几秒再试。",
    "storage_unavailable": "照片与签字存储暂时无法连接，操作未执行。请过几秒再试。",
    "method_not_allowed": "该页面不接受这种请求方式，操作未执行。请从控制台的链接或表单进入。",
    "server_error": "服务器出错，操作未执行。请稍后再试；如仍出错，请联系管理员。",
    "back": "返回",
    "open_requests": "未完成的服务请求",
    "no_requests": "没有未完成的服务请求。",
    "request_no": "单号",
    "site": "站点",
    "kind": "类型",
    "status": "状态",
    "assigned_to": "处理人",
    "countdown": "倒计时",
    "left": "剩余 {time}",
    "late": "超时 {time}",
    "hours_minutes": "{h} 小时 {m} 分",
    "inspections": "本期巡检",
    "no_inspections": "本期没有巡检。",
    "sheet_no": "单号",
    "progress": "进度",
    "due_on": "截止",
    "overdue": "已逾期",
    "conflicts": "最新冲突",
    "no_conflicts": "没有冲突记录。",
    "what": "对象",
    "field": "字段",
    "who": "提交人",
    "at": "时间",
    "sites": "客户站点",
    "customer": "客户",
    "coverage": "本期覆盖（{period}）",
    "total": "设备总数",
    "cameras": "摄像机",
    "every_camera": "全部摄像机",
    "filter": "筛选",
    "all": "全部",
    "system": "系统",
    "outcome": "结果",
    "location": "位置",
    "code": "编号",
    "note": "备注",
    "no_location": "（未填位置）",
    "no_devices": "没有符合条件的设备。",
    # The dashboard warns supervisors of a holiday calendar about to end (sync.duty.ending_calendars).
    "calendar_ending": "节假日日历“{name}”只排到 {last}，还剩 {days} 天。此后的法定节假日将按工作日计算：办公室视为上班、"
                       "无人值班、服务时限照常计时。请在 fixtures/service_terms.json 中加入下一年的节假日和调休日并重启服务器"
                       "（见 docs/operations.md）。",
    "calendar_ended": "节假日日历“{name}”只排到 {last}，已过期 {days} 天。现在的法定节假日按工作日计算：办公室视为上班、"
                      "无人值班、服务时限照常计时。请在 fixtures/service_terms.json 中加入今年的节假日和调休日并重启服务器"
                      "（见 docs/operations.md）。",
    # A calendar written out in a site's own terms override: its dates are the override's (fieldsync terms).
    "site_calendar_ending": "现场“{site}”的服务条款里单独写入的节假日日历只排到 {last}，还剩 {days} 天。此后该现场的法定节假日"
                            "将按工作日计算，服务时限照常计时。请用 fieldsync terms --set 为该现场写入下一年的节假日和调休日"
                            "（见 docs/operations.md）。",
    "site_calendar_ended": "现场“{site}”的服务条款里单独写入的节假日日历只排到 {last}，已过期 {days} 天。现在该现场的法定"
                           "节假日按工作日计算，服务时限照常计时。请用 fieldsync terms --set 为该现场写入今年的节假日和调休日"
                           "（见 docs/operations.md）。",
}

EN: dict[str, str] = {
    "title": "fieldsync office",
    "lang_other": "中文",
    "login": "Sign in",
    "logout": "Sign out",
    "username": "Username",
    "password": "Password",
    "signed_in_as": "Signed in as {name}",
    "nav_dashboard": "Dashboard",
    "nav_sites": "Sites",
    "bad_login": "Wrong username or password.",
    "throttled": "Too many failed sign-ins; try again in {seconds} s.",
    "disabled": "This account is disabled; ask a supervisor.",
    "too_many_clients": "This account is signed in on too many devices; sign out elsewhere first.",
    "csrf": "The form expired or came from another site; nothing was done. Go back and try again.",
    "not_found": "No such page or site.",
    "forbidden": "Your role may not do this.",
    "bad_request": "Bad request: {detail}",
    "unavailable": "The database cannot be reached just now; nothing was done. Try again in a few seconds.",
    "storage_unavailable": "The photo and signature storage cannot be reached just now; nothing was done. Try again in a few seconds.",
    "method_not_allowed": "This page does not take that kind of request; nothing was done. Use the console's links and forms.",
    "server_error": "The server failed; nothing was done. Try again later, and if it fails again, tell the administrator.",
    "back": "Back",
    "open_requests": "Open service requests",
    "no_requests": "No open service requests.",
    "request_no": "Number",
    "site": "Site",
    "kind": "Kind",
    "status": "Status",
    "assigned_to": "Assigned to",
    "countdown": "Countdown",
    "left": "{time} left",
    "late": "{time} late",
    "hours_minutes": "{h} h {m} min",
    "inspections": "This period's inspections",
    "no_inspections": "No inspections this period.",
    "sheet_no": "Sheet",
    "progress": "Progress",
    "due_on": "Due",
    "overdue": "overdue",
    "conflicts": "Latest conflicts",
    "no_conflicts": "No conflicts.",
    "what": "What",
    "field": "Field",
    "who": "By",
    "at": "At",
    "sites": "Sites",
    "customer": "Customer",
    "coverage": "Coverage of {period}",
    "total": "Devices",
    "cameras": "Cameras",
    "every_camera": "Every camera",
    "filter": "Filter",
    "all": "All",
    "system": "System",
    "outcome": "Outcome",
    "location": "Location",
    "code": "Code",
    "note": "Note",
    "no_location": "(no location)",
    "no_devices": "No device matches.",
    "calendar_ending": "The holiday calendar \"{name}\" ends on {last}, in {days} days. After it, public holidays count"
                       " as working days: the office counts as open, nobody is on duty, and the service clocks run."
                       " Add next year's holidays and make-up workdays to fixtures/service_terms.json and restart the"
                       " server (docs/operations.md).",
    "calendar_ended": "The holiday calendar \"{name}\" ended on {last}, {days} days ago. Public holidays now count as"
                      " working days: the office counts as open, nobody is on duty, and the service clocks run."
                      " Add this year's holidays and make-up workdays to fixtures/service_terms.json and restart the"
                      " server (docs/operations.md).",
    "site_calendar_ending": "The holiday calendar written out in the terms of site \"{site}\" ends on {last}, in {days}"
                            " days. After it, public holidays count as working days there and its service clocks run."
                            " Give the site's terms next year's holidays and make-up workdays with fieldsync terms --set"
                            " (docs/operations.md).",
    "site_calendar_ended": "The holiday calendar written out in the terms of site \"{site}\" ended on {last}, {days}"
                           " days ago. Public holidays now count as working days there and its service clocks run."
                           " Give the site's terms this year's holidays and make-up workdays with fieldsync terms --set"
                           " (docs/operations.md).",
}
