"""The words printed on the customer's sheets, in Chinese: one catalogue both ends can read.

Keys are `<group>.<value>` for the schema's values (`outcome.fault`) and plain names for the
sheets' own words. `label` falls back to the value itself, so a value added to the schema
prints as it is stored until it gets its words here (tests/sync/test_labels.py lists the
schema's values that have none).
"""

from __future__ import annotations

ZH: dict[str, str] = {
    # A device's outcome in a periodic inspection.
    "outcome.serviced": "服务正常",
    "outcome.fault": "故障",
    "outcome.not_accessible": "无法进入",
    "outcome.skipped": "未检",
    "outcome.None": "未检查",
    # Systems of a site.
    "system.video": "视频监控系统",
    "system.access": "门禁系统",
    "system.network": "网络系统",
    "system.broadcast": "广播系统",
    "system.telephone": "电话系统",
    "system.alarm": "报警系统",
    "system.None": "其他",
    # Signatures.
    "signer_role.customer": "客户",
    "signer_role.technician": "技术员",
    "verification.valid": "有效",
    "verification.mismatch": "与单据不符",
    "verification.None": "待核验",
    # A visit's outcome, a charge line's consent, a milestone.
    "visit_outcome.resolved": "已解决",
    "visit_outcome.unresolved": "未解决",
    "visit_outcome.revisit_needed": "需再次上门",
    "decision.agreed": "客户同意",
    "decision.declined": "客户拒绝",
    "decision.None": "—",
    "milestone.on_site": "到场",
    "milestone.fix": "修复",
    "milestone.restore": "恢复使用",
    "milestone.loaner": "提供备用机",
    "milestone.bench_repair": "返厂维修",
    "milestone.callback": "回访",
    "milestone_status.met": "达成",
    "milestone_status.breached": "超时",
    "milestone_status.at_risk": "临近超时",
    "milestone_status.pending": "进行中",
    "milestone_status.not_applicable": "不适用",
    "channel.hotline": "服务热线",
    "channel.online": "网上报修",
    "channel.email": "电子邮件",
    "channel.duty_call": "值班电话",
    "channel.on_site": "现场报修",
    # The sheets' own words.
    "inspection_title": "定期维护单",
    "visit_title": "技术服务联络单",
    "sheet_no": "单号",
    "customer": "客户单位",
    "site": "项目名称",
    "address": "地址",
    "period": "维护周期",
    "technician": "维护人员",
    "status": "状态",
    "devices": "设备检查记录",
    "device_code": "编号",
    "device_name": "设备",
    "location": "位置",
    "outcome": "结果",
    "note": "备注",
    "checked_at": "检查时间",
    "counts": "设备 {total} 台：服务正常 {serviced}，故障 {fault}，无法进入 {not_accessible}，未检 {skipped}，"
              "未检查 {not_checked}",
    "tasks": "季度维护内容",
    "signatures": "签字",
    "signer": "签字人",
    "role": "身份",
    "signed_at": "签字时间",
    "verification": "核验",
    "retracted": "已撤回",
    "no_signature": "尚无客户签字",
    "seal": "签章校验",
    "seal_hash": "单据摘要 (SHA-256)",
    "seal_scan": "扫码核验",
    "request_no": "报修单号",
    "call_time": "报修时间",
    "caller": "报修人",
    "channel": "报修方式",
    "fault": "故障现象",
    "work_done": "处理情况",
    "fault_cause": "故障原因",
    "visit_outcome": "处理结果",
    "lines": "收费明细",
    "item": "项目",
    "quantity": "数量",
    "amount": "金额 (元)",
    "consent": "客户确认",
    "billed": "计费",
    "covered": "保修/合同内",
    "yes": "是",
    "no": "否",
    "subtotal": "小计",
    "tax": "税额 ({rate}%)",
    "total": "合计 (元)",
    "milestones": "服务时限",
    "milestone": "节点",
    "due_at": "时限",
    "done_at": "完成时间",
    "printed_at": "打印时间",
    "zone": "时区",
}


def label(group: str, value: object) -> str:
    """The Chinese words for a stored value, else the value as stored."""
    return ZH.get(f"{group}.{value}", str(value))
