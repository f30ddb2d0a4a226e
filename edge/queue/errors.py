"""Refusals the queue gives, each with a stable code, an HTTP status and a Chinese message."""

from __future__ import annotations

from typing import Any

__all__ = ["ERRORS", "QueueError"]

# code: (HTTP status, message shown to staff and citizens)
ERRORS: dict[str, tuple[int, str]] = {
    "invalid_request": (400, "请求参数无效"),
    "invalid_id_number": (400, "身份证号码无效"),
    "unauthorized": (401, "请先登录或提供有效凭证"),
    "forbidden": (403, "无权执行此操作"),
    "not_found": (404, "未找到"),
    "unknown_area": (404, "叫号区域不存在"),
    "unknown_business_type": (404, "业务类型不存在"),
    "unknown_window": (404, "窗口不存在"),
    "unknown_ticket": (404, "票号不存在"),
    "booking_not_found": (404, "未找到今日的有效预约记录"),
    "supplement_not_found": (404, "补证补件凭证无效或已过期"),
    "no_setup": (409, "大厅尚未配置业务"),
    "service_unavailable": (409, "该业务当前不可取号"),
    "no_window_open": (409, "暂无受理该业务的窗口在岗"),
    "daily_cap_reached": (409, "该业务今日受理数量已满"),
    "outside_service_hours": (409, "不在该业务的受理时间内"),
    "outside_hall_hours": (409, "不在大厅工作时间内"),
    "booking_already_checked_in": (409, "该预约已取号"),
    "booking_cancelled": (409, "该预约已取消"),
    "invalid_booking_token": (403, "预约凭证无效,请到导办台咨询"),
    "window_closed": (409, "窗口未登录"),
    "window_busy": (409, "请先结束当前业务"),
    "window_occupied": (409, "该窗口已有工作人员登录"),
    "staff_logged_in_elsewhere": (409, "该工作人员已在其他窗口登录"),
    "window_paused": (409, "窗口处于暂停服务状态"),
    "no_current_ticket": (409, "当前没有正在办理的票号"),
    "evaluation_pending": (409, "当前票号尚未评价,请等待办事群众评价"),
    "already_evaluated": (409, "该票号已评价"),
    "evaluation_not_requested": (409, "该票号未请求评价"),
    "queue_empty": (409, "暂无等候的办事群众"),
    "same_business_type": (409, "不能转移到同一业务类型"),
    "type_not_in_area": (409, "该业务不在本叫号区域受理"),
    "idempotency_conflict": (409, "重复的请求标识用于不同的操作"),
    "login_failed": (401, "工号或密码错误"),
    "login_locked": (429, "登录失败次数过多,请15分钟后再试"),
    "invalid_setup": (422, "大厅配置无效"),
    "unknown_profile": (422, "设备型号配置不存在"),
    "storage_unavailable": (503, "数据保存失败,请稍后重试"),
    "voice_disabled": (503, "本节点未启用语音播报"),
}


class QueueError(Exception):
    """A request the queue refuses; nothing was changed."""

    def __init__(self, code: str, detail: str = "", **context: Any) -> None:
        if code not in ERRORS:
            raise KeyError(f"unknown error code {code!r}")
        self.code = code
        self.status, self.message = ERRORS[code]
        self.detail = detail
        self.context = context
        super().__init__(f"{code}: {self.message}{' — ' + detail if detail else ''}")

    def as_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail:
            body["detail"] = self.detail
        if self.context:
            body.update(self.context)
        return {"error": body}
