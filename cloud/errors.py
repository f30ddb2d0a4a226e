"""The cloud API's refusals: a code, a Chinese message and an HTTP status."""

from __future__ import annotations

from typing import Any

__all__ = ["MESSAGES", "ApiError", "register_errors"]

MESSAGES: dict[str, tuple[int, str]] = {
    "invalid_request": (400, "请求格式不正确"),
    "unauthorized": (401, "未认证或凭据无效"),
    "forbidden": (403, "无权访问该大厅的数据"),
    "forbidden_operation": (403, "没有该操作的权限"),
    "csrf_failed": (403, "表单已失效，请刷新页面后重试"),
    "session_expired": (401, "登录已过期，请重新登录"),
    "unknown_org_unit": (404, "组织机构不存在"),
    "org_cycle": (422, "不能把机构移到它自己或它的下级之下"),
    "unknown_user": (404, "用户不存在"),
    "username_taken": (409, "登录账号已被使用"),
    "unknown_hall": (404, "大厅不存在"),
    "not_found": (404, "地址不存在"),
    "method_not_allowed": (405, "不支持该请求方法"),
    "hall_exists": (409, "大厅编号已存在"),
    "sync_gap": (409, "批次与云端已有的事件之间有缺口，请从云端标记处重发"),
    "epoch_conflict": (422, "该纪元的起点与云端记录不一致"),
    "too_large": (413, "请求体过大"),
    "invalid_setup": (422, "大厅配置无效"),
    "stale_setup": (409, "配置版本必须比云端已有的最新版本新"),
    "invalid_booking": (422, "预约无效"),
    "booking_code_taken": (409, "该预约码已被本大厅的另一个预约使用"),
    "booking_checked_in": (409, "预约已签到，不能再修改"),
    "booking_no_show": (409, "预约已记为爽约，不能再修改；请新建预约"),
    "reason_required": (422, "该修改必须填写原因"),
    "unknown_calendar_exception": (404, "该日期没有本地例外"),
}


def register_errors(codes: dict[str, tuple[int, str]]) -> None:
    """Add a capability's refusals (code -> HTTP status, Chinese message), at import of its
    module; a code declared twice with another meaning is a programming error."""
    for code, meaning in codes.items():
        known = MESSAGES.get(code)
        if known is not None and known != meaning:
            raise ValueError(f"error code {code!r} declared twice: {known} and {meaning}")
        MESSAGES[code] = meaning


class ApiError(Exception):
    """A refusal the API answers as `{"error": {"code", "message"}}` with its 4xx status;
    `extra` fields go beside `error` (a refused batch carries the cloud's mark)."""

    def __init__(self, code: str, detail: str = "", **extra: Any) -> None:
        status, message = MESSAGES[code]
        super().__init__(f"{code}: {detail or message}")
        self.code = code
        self.status = status
        self.message = f"{message}：{detail}" if detail else message
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message}, **self.extra}
