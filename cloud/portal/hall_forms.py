"""The forms of the halls' configuration pages: every field of a hall's settings, its voice and
each piece (calling area, category, business type, window, staff member) declared once, read
from the posted form, shown again as typed, and the contract's refusals (sync/hallsetup.py,
sync/voice.py) placed next to the field they concern, in Chinese."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from multidict import MultiDictProxy
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from cloud.errors import ApiError
from cloud.portal.forms import FormErrors, form_list, form_text
from sync.voice import LANGUAGES, PROMPTS, AreaVoice, VoiceSetup

__all__ = [
    "FORMS",
    "PIECE_SOURCES",
    "FormField",
    "area_voice_body",
    "area_voice_values",
    "contract_errors",
    "describe_voice",
    "place_refusal",
    "read_form",
    "values_of",
]

Kind = Literal["text", "textarea", "int", "select", "check", "hours", "types", "password", "multi"]


@dataclass(frozen=True)
class FormField:
    """One field of a form: its name in the contract (dotted for a nested value), Chinese
    label and hint, kind, fixed options or the hall's pieces that give its options."""

    name: str
    label: str
    kind: Kind = "text"
    required: bool = False
    hint: str = ""
    options: tuple[tuple[str, str], ...] = ()
    source: str | None = None  # the piece whose items are the options ("areas", …)
    fixed: bool = False  # given when created, never changed (an id)
    default: Any = None  # the value of a new piece's form


# the label a service refusal names a piece by, and the piece
PIECE_SOURCES = {"叫号区域": "areas", "业务大类": "categories", "业务小类": "business-types"}

_ID = FormField("id", "编号", required=True, fixed=True,
                hint="字母、数字或 _ . : -，保存后不能修改")  # fmt: skip
_WEEKDAYS = tuple((str(d), f"周{'一二三四五六日'[d - 1]}") for d in range(1, 8))
_POSTS = (("ordinary", "普通岗"), ("leifeng", "雷锋岗"), ("party", "党员岗"))
_ASSIGNMENTS = (("window", "按窗口分配业务"), ("staff", "按工作人员分配业务"))
_LANGUAGE_NAMES = {"cmn": "普通话", "yue": "粤语"}
_PROMPT_NAMES = {
    "one_meter_line": "一米线提示",
    "paused": "暂停服务",
    "backstage": "后台处理中",
    "evaluate": "请求评价",
    "thanks": "感谢评价",
}
_TEMPLATE_HINT = "须含 {number}（票号），可用 {window} 窗口号、{window_name} 窗口名、{service} 业务"
_SPEEDS = (("normal", "正常"), ("fast", "较快"), ("slow", "较慢"))
_HALLS_OWN = ("", "沿用大厅设置")  # an area's choice that follows the hall's voice
_SILENT = (("false", "播报"), ("true", "无声叫号（只在屏幕显示）"))

