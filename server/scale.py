"""A company-sized demo: N generated sites, their technicians, and two years of completed inspections.

`fieldsync init --data DIR --demo --scale N` adds, next to the demo of
`fixtures/`: N sites of 50 to 400 devices each (cameras with their power
supplies, doors with controller, lock and readers, and the switches,
recorders, disks, monitors and hosts that serve them), one technician per
ten sites (password `demo`, member of their sites, named in each site's
quarterly plan), and for every site the 8 quarters before the current one as
completed inspections with a sheet number and one `device_checks` row per
active device: mostly serviced, a few faults and inaccessible devices with
a note, checked by the site's technician on visit days within the quarter.

At N = 1,000 that is about 200,000 devices and 1.6 million checks, too many
to merge one by one through `Store.write_server_changes`. The rows are built
here as the store would store them (`{register: hlc}` clocks of node `srv`,
sheet numbers from `sheet_seq/<period>`) and loaded with
the backend's `BulkLoad` (`storage/writes.py`: one version each, the same derived scope
columns as any write) in one write transaction: all of it or none. The same seed and
the same current quarter give the same data.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import msgspec

from sync import hlc, schema
from sync.merge import RowState, site_of
from sync.periods import period_bounds, sheet_no, site_today
from sync.schema import device_check_id, inspection_id

from .datafiles import read_json
from .domains.identity import passwords as A
from .domains.inspections.service import due_on
from .services import Store
from .storage.protocol import save_clock
from .storage.writes import COUNTER, encode_clocks

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
PAST_QUARTERS = 8
SITES_PER_TECHNICIAN = 10
PASSWORD = "demo"
_encode = msgspec.json.Encoder().encode
_SHANGHAI = timezone(timedelta(hours=8))  # every generated site is in Asia/Shanghai

# -- vocabulary -------------------------------------------------------------------------------

_CITIES = [
    ("深圳市", ["南山区", "福田区", "宝安区", "龙岗区", "龙华区"]),
    ("广州市", ["天河区", "海珠区", "番禺区", "白云区", "黄埔区"]),
    ("东莞市", ["南城街道", "松山湖", "长安镇", "虎门镇"]),
    ("佛山市", ["顺德区", "南海区", "禅城区"]),
    ("惠州市", ["惠城区", "惠阳区", "博罗县"]),
    ("珠海市", ["香洲区", "横琴新区", "金湾区"]),
]
_ROOTS = list("华鑫金恒宏博瑞嘉锦盛安泰汇信远达海新天和丰祥康裕明德宇景星越")
_ROADS = ["科技路", "创业路", "中山路", "人民路", "建设路", "工业大道", "滨海大道", "学府路", "东环路", "沿江路"]
# kinds of site: (customer, name, buildings)
_SITE_KINDS = [
    ("{city}{x}科技园运营管理有限公司", "{x}科技园", ["A座", "B座", "C座", "D座"]),
    ("{city}{x}物业管理有限公司", "{x}花园", ["1栋", "2栋", "3栋", "5栋", "6栋"]),
    ("{city}{x}实验学校", "{x}实验学校", ["教学楼", "行政楼", "宿舍楼", "图书馆"]),
    ("{city}{x}医院", "{x}医院", ["门诊楼", "住院楼", "医技楼"]),
    ("{city}{x}精密制造有限公司", "{x}精密工厂", ["1号厂房", "2号厂房", "仓库", "办公楼"]),
    ("{city}{x}商业管理有限公司", "{x}广场", ["商场", "写字楼"]),
]
_CORRIDORS = ["东走廊", "西走廊", "电梯厅", "1 号楼梯间", "2 号楼梯间", "走廊"]
_ENTRANCES = ["主入口", "办公区主入口", "侧门", "消防通道", "库房", "档案室", "机房", "财务室", "会议室"]
_OUTSIDE = ["周界 北侧围栏", "周界 南侧围栏", "周界 大门 车行道", "周界 大门 人行道", "周界 东侧围墙", "周界 卸货区"]
_SURNAMES = list("陈李张刘王杨黄赵周吴林徐孙马朱胡郭何罗高")
_GIVEN = ["建国", "志强", "伟", "磊", "军", "勇", "杰", "涛", "斌", "超", "明", "刚", "平", "辉", "鹏", "华", "飞", "鑫", "波", "宁"]

# kind -> (system, name, models); a model's serial starts with its prefix
_KINDS: dict[str, tuple[str, str, list[str]]] = {
    "dome_camera": ("video", "球机 {code}", ["DS-2DC4220IW-D", "DS-2DE4425IW-DE", "iDS-2DE4A425IX"]),
    "bullet_camera": ("video", "枪机 {code}", ["DS-2CD3T25-I3", "DS-2CD3T46WDV3-I3", "DS-2CD2T47G2-L"]),
    "half_dome_camera": ("video", "半球 {code}", ["DS-2CD3325-I", "DS-2CD2345FWD-I"]),
    "camera_psu": ("video", "{of} 摄像机电源", ["MW GS25A12-P1J", "MW GST36A12"]),
    "poe_switch": ("network", "接入交换机 {code}", ["DS-3E0326P-E", "DS-3E0518P-E"]),
    "core_switch": ("network", "核心交换机 {code}", ["H3C S7503E", "H3C S5560X-30C-EI"]),
    "video_recorder": ("video", "硬盘录像机 {code}", ["DS-9664N-I8", "DS-8632N-K8"]),
    "hard_disk": ("video", "监控硬盘 {code}（{of} 第 {bay} 盘位）",
                  ["Seagate SkyHawk ST4000VX007 4TB", "WD Purple WD60PURZ 6TB"]),
    "management_host": ("video", "视频管理主机 {code}", ["Lenovo ThinkCentre M910t", "Dell OptiPlex 7090"]),
    "decoder": ("video", "解码器 {code}", ["DS-6916UD", "DS-6910UD"]),
    "encoder": ("video", "编码器 {code}", ["DS-6704HUI", "DS-6708HUH"]),
    "server": ("video", "视频平台服务器 {code}", ["Dell PowerEdge R730", "Dell PowerEdge R740"]),
    "monitor": ("video", "拼接屏 {code}", ["DS-D2055NL-B", "DS-D2046NL-C"]),
    "door_controller": ("access", "门禁控制器 {code}", ["DS-K2602", "DS-K2604"]),
    "magnetic_lock": ("access", "磁力锁 {code}（{of} 门）", ["DS-K4H258D", "DS-K4H250S"]),
    "card_reader": ("access", "{side}读卡器 {code}（{of} {side}侧）", ["DS-K1101M", "DS-K1107AM"]),
}
_CAMERA_FAULTS = ["无图像，摄像机离线", "图像模糊，护罩内镜头起雾", "红外夜视不工作",
                  "图像偏色，需更换摄像机", "支架松动，已重新调整角度，支架待更换"]
_FAULT_NOTES = {
    "dome_camera": [*_CAMERA_FAULTS, "云台无法向左转动，电机待检查"],
    "bullet_camera": _CAMERA_FAULTS,
    "half_dome_camera": _CAMERA_FAULTS,
    "camera_psu": ["输出 10.8 V，低于范围，电源待更换", "电源箱进水，密封损坏", "电源适配器烧毁，已临时更换"],
    "hard_disk": ["SMART 告警，重映射扇区增加", "录像机识别不到硬盘", "硬盘坏道，需更换"],
    "video_recorder": ["3 个通道录像有断档", "时钟偏差 6 分钟，未设置 NTP"],
    "monitor": ["左下角有坏点", "HDMI 1 输入无信号"],
    "door_controller": ["控制器离线，网线松动", "备用电池没电", "门禁控制器掉线，网线松动"],
    "magnetic_lock": ["锁吸合不牢，衔铁错位", "断电后不释放"],
    "card_reader": ["不读卡，读卡器待更换", "指示灯不亮"],
    "poe_switch": ["风扇噪音大，需更换交换机风扇", "两个端口频繁断开，需重新布线", "交换机风扇故障"],
}
_OTHER_FAULTS = ["风扇故障，设备过热", "断电重启后无法启动", "设备故障，需返厂维修"]
_NOT_ACCESSIBLE_NOTES = ["租户办公室上锁，现场无钥匙", "吊顶装修封闭", "停车场该层路面翻新封闭", "客户全天占用房间，需再来",
                         "需登高车，下次带设备", "机房钥匙在客户 IT 处，不在现场"]


def _rows_of_templates() -> dict[str, dict[str, str]]:
    templates = read_json(FIXTURES / "checklist_templates.json")
    return {t["kind"]: schema.item_types(t["items"]) or {} for t in templates}


# -- the inventory of one site ------------------------------------------------------------------


class _SiteMaker:
    def __init__(self, rng: random.Random, site_index: int) -> None:
        self.rng = rng
        self.index = site_index

    def site(self, used_names: set[str]) -> dict[str, Any]:
        rng = self.rng
        customer_pat, name_pat, buildings = rng.choice(_SITE_KINDS)
        city, districts = rng.choice(_CITIES)
        while True:
            x = rng.choice(_ROOTS) + rng.choice(_ROOTS)
            name = name_pat.format(x=x)
            if name not in used_names or len(used_names) > 5_000:
                break
        if name in used_names:
            name = f"{name}{self.index}期"
        used_names.add(name)
        self.buildings = buildings[: rng.randint(1, len(buildings))]
        accepted = date(2015, 1, 1) + timedelta(days=rng.randint(0, 9 * 365))
        self.accepted = accepted
        return {
            "customer": customer_pat.format(city=city, x=x),
            "name": name,
            "address": f"广东省{city}{rng.choice(districts)}{rng.choice(_ROADS)}{rng.randint(1, 399)}号",
            "zone": rng.choice(["urban", "urban", "suburban"]),
            "tz": "Asia/Shanghai",
            "contract": rng.choice(["annual", "annual", "annual", "per_visit", "warranty"]),
            "accepted_on": accepted.isoformat(),
            "warranty_months": rng.choice([12, 24, 36]),
        }

    def _spot(self, where: str) -> str:
        rng, building = self.rng, self.rng.choice(self.buildings)
        if where == "car_park":
            return f"{building} B{rng.randint(1, 2)} 停车场 {rng.randint(1, 40)} 号柱"
        if where == "outside":
            return rng.choice(_OUTSIDE)
        if where == "lobby":
            return f"{building} 1 楼 大堂"
        floor = rng.randint(1, 12)
        if where == "door":
            return f"{building} {floor} 楼 {rng.choice(_ENTRANCES)}"
        return f"{building} {floor} 楼 {rng.choice(_CORRIDORS)}"

    def devices(self) -> list[dict[str, Any]]:
        """50 to 400 devices; a camera has its power supply, a door its controller, lock and reader(s)."""
        rng = self.rng
        target = round(rng.triangular(50, 400, 150))  # mean 200: small sites are the common ones
        est_cameras = max(8, round(target * rng.uniform(0.2, 0.32)))
        control = f"{self.buildings[0]} 1 楼 监控中心"
        infra: list[tuple[str, str, dict[str, Any]]] = []
        recorders = math.ceil(est_cameras / 64)
        for i in range(1, recorders + 1):
            infra.append(("video_recorder", f"{control} 2 号机柜", {"code": f"NVR-{i:02d}"}))
            for bay in range(1, 5):
                infra.append(("hard_disk", f"{control} 2 号机柜 NVR-{i:02d} 第 {bay} 盘位",
                              {"code": f"HDD-{(i - 1) * 4 + bay:02d}", "of": f"NVR-{i:02d}", "bay": bay}))
        for i in range(1, math.ceil(est_cameras / 16) + 1):
            infra.append(("poe_switch", f"{rng.choice(self.buildings)} {rng.randint(1, 12)} 楼 弱电间",
                          {"code": f"SW-{i:02d}"}))
        for i in range(1, max(1, est_cameras // 10) + 1):
            infra.append(("monitor", f"{control} 电视墙 第 {(i - 1) // 4 + 1} 行第 {(i - 1) % 4 + 1} 列",
                          {"code": f"MON-{i:02d}"}))
        infra.append(("management_host", f"{control} 1 号操作台", {"code": "HOST-V01"}))
        infra.append(("management_host", f"{control} 2 号操作台", {"code": "HOST-A01"}))
        if target > 150:
            infra.append(("core_switch", f"{control} 1 号机柜", {"code": "CSW-01"}))
            infra.append(("decoder", f"{control} 3 号机柜", {"code": "DEC-01"}))
        if target > 250:
            infra.append(("server", f"{control} 3 号机柜", {"code": "SRV-01"}))
            for i in range(1, rng.randint(1, 4) + 1):
                infra.append(("encoder", f"{control} 3 号机柜", {"code": f"ENC-{i:02d}"}))
        remaining = target - len(infra)
        cameras = min(remaining // 2, max(4, round(remaining * rng.uniform(0.5, 0.75) / 2)))
        door_budget = remaining - 2 * cameras
        doors, extra_readers = door_budget // 3, door_budget % 3
        out: list[tuple[str, str, dict[str, Any]]] = []
        for i in range(1, cameras + 1):
            where = rng.choices(["car_park", "outside", "lobby", "corridor"], [30, 15, 10, 45])[0]
            kind = {"car_park": "bullet_camera", "outside": "bullet_camera", "lobby": "dome_camera"}.get(where) or (
                rng.choice(["dome_camera", "half_dome_camera", "half_dome_camera"]))
            spot = self._spot(where)
            out.append((kind, spot, {"code": f"CAM-{i:03d}"}))
            out.append(("camera_psu", spot, {"code": f"PSU-{i:03d}", "of": f"CAM-{i:03d}"}))
        reader = 0
        for i in range(1, doors + 1):
            spot = self._spot("door")
            out.append(("door_controller", spot, {"code": f"DC-{i:03d}"}))
            out.append(("magnetic_lock", spot, {"code": f"LOCK-{i:03d}", "of": f"DC-{i:03d}"}))
            sides = ["进门", "出门"] if i <= extra_readers else ["进门"]
            for side in sides:
                reader += 1
                out.append(("card_reader", f"{spot} {side}侧",
                            {"code": f"CR-{reader:03d}", "of": f"DC-{i:03d}", "side": side}))
        if len(out) + len(infra) < target:  # a door budget too small for one door: a spare monitor
            infra.append(("monitor", f"{control} 值班台", {"code": "MON-99"}))
        devices = []
        for kind, location, extra in infra + out:
            system, name, models = _KINDS[kind]
            model = rng.choice(models)
            installed = self.accepted - timedelta(days=rng.randint(3, 40))
            serial = f"{model.split()[0]}{installed:%Y%m%d}AAWR{rng.randint(10**8, 10**9 - 1)}"
            devices.append({
                "system": system, "kind": kind, "code": extra["code"],
                "name": name.format(**extra), "location": location, "serial_no": serial, "model": model,
                "installed_on": installed.isoformat(),
                "status": "retired" if rng.random() < 0.005 else "active",
            })
        return devices


# -- checks ---------------------------------------------------------------------------------------


def _item_pool(rng: random.Random, items: dict[str, str], size: int = 32) -> list[dict[str, Any]]:
    """Item values of serviced devices of a kind: every box ticked, readings in range."""
    readings = {"output_mv": (11_900, 12_400), "cpu_load_pct": (4, 45), "retention_days": (30, 90),
                "bad_sectors": (0, 0)}
    pool = []
    for _ in range(size):
        values: dict[str, Any] = {}
        for key, kind in items.items():
            if kind == "bool":
                values[f"item.{key}"] = True
            elif kind == "int":
                low, high = readings.get(key, (0, 100))
                values[f"item.{key}"] = rng.randint(low, high)
        pool.append(values)
    return pool


def _ts(moment: datetime) -> str:
    return f"{moment:%Y-%m-%dT%H:%M:%S}.000Z"


def _past_quarters(today: date, count: int) -> list[str]:
    year, quarter = today.year, (today.month - 1) // 3 + 1
    out = []
    for _ in range(count):
        quarter -= 1
        if quarter == 0:
            year, quarter = year - 1, 4
        out.append(f"{year}-Q{quarter}")
    return sorted(out)


class _Writer:
    """Generated rows, written by `BulkLoad`: the same derived columns as any write.

    Regression (issue 11): this writer once left `period` out, so every generated past
    inspection and check escaped the sync window.
    """

    def __init__(self, store: Store, db: Any, now: int) -> None:
        self.store, self.now = store, now
        self.parents: dict[tuple[str, str], RowState] = {}  # the rows others find their site and period through
        self.bulk = store.backend.bulk_load(db, now, self._lookup)

    def _lookup(self, collection: str, row_id: str) -> RowState | None:
        return self.parents.get((collection, row_id))

    def hlc(self) -> str:
        return self.store.clock.now(self.now)

    def add(self, collection: str, row_id: str, fields: dict[str, Any], clocks: str) -> None:
        row = RowState(collection, row_id, fields, site_id=site_of(collection, row_id, fields, self._lookup))
        if collection in ("sites", "inspections"):
            self.parents[(collection, row_id)] = row
        self.bulk.add(row, clocks)

    def close(self) -> None:
        self.bulk.close()


def _clocks(registers: list[str], stamp: str) -> str:
    return encode_clocks({reg: [stamp, hlc.SERVER_NODE] for reg in registers})


_SITE_REGS = [*schema.COLLECTIONS["sites"].fields, "deleted"]
_DEVICE_REGS = [n for n in schema.COLLECTIONS["devices"].fields if n != "site_id"] + ["deleted"]
_INSPECTION_REGS = [n for n in schema.COLLECTIONS["inspections"].fields if n != "site_id"] + ["deleted"]


def load_scale(store: Store, n: int, seed: int = 0, today: date | None = None) -> dict[str, int]:
    """Add n generated sites with technicians, plans and 8 past quarters of completed inspections.

    Deterministic for a seed (and the current quarter, which `today` may fix).
    The checklist templates must be loaded already (`load_demo`). Returns counts.
    """
    if n < 1:
        raise ValueError("the scale is a number of sites, 1 or more")
    rng = random.Random(seed)
    today = today or site_today("Asia/Shanghai")
    periods = _past_quarters(today, PAST_QUARTERS)
    templates = _rows_of_templates()
    pools = {kind: _item_pool(rng, items) for kind, items in templates.items()}
    item_regs = {kind: [f"item.{k}" for k in items if items[k] != "text"] for kind, items in templates.items()}
    namespace = uuid.uuid5(schema.NS, f"scale/{seed}")
    technicians = [f"tech{i:03d}" for i in range(1, math.ceil(n / SITES_PER_TECHNICIAN) + 1)]
    names = [rng.choice(_SURNAMES) + rng.choice(_GIVEN) for _ in technicians]
    # One scrypt hash for every generated account: they share the published demo
    # password, and 100 hashes would cost seconds for nothing.
    password_hash = A.hash_password(PASSWORD)
    counts = {"scale sites": n, "technicians": len(technicians), "scale devices": 0, "past inspections": 0,
              "device checks": 0}
    with store.write(versions=True) as db:
        if db.execute("SELECT 1 FROM meta WHERE key = 'scale'").fetchone():
            raise ValueError("this database already holds a scale demo")
        db.execute("INSERT INTO meta(key, value) VALUES ('scale', ?)", [f"{n} sites, seed {seed}"])
        # A bigger page cache while the indexes of 2 million random keys grow.
        with store.backend.bulk(db):
            now = store.now_ms()
            created = hlc.format_ts(now)
            user_ids = {u: str(uuid.uuid5(schema.NS, f"user/{u}")) for u in technicians}
            db.executemany(
                "INSERT INTO users(id, username, name, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                [(user_ids[u], u, name, schema.TECHNICIAN, password_hash, created)
                 for u, name in zip(technicians, names, strict=False)],
            )
            sheet_numbers = {}
            for period in periods:
                key = f"sheet_seq/{period}"
                db.execute(COUNTER, [key])
                sheet_numbers[period] = int(db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()[0])
            out = _Writer(store, db, now)
            used_names: set[str] = set()
            for index in range(n):
                technician = technicians[index // SITES_PER_TECHNICIAN]
                maker = _SiteMaker(rng, index)
                site_id = str(uuid.uuid5(namespace, f"site/{index}"))
                out.add("sites", site_id, maker.site(used_names), _clocks(_SITE_REGS, out.hlc()))
                db.execute("INSERT INTO memberships(site_id, user_id) VALUES (?, ?)", [site_id, user_ids[technician]])
                # Members from before any client synced: a place before every version.
                db.execute(
                    "INSERT INTO scope_events(version, user_id, site_id, member, at)"
                    " VALUES ((SELECT CASE WHEN min(version) < 0 THEN min(version) ELSE 0 END - 1 FROM scope_events),"
                    " ?, ?, 1, '')",
                    [user_ids[technician], site_id],
                )
                db.execute("INSERT INTO plans(site_id, frequency, due_day, technician) VALUES (?, 'quarterly', 20, ?)",
                           [site_id, technician])
                devices = []
                for number, device in enumerate(maker.devices()):
                    device_id = str(uuid.uuid5(namespace, f"device/{index}/{number}"))
                    out.add("devices", device_id, {"site_id": site_id, **device},
                            _clocks(_DEVICE_REGS, out.hlc()))
                    if device["status"] == "active":
                        devices.append((device_id, device))
                counts["scale devices"] += number + 1
                for period in periods:
                    counts["device checks"] += _inspection(out, rng, site_id, period, technician, devices, pools,
                                                           item_regs, sheet_numbers)
                    counts["past inspections"] += 1
            out.close()
            for period, number in sheet_numbers.items():
                db.execute("UPDATE meta SET value = ? WHERE key = ?", [str(number), f"sheet_seq/{period}"])
            save_clock(db, store.clock.last)
    return counts


def _visit_times(rng: random.Random, period: str, count: int) -> Iterator[datetime]:
    """Checks of a visit: from 09:00 local on a day of the period's last month, 8 hours a day."""
    _first, last = period_bounds(period)
    day = last.replace(day=rng.randint(1, 17))
    minute = 0
    for _ in range(count):
        days, in_day = divmod(minute, 8 * 60)
        local = datetime(day.year, day.month, day.day, 9, tzinfo=_SHANGHAI) + timedelta(days=days, minutes=in_day)
        yield local.astimezone(UTC)
        minute += rng.randint(2, 6)


