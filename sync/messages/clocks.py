"""A milestone's one-line explanation (`sync.clocks.explain`): "arrived 4 h 31 min after the call; 4 h
allowed; 0 paused", in the API (English), on the console (the page's language) and on the printed
contact sheet (Chinese)."""

from __future__ import annotations

ZH: dict[str, str] = {
    "done.on_site": "到场",
    "done.fix": "修复",
    "done.restore": "恢复使用",
    "done.loaner": "修复或提供备用机",
    "done.bench_repair": "返厂设备返回",
    "done.callback": "回访联系上客户",
    "open.on_site": "尚未到场",
    "open.fix": "尚未修复",
    "open.restore": "尚未恢复使用",
    "open.loaner": "尚未修复或提供备用机",
    "open.bench_repair": "返厂设备尚未返回",
    "open.callback": "尚未联系上客户",
    "since.callback": "签字",
    "since.bench_repair": "送修",
    "since": "报修",
    "done": "{since}后 {took} {what}；时限 {allowed}；暂停 {paused}",
    "open": "{what}：剩余 {left}，时限 {allowed}；暂停 {paused}",
    "late": "{what}：已超时 {late}，时限 {allowed}；暂停 {paused}",
    "not_applicable": "不适用",
    "h": "{h} 小时",
    "min": "{m} 分钟",
    "h_min": "{h} 小时 {m} 分钟",
    "zero": "0",
}

EN: dict[str, str] = {
    "done.on_site": "arrived",
    "done.fix": "fixed",
    "done.restore": "service restored",
    "done.loaner": "fixed or loaner installed",
    "done.bench_repair": "unit back",
    "done.callback": "customer reached",
    "open.on_site": "not on site yet",
    "open.fix": "not fixed yet",
    "open.restore": "service not restored yet",
    "open.loaner": "no fix or loaner yet",
    "open.bench_repair": "unit not back yet",
    "open.callback": "customer not reached yet",
    "since.callback": "the signature",
    "since.bench_repair": "it was sent",
    "since": "the call",
    "done": "{what} {took} after {since}; {allowed} allowed; {paused} paused",
    "open": "{what}: {left} left of {allowed}; {paused} paused",
    "late": "{what}: {late} late; {allowed} allowed; {paused} paused",
    "not_applicable": "not applicable",
    "h": "{h} h",
    "min": "{m} min",
    "h_min": "{h} h {m} min",
    "zero": "0",
}