FORMS: dict[str, tuple[FormField, ...]] = {
    "settings": (
        FormField("name", "大厅名称", required=True, hint="显示在综合屏、取号机上"),
        FormField("unit_name", "单位名称", hint="打印在票上"),
        FormField("hours", "工作时间", "hours", hint="工作日的办理时段，可设多段"),
        FormField(
            "working_weekdays",
            "工作日",
            "multi",
            options=_WEEKDAYS,
            hint="节假日与调休由行事历维护",
        ),
        FormField("assignment", "业务分配", "select", required=True, options=_ASSIGNMENTS),
        FormField("evaluation_gate", "一号一评", "check", hint="评价后才能呼叫下一位"),
        FormField(
            "evaluation_gate_seconds",
            "评价等待（秒）",
            "int",
            required=True,
            hint="办结后超过该时间未评价，自动放行",
        ),
        FormField(
            "auto_call_seconds",
            "自动叫号（秒）",
            "int",
            required=True,
            hint="窗口空闲该时间后自动呼叫下一位，0 为关闭",
        ),
        FormField(
            "green_channel_age",
            "绿色通道年龄",
            "int",
            hint="凭身份证达到该年龄自动进入绿色通道，留空为关闭",
        ),
        FormField("supplement_valid_days", "补证补件有效期（天）", "int", required=True),
    ),
    "voice": (
        FormField(
            "languages",
            "播报语言",
            "multi",
            required=True,
            options=tuple((lang, _LANGUAGE_NAMES[lang]) for lang in LANGUAGES),
            hint="选两种时依次播报",
        ),
        FormField(
            "speed",
            "语速",
            "select",
            required=True,
            options=_SPEEDS,
        ),
        FormField("repeat", "播报次数", "int", required=True, hint="每次呼叫播报 1 至 5 遍"),
        FormField("silent", "无声叫号", "check", hint="只在屏幕显示，不播报"),
        *(
            FormField(
                f"templates.{lang}",
                f"叫号用语（{_LANGUAGE_NAMES[lang]}）",
                hint=_TEMPLATE_HINT + "；留空不用该语言的模板",
            )
            for lang in LANGUAGES
        ),
        *(
            FormField(
                f"prompts.{lang}.{name}",
                f"{_PROMPT_NAMES[name]}（{_LANGUAGE_NAMES[lang]}）",
                hint="留空用默认提示语" if name == PROMPTS[0] else "",
            )
            for lang in LANGUAGES
            for name in PROMPTS
        ),
    ),
    # a calling area's own voice: what is left empty follows the hall's voice
    "area-voice": (
        FormField(
            "languages",
            "播报语言",
            "multi",
            options=tuple((lang, _LANGUAGE_NAMES[lang]) for lang in LANGUAGES),
            hint="选两种时依次播报；都不选则沿用大厅设置",
        ),
        FormField("speed", "语速", "select", options=(_HALLS_OWN, *_SPEEDS)),
        FormField("repeat", "播报次数", "int", hint="每次呼叫播报 1 至 5 遍；留空沿用大厅设置"),
        FormField("silent", "无声叫号", "select", options=(_HALLS_OWN, *_SILENT)),
        *(
            FormField(
                f"templates.{lang}",
                f"叫号用语（{_LANGUAGE_NAMES[lang]}）",
                hint=_TEMPLATE_HINT + "；留空沿用大厅的叫号用语",
            )
            for lang in LANGUAGES
        ),
    ),
    "areas": (_ID, FormField("name", "区域名称", required=True, hint="如 一楼综合受理区")),
    "categories": (
        _ID,
        FormField("name", "大类名称", required=True, hint="如 商事登记"),
        FormField(
            "waiting_warning", "等候人数预警", "int", hint="本大类等候超过该人数时预警，留空不预警"
        ),
    ),
    "business-types": (
        _ID,
        FormField("category", "业务大类", "select", required=True, source="categories"),
        FormField("name", "业务名称", required=True, hint="最多 40 字，显示在取号机上"),
        FormField("prefix", "票号前缀", required=True, hint="一到两个大写字母，如 A 或 TB"),
        FormField("description", "业务说明", "textarea"),
        FormField("hint", "业务提示", "textarea", hint="打印在票上，如 请携带身份证原件"),
        FormField("instructions", "办理方法", "textarea", hint="打印在票上"),
        FormField("department", "办理部门"),
        FormField("pinyin", "拼音首字母", hint="取号机检索用，留空按名称自动生成"),
        FormField("hours", "服务时段", "hours", hint="留空按大厅工作时间"),
        FormField("daily_cap", "每日限额", "int", hint="每天最多办理的票数，留空不限"),
        FormField(
            "duration_warning_seconds",
            "办理时长预警（秒）",
            "int",
            hint="一张票办理超过该时间时预警，留空不预警",
        ),
    ),
    "windows": (
        _ID,
        FormField("area", "叫号区域", "select", required=True, source="areas"),
        FormField("number", "窗口号", required=True, hint="语音播报为“请…到 3 号窗口办理”"),
        FormField("name", "窗口名称", hint="如 综合受理窗口"),
        FormField(
            "business_types",
            "办理业务",
            "types",
            hint="勾选本窗口办理的业务；优先顺序可在窗口列表中上下调整",
        ),
    ),
    "staff": (
        _ID,
        FormField("staff_no", "工号", required=True, hint="叫号客户端登录用"),
        FormField("name", "姓名", required=True),
        FormField("password", "登录密码", "password", hint="留空则不修改；已设置的密码不会显示"),
        FormField("card_no", "卡号", hint="刷卡登录用"),
        FormField("title", "职务"),
        FormField("department", "所属部门"),
        FormField(
            "post_type", "岗位类型", "select", required=True, default="ordinary", options=_POSTS
        ),
        FormField("stars", "星级", "int", required=True, default=3, hint="1 至 5 星"),
        FormField(
            "business_types",
            "办理业务",
            "types",
            hint="大厅按工作人员分配业务时使用；优先顺序可在列表中调整",
        ),
        FormField("can_issue_tickets", "可代取号", "check", hint="可为办事群众代取号"),
    ),
}