def _inspection(
    out: _Writer,
    rng: random.Random,
    site_id: str,
    period: str,
    technician: str,
    devices: list[tuple[str, dict[str, Any]]],
    pools: dict[str, list[dict[str, Any]]],
    item_regs: dict[str, list[str]],
    sheet_numbers: dict[str, int],
) -> int:
    insp = inspection_id(site_id, period)
    stamp = out.hlc()
    times = list(_visit_times(rng, period, max(len(devices), 1)))
    sheet_numbers[period] += 1
    out.add("inspections", insp, {
        "site_id": site_id, "period": period, "due_on": due_on(period, 20), "assigned_to": technician,
        "status": "completed", "started_at": _ts(times[0]),
        "completed_at": _ts(times[-1] + timedelta(minutes=rng.randint(5, 30))),
        "sheet_no": sheet_no(period, sheet_numbers[period]),
    }, _clocks(_INSPECTION_REGS, stamp))
    clocks: dict[tuple[str, bool], str] = {}
    random_ = rng.random
    for (device_id, device), at in zip(devices, times, strict=False):
        kind = device["kind"]
        roll = random_()
        fields: dict[str, Any] = {"inspection_id": insp, "device_id": device_id}
        if roll < 0.955:
            fields["outcome"] = "serviced"
        elif roll < 0.985:
            fields["outcome"] = "fault"
            fields["note"] = rng.choice(_FAULT_NOTES.get(kind, _OTHER_FAULTS))
        else:
            fields["outcome"] = "not_accessible"
            fields["note"] = rng.choice(_NOT_ACCESSIBLE_NOTES)
        fields["checked_by"] = technician
        fields["checked_at"] = _ts(at)
        with_items = fields["outcome"] != "not_accessible" and kind in pools
        if with_items:
            fields.update(rng.choice(pools[kind]))
            if fields["outcome"] == "fault" and item_regs[kind]:
                broken = rng.choice(item_regs[kind])
                if isinstance(fields[broken], bool):
                    fields[broken] = False
        key = (kind, with_items)
        if key not in clocks:
            clocks[key] = _clocks(["result", *(item_regs.get(kind, []) if with_items else []), "deleted"], stamp)
        out.add("device_checks", device_check_id(insp, device_id), fields, clocks[key])
    return len(devices)


__all__ = ["load_scale"]
