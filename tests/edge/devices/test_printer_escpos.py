"""A ticket's ESC/POS bytes, read back by a parser of the test's own (not the renderer's)."""

from __future__ import annotations

import datetime as dt
import logging
import unicodedata
from dataclasses import dataclass, field

import pytest

from edge.devices import profiles
from edge.devices.printer.encode import ticket_bytes
from edge.devices.printer.layout import TicketContent, layout
from edge.devices.printer.profile import PrinterProfile
from sync.tickettemplate import DEFAULT_TEMPLATE, TextElement, TicketTemplate
from tests.conftest import SHANGHAI

HINT = "请携带身份证原件及复印件（一式两份），工本费￥10。"
INSTRUCTIONS = (
    "1. 取号后请留意叫号屏与语音提示；2. 过号请到服务台重新取号；"
    "3. 办理完成后请对本次服务进行评价（满意／基本满意／不满意）。"
)
PAYLOAD = "https://wx.hall.example.cn/t/01JQ4Z8M3X5D7K9P2R6T8V0W1Y?s=" + "a1b2c3d4" * 8


def sample_ticket() -> TicketContent:
    return TicketContent(
        number="A012",
        issued_at=dt.datetime(2026, 3, 2, 9, 15, tzinfo=SHANGHAI),
        business_type="不动产登记（抵押）",
        serving_windows=("3", "5", "12"),
        waiting=7,
        unit_name="某某市政务服务中心",
        hint=HINT,
        instructions=INSTRUCTIONS,
    )


@pytest.fixture(scope="module")
def printers() -> dict[str, PrinterProfile]:
    found = profiles.load_catalogue().kind("printers")
    return {k: v for k, v in found.items() if isinstance(v, PrinterProfile)}


def job(profile: PrinterProfile, template: TicketTemplate = DEFAULT_TEMPLATE) -> bytes:
    return ticket_bytes(layout(sample_ticket(), template, profile, PAYLOAD), profile)


# --- an independent ESC/POS reader: a table of command lengths, no shared code -------------


@dataclass
class Line:
    raw: bytes = b""
    wrapped: list[bool] = field(default_factory=list)  # per text run: inside FS & … FS .
    size: int = 0  # GS ! n in force when the line was printed
    bold: int = 0
    italic: int | None = None


@dataclass
class Job:
    lines: list[Line]
    commands: list[bytes]  # every command, in order, text runs as b"TEXT"
    qr: dict[int, bytes]  # fn -> the whole GS ( k command


FIXED = {b"\x1b@": 2, b"\x1bE": 3, b"\x1b-": 3, b"\x1bM": 3, b"\x1ba": 3, b"\x1bd": 3,
         b"\x1b4": 3, b"\x1bt": 3, b"\x1d!": 3, b"\x1c&": 2, b"\x1c.": 2}  # fmt: skip


def read_job(data: bytes) -> Job:
    lines, commands, qr = [], [], {}
    line, size, bold, italic, chinese, i = Line(), 0, 0, None, False, 0
    while i < len(data):
        head = data[i : i + 2]
        if data[i] == 0x0A:
            line.size, line.bold, line.italic = size, bold, italic
            lines.append(line)
            line, i = Line(), i + 1
            commands.append(b"\n")
        elif head in FIXED:
            command = data[i : i + FIXED[head]]
            commands.append(command)
            if head == b"\x1d!":
                size = command[2]
            elif head == b"\x1bE":
                bold = command[2]
            elif head == b"\x1b4":
                italic = command[2]
            chinese = {b"\x1c&": True, b"\x1c.": False}.get(head, chinese)
            i += len(command)
        elif head == b"\x1d(":
            length = int.from_bytes(data[i + 3 : i + 5], "little")
            command = data[i : i + 5 + length]
            qr[command[6]] = command
            commands.append(command)
            i += len(command)
        elif head == b"\x1dv":
            w, h = (
                int.from_bytes(data[i + 4 : i + 6], "little"),
                int.from_bytes(data[i + 6 : i + 8], "little"),
            )
            commands.append(data[i : i + 8])
            i += 8 + w * h
        elif head == b"\x1dV":
            n = 4 if data[i + 2] in (65, 66) else 3
            commands.append(data[i : i + n])
            i += n
        else:
            assert data[i] >= 0x20, f"unexpected control byte {data[i]:#x} at {i}"
            end = i
            while end < len(data) and data[end] >= 0x20:
                end += 1
            line.raw += data[i:end]
            line.wrapped.append(chinese)
            commands.append(b"TEXT")
            i = end
    return Job(lines, commands, qr)


def texts(profile: PrinterProfile, data: bytes) -> list[str]:
    return [ln.raw.decode(profile.encoding) for ln in read_job(data).lines if ln.raw]


def columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


# --- tests ---------------------------------------------------------------------------------


def test_chinese_text_with_full_width_punctuation_decodes_exactly(printers):
    profile = printers["rongta-rp326"]
    lines = texts(profile, job(profile))
    assert "不动产登记（抵押）" in lines
    assert "前面还有 7 人等候" in lines
    assert "请到 3、5、12 号窗口办理" in lines
    assert "取号时间：2026-03-02 09:15" in lines
    hint = next(i for i, t in enumerate(lines) if t.startswith("业务提示："))
    assert "".join(lines[hint : hint + 2]) == "业务提示：" + HINT
    assert "?" not in "".join(lines)


def test_the_printer_in_chinese_mode_from_boot_gets_no_fs_and(printers):
    profile = printers["xprinter-xp-80c"]
    data = job(profile)
    assert b"\x1c&" not in data and b"\x1c." not in data
    assert "某某市政务服务中心" in texts(profile, data)