def read_form(
    fields: Iterable[FormField],
    form: MultiDictProxy[Any],
    *,
    creating: bool,
    table: sa.Table | None = None,
) -> tuple[dict[str, Any], dict[str, Any], FormErrors]:
    """The body for the service (dotted names nested), the values to show the form again
    with, and what is wrong with the form's own texts (empty, not a number, half a range,
    longer than the column of `table` it is stored in)."""
    body: dict[str, Any] = {}
    values: dict[str, Any] = {}
    errors = FormErrors()
    for field in fields:
        if field.fixed and not creating:
            continue
        value, shown, problem = _read(field, form)
        longest = _longest(table, field.name)
        if not problem and isinstance(value, str) and longest and len(value) > longest:
            problem = f"不能超过 {longest} 个字"
        values[field.name] = shown
        if problem:
            errors.add(field.name, problem)
        elif value is not _OMITTED:
            _put(body, field.name, value)
    return body, values, errors


def values_of(fields: Iterable[FormField], item: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stored item (None: a new one) as the values of its form."""
    values: dict[str, Any] = {}
    for field in fields:
        value = _get(item, field.name) if item is not None else field.default
        if field.kind == "hours":
            values[field.name] = [
                {"start": str(r["start"])[:5], "end": str(r["end"])[:5]} for r in value or []
            ]
        elif field.kind in ("multi", "types"):
            values[field.name] = [str(v) for v in value or []]
        elif field.kind == "check":
            values[field.name] = bool(value)
        elif field.kind == "password":
            values[field.name] = ""
        else:
            values[field.name] = "" if value is None else str(value)
    return values


def area_voice_body(body: Mapping[str, Any], area: str) -> dict[str, Any]:
    """The body of the area-voice form (`read_form`) as AreaVoice's JSON: an empty choice is
    None, the area's setting follows the hall's."""
    silent = body.get("silent", "")
    return {
        "area": area,
        "languages": body.get("languages") or None,
        "speed": body.get("speed") or None,
        "repeat": body.get("repeat"),
        "silent": {"": None, "true": True, "false": False}.get(silent, silent),
        "templates": body.get("templates", {}),
    }


def area_voice_values(own: AreaVoice | None) -> dict[str, Any]:
    """An area's own voice settings as the values of the area-voice form."""
    plain = own.model_dump(mode="json") if own is not None else {}
    values = values_of(FORMS["area-voice"], plain)
    silent = plain.get("silent")
    values["silent"] = "" if silent is None else str(silent).lower()
    return values


def describe_voice(voice: VoiceSetup | AreaVoice) -> dict[str, str]:
    """A voice's settings as the admin reads them, by field ("" where an area sets nothing)."""
    texts = {
        "languages": "、".join(_LANGUAGE_NAMES[lang] for lang in voice.languages or []),
        "speed": dict(_SPEEDS).get(voice.speed or "", ""),
        "repeat": "" if voice.repeat is None else f"{voice.repeat} 遍",
        "silent": "" if voice.silent is None else ("无声" if voice.silent else "播报"),
    }
    for lang in LANGUAGES:
        texts[f"templates.{lang}"] = voice.templates.get(lang, "")
    return texts


def contract_errors(
    fields: Iterable[FormField], exc: ValidationError, body: Mapping[str, Any] | None = None
) -> FormErrors:
    """The contract model's refusals, each next to its field in Chinese. A refusal of a whole
    map (the call templates) goes to the field of `body` whose text it quotes."""
    names = [f.name for f in fields]
    errors = FormErrors()
    for error in exc.errors():
        loc = [str(p) for p in error["loc"]]
        name = next(
            (".".join(loc[:n]) for n in range(len(loc), 0, -1) if ".".join(loc[:n]) in names),
            "",
        )
        if not name and loc:
            below = [n for n in names if n.startswith(".".join(loc) + ".")]
            quoted = [n for n in below if _quoted(body, n, str(error.get("msg", "")))]
            name = (quoted or below or [""])[0]
        message = _chinese(error)
        errors.add(name, message if name else f"{'.'.join(loc)}：{message}")
    return errors


def place_refusal(fields: Iterable[FormField], exc: ApiError, errors: FormErrors) -> None:
    """A service's refusal of a form next to the field it concerns (a taken id or staff
    number, a piece the hall lacks), else above the form."""
    by_name = {f.name: f for f in fields}
    detail = exc.message.split("：", 1)[1] if "：" in exc.message else exc.message
    if exc.code == "hall_config_exists":
        if "工号" in detail and "staff_no" in by_name:
            errors.add("staff_no", detail.split("：")[-1])
        else:
            errors.add("id", "编号已被使用")
        return
    last = detail.split("：")[-1]  # "本大厅没有叫号区域 x", "业务小类 a 重复"
    if exc.code in ("hall_config_reference", "invalid_hall_config"):
        for label, piece in PIECE_SOURCES.items():
            if label not in last:
                continue
            for field in by_name.values():
                if field.source == piece or (piece == "business-types" and field.kind == "types"):
                    errors.add(field.name, last)
                    return
    errors.add("", exc.message)


# ---------------------------------------------------------------------------- helpers

_OMITTED = object()  # a field the body leaves out (the stored value stays)


def _read(field: FormField, form: MultiDictProxy[Any]) -> tuple[Any, Any, str]:
    """(value for the body, value to show again, problem) of one field."""
    name = field.name
    if field.kind == "check":
        on = bool(form_text(form, name))
        return on, on, ""
    if field.kind in ("multi", "types"):
        chosen = form_list(form, name)
        if field.required and not chosen:
            return _OMITTED, chosen, "请至少选择一项"
        if name == "working_weekdays":
            return [int(v) for v in chosen if v.isdigit()], chosen, ""
        return chosen, chosen, ""
    if field.kind == "hours":
        return _read_hours(field, form)
    if field.kind == "password":
        raw = form.get(name)
        if form_text(form, f"{name}.clear"):
            return "", "", ""
        return (raw if isinstance(raw, str) and raw else _OMITTED), "", ""
    text = form_text(form, name, 10_000)
    if not text:
        if field.required:
            return _OMITTED, text, "不能为空"
        if field.kind == "int" or "." in name:
            return (None if field.kind == "int" else _OMITTED), text, ""
        return "", text, ""
    if field.kind == "int":
        digits = text.removeprefix("-")
        if not digits.isdigit() or len(digits) > 9:
            return _OMITTED, text, "应为整数"
        return int(text), text, ""
    return text, text, ""


def _read_hours(field: FormField, form: MultiDictProxy[Any]) -> tuple[Any, Any, str]:
    starts = form_list(form, f"{field.name}.start")
    ends = form_list(form, f"{field.name}.end")
    shown = [{"start": s.strip(), "end": e.strip()} for s, e in zip(starts, ends, strict=False)]
    ranges = [r for r in shown if r["start"] or r["end"]]
    if any(not r["start"] or not r["end"] for r in ranges):
        return _OMITTED, shown, "请填写完整的开始和结束时间"
    return ranges, ranges, ""


def _longest(table: sa.Table | None, name: str) -> int | None:
    if table is None or name not in table.c:
        return None
    kind = table.c[name].type
    return kind.length if isinstance(kind, sa.String) and not isinstance(kind, sa.Text) else None


def _put(body: dict[str, Any], name: str, value: Any) -> None:
    *path, last = name.split(".")
    for part in path:
        body = body.setdefault(part, {})
    body[last] = value


def _get(item: Mapping[str, Any], name: str) -> Any:
    value: Any = item
    for part in name.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _quoted(body: Mapping[str, Any] | None, name: str, message: str) -> bool:
    value = _get(body, name) if body is not None else None
    return isinstance(value, str) and bool(value) and repr(value) in message


def _chinese(error: ErrorDetails) -> str:
    """A contract refusal in Chinese, by its kind."""
    kind = error["type"]
    ctx = error.get("ctx", {})
    text = str(error.get("msg", ""))
    if kind == "missing" or (kind == "string_too_short" and ctx.get("min_length") == 1):
        return "不能为空"
    if kind == "string_too_long":
        return f"不能超过 {ctx.get('max_length')} 个字"
    if kind == "string_pattern_mismatch":
        return "只能使用字母、数字和 _ . : -"
    if kind in ("greater_than_equal", "greater_than"):
        return f"不能小于 {ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"不能大于 {ctx.get('le', ctx.get('lt'))}"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "应为整数"
    if kind.startswith("time"):
        return "时间应写成 时:分，如 09:00"
    if kind in ("literal_error", "enum"):
        return "请从列表中选择"
    if kind == "too_short":
        return "请至少选择一项"
    if kind == "too_long":
        return f"最多选择 {ctx.get('max_length')} 项"
    return _VALUE_ERRORS.get(next((k for k in _VALUE_ERRORS if k in text), ""), "填写有误")


# the contract's own sentences (value errors) in Chinese, by a phrase they contain
_VALUE_ERRORS = {
    "ends before it starts": "结束时间应晚于开始时间",
    "prefix must be": "应为一到两个大写字母，如 A 或 TB",
    "does not say the ticket": "须包含 {number}（票号）",
    "unknown field": "只能使用 {number}、{window}、{window_name}、{service}",
    "listed twice": "不能重复选择",
    "": "填写有误",
}