def test_fs_and_wraps_every_chinese_run_and_not_ascii_ones(printers):
    profile = printers["rongta-rp326"]
    lines = [ln for ln in read_job(job(profile)).lines if ln.raw]
    for ln in lines:
        assert ln.wrapped == [not ln.raw.isascii()], ln.raw
    assert any(ln.raw == b"A012" and ln.wrapped == [False] for ln in lines)


def test_qr_commands_carry_the_payload_with_its_length(printers):
    profile = printers["rongta-rp326"]
    qr = read_job(job(profile)).qr
    store = qr[80]
    size = len(PAYLOAD) + 3
    assert store[:5] == b"\x1d(k" + bytes([size & 0xFF, size >> 8])
    assert store[5:8] == b"1P0" and store[8:] == PAYLOAD.encode("ascii")
    assert qr[65] == b"\x1d(k\x04\x001A2\x00"  # model 2
    assert qr[67] == b"\x1d(k\x03\x001C\x06"  # module size 6
    assert qr[69] == b"\x1d(k\x03\x001E1"  # error correction M
    assert qr[81] == b"\x1d(k\x03\x001Q0"
    commands = read_job(job(profile)).commands
    assert commands.index(qr[80]) < commands.index(qr[81])


def test_a_printer_without_native_qr_prints_it_as_an_image(printers):
    data = job(printers["zjiang-pos-5890"])
    assert b"\x1d(k" not in data
    assert b"\x1dv0\x00" in data


@pytest.mark.parametrize(
    ("printer", "last"),
    [("rongta-rp326", b"\x1dV\x00"), ("xprinter-xp-80c", b"\x1dVB\x00")],
)
def test_the_cut_is_the_last_thing_sent(printers, printer, last):
    data = job(printers[printer])
    assert data.endswith(last)
    assert read_job(data).commands[-1] == last
    assert read_job(data).commands[-2] == b"\x1bd" + bytes([printers[printer].cut.feed_lines])


def test_a_printer_without_cutter_gets_no_cut(printers):
    data = job(printers["zjiang-pos-5890"])
    assert b"\x1dV" not in data
    assert data.endswith(b"\x1bd\x03")


def test_size_and_bold_follow_the_template(printers):
    profile = printers["rongta-rp326"]
    by_text = {ln.raw.decode("gb18030"): ln for ln in read_job(job(profile)).lines if ln.raw}
    assert (by_text["A012"].size, by_text["A012"].bold) == (0x33, 1)  # 4×4, bold
    assert (by_text["不动产登记（抵押）"].size, by_text["不动产登记（抵押）"].bold) == (0x11, 0)
    assert by_text["某某市政务服务中心"].size == 0x01 and by_text["某某市政务服务中心"].bold == 1
    assert by_text["前面还有 7 人等候"].size == 0x00


def test_italic_falls_back_to_upright_where_the_printer_has_none(printers, caplog):
    elements = [e for e in DEFAULT_TEMPLATE.elements if e.kind != "time"]
    italic = TicketTemplate(
        elements=[*elements, TextElement(kind="time", line=50, effect="italic")]
    )
    caplog.set_level(logging.DEBUG, logger="edge.devices.printer")
    assert b"\x1b4" not in job(printers["rongta-rp326"], italic)
    assert "no italic" in caplog.text
    data = printers["rongta-rp326"].model_dump()
    data["capabilities"]["italic"] = True
    slanted = PrinterProfile.model_validate(data)
    by_text = {ln.raw.decode("gb18030"): ln for ln in read_job(job(slanted, italic)).lines}
    assert by_text["2026-03-02 09:15"].italic == 1
    assert by_text["A012"].italic == 0


def test_a_58mm_printer_wraps_long_instructions_to_its_line(printers):
    profile = printers["zjiang-pos-5890"]
    assert profile.columns("A") == 32
    lines = texts(profile, job(profile))
    start = next(i for i, t in enumerate(lines) if t.startswith("办理方法："))
    end = next(i for i, t in enumerate(lines) if t.startswith("微信"))  # the QR caption
    wrapped = lines[start:end]
    assert all(columns(t) <= 32 for t in wrapped)
    assert len(wrapped) >= 4
    joined = "".join(wrapped)
    assert joined.replace(" ", "") == ("办理方法：" + INSTRUCTIONS).replace(" ", "")
    assert not any(t[0] in "）。，；" for t in wrapped)


def test_ticket_content_comes_from_the_issued_ticket_and_the_hall_setup():
    from sync.hallsetup import BusinessType, HallInfo

    hall = HallInfo(id="h1", name="大厅", unit_name="某某市政务服务中心")
    kind = BusinessType(id="bdc", category="c", name="不动产登记", prefix="A", hint=HINT)
    issued_ms = int(dt.datetime(2026, 3, 2, 9, 15, tzinfo=SHANGHAI).timestamp() * 1000)
    view = {
        "number": "A012",
        "issued_at": issued_ms,
        "business_type_name": "不动产登记",
        "serving_windows": ["3", "5"],
        "waiting_at_issue": 7,
    }
    content = TicketContent.from_view(view, hall=hall, business_type=kind)
    assert content.issued_at.strftime("%H:%M") == "09:15"
    fields = content.fields(DEFAULT_TEMPLATE)
    assert fields["serving_windows"] == "3、5" and fields["unit_name"] == "某某市政务服务中心"
    assert fields["hint"] == HINT and fields["instructions"] == ""
