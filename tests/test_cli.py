"""`hall demo` and `hall edge run` as a new user runs them, in real subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from tests.conftest import Mosquitto, free_port
from tests.mqtt_listener import Listener

HALL = [sys.executable, "-m", "smarthall"]


@contextmanager
def running(args: list[str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [*HALL, *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_healthy(port: int, proc: subprocess.Popen[str], timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited early: {proc.stdout.read() if proc.stdout else ''}")
        try:
            body: dict[str, Any] = requests.get(
                f"http://127.0.0.1:{port}/api/health", timeout=1
            ).json()
            return body
        except requests.ConnectionError:
            time.sleep(0.1)
    raise TimeoutError("the node never answered")


def read_until(proc: subprocess.Popen[str], marker: str) -> str:
    assert proc.stdout is not None
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError("".join(seen))


def test_the_demo_runs_a_seeded_hall_on_the_local_broker(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    port = free_port()
    data = tmp_path / "hall-data"
    args = [
        "demo",
        "--port",
        str(port),
        "--data",
        str(data),
        "--mqtt",
        f"127.0.0.1:{mosquitto.port}",
    ]
    listener = Listener(mosquitto.host, mosquitto.port, "smarthall/demo-hall/#")
    try:
        with running(args, tmp_path) as proc:
            assert wait_healthy(port, proc)["configured"] is True
            banner = read_until(proc, "Ctrl-C")
            assert f"127.0.0.1:{mosquitto.port}" in banner and str(data) in banner
            tokens = json.loads((data / "tokens.json").read_text())
            kiosk = {"Authorization": f"Bearer {tokens['kiosk-east']['token']}"}
            base = f"http://127.0.0.1:{port}/api"
            services = requests.get(f"{base}/areas/east/services", headers=kiosk, timeout=5).json()
            west = requests.get(f"{base}/areas/west/services", headers=kiosk, timeout=5).json()
            ids = {s["id"] for s in services["services"]} | {s["id"] for s in west["services"]}
            assert len(ids) == 8
            login = requests.post(
                f"{base}/windows/w01/login",
                json={"staff_no": "1001", "password": "demo1234"},
                timeout=10,
            ).json()
            ticket = requests.post(
                f"{base}/tickets", json={"business_type": "biz-reg"}, headers=kiosk, timeout=5
            ).json()["ticket"]
            staff = {"Authorization": f"Bearer {login['token']}"}
            called = requests.post(f"{base}/windows/w01/call-next", headers=staff, timeout=5).json()
            assert called["window"]["current"]["number"] == ticket["number"]
            listener.wait_for(
                lambda s: any(t.endswith("/event/ticket.called") for t, _, _ in s), 15
            )
        assert not (Path(__file__).parent.parent / "smarthall-demo").exists()
    finally:
        listener.close()


def test_the_demo_starts_an_embedded_broker_when_none_answers(tmp_path: Path) -> None:
    port, nothing = free_port(), free_port()
    args = ["demo", "--port", str(port), "--data", str(tmp_path), "--mqtt", f"127.0.0.1:{nothing}"]
    with running(args, tmp_path) as proc:
        wait_healthy(port, proc)
        banner = read_until(proc, "Ctrl-C")
        line = next(x for x in banner.splitlines() if x.strip().startswith("MQTT broker"))
        assert "embedded" in line
        broker_port = int(line.split(" at ")[1].split(",")[0].rsplit(":", 1)[1])
        listener = Listener("127.0.0.1", broker_port, "smarthall/demo-hall/edge/online")
        try:
            listener.wait_for(lambda s: any(p == 1 for _, p, _ in s), 15)
        finally:
            listener.close()


def test_edge_run_reads_a_toml_file(tmp_path: Path) -> None:
    from tests.edge.hall import small_hall

    port = free_port()
    (tmp_path / "hall.json").write_text(small_hall().model_dump_json())
    (tmp_path / "edge.toml").write_text(
        f'[node]\ndata_dir = "state"\nsetup_file = "hall.json"\n'
        f"[api]\nport = {port}\n[mqtt]\nenabled = false\n"
    )
    with running(["edge", "run", "--config", str(tmp_path / "edge.toml")], tmp_path) as proc:
        assert wait_healthy(port, proc)["configured"] is True
    assert (tmp_path / "state" / "edge.sqlite3").exists()


def test_edge_run_explains_a_bad_configuration(tmp_path: Path) -> None:
    (tmp_path / "edge.toml").write_text('[api]\nport = "eighty"\ncolour = 1\n')
    result = subprocess.run(
        [*HALL, "edge", "run", "--config", str(tmp_path / "edge.toml")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "api.port" in result.stderr and "api.colour" in result.stderr


def test_a_simulated_led_controller_shows_what_the_driver_sends(tmp_path: Path) -> None:
    from edge.devices.led.driver import LedDisplay
    from edge.devices.profiles import load_catalogue

    profile = load_catalogue().get("leds", "huidu-sdk2-hall-192x96")
    with running(
        ["device", "simulate", "led", "--profile", "huidu-sdk2-hall-192x96"], tmp_path
    ) as proc:
        first = read_until(proc, "simulated LED controller")
        port = int(first.strip().rsplit(":", 1)[1])
        display = LedDisplay(profile, f"127.0.0.1:{port}")  # type: ignore[arg-type]
        display.show_board(["A012 → 3号窗口", "B003 → 5号窗口"])
        shown = read_until(proc, "screen:")
        assert "A012" in shown and "3号窗口" in shown


def test_a_simulated_printer_prints_what_it_is_sent(tmp_path: Path, mosquitto: Mosquitto) -> None:
    import base64

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from edge.devices.printer.encode import encode_text
    from edge.devices.profiles import load_catalogue

    broker = f"127.0.0.1:{mosquitto.port}"
    args = ["device", "simulate", "printer", "--device", "p1", "--profile", "zjiang-pos-5890",
            "--hall", "h", "--broker", broker, "--out", str(tmp_path)]  # fmt: skip
    with running(args, tmp_path) as proc:
        read_until(proc, "simulated printer")
        online = Listener(mosquitto.host, mosquitto.port, "smarthall/h/device/p1/online")
        online.wait_for(lambda s: any(p == 1 for _, p, _ in s))
        online.close()
        profile = load_catalogue().get("printers", "zjiang-pos-5890")
        job = b"\x1b@" + encode_text("A012 号", profile) + b"\n\n"  # type: ignore[arg-type]
        client = mqtt.Client(CallbackAPIVersion.VERSION2)
        client.connect(mosquitto.host, mosquitto.port)
        client.loop_start()
        command = {"v": 1, "id": "t1", "data": {"job": base64.b64encode(job).decode()}}
        client.publish(
            "smarthall/h/device/p1/cmd/print", json.dumps(command), qos=1
        ).wait_for_publish(5)
        for _ in range(200):
            if (tmp_path / "t1.png").exists():
                break
            time.sleep(0.05)
        client.loop_stop()
        client.disconnect()
        assert (tmp_path / "t1.png").exists()


def test_a_simulated_card_reader_and_scanner_send_what_is_typed(
    tmp_path: Path, mosquitto: Mosquitto
) -> None:
    broker = f"127.0.0.1:{mosquitto.port}"
    listener = Listener(mosquitto.host, mosquitto.port, "smarthall/h/device/+/event")
    try:
        sims = (("card-reader", "reader-w1", "04A2245A6B1C80"),
                ("scanner", "scan-1", "https://wx.example/b/QR1234"))  # fmt: skip
        for kind, device, line in sims:
            command = [*HALL, "device", "simulate", kind, "--device", device]
            command += ["--hall", "h", "--broker", broker]
            proc = subprocess.Popen(
                command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            try:
                read_until(proc, "simulated")
                assert proc.stdin is not None
                proc.stdin.write(line + "\n")
                proc.stdin.flush()
                listener.wait_for(lambda s, d=device: any(f"/{d}/event" in t for t, _, _ in s))
            finally:
                proc.terminate()
                proc.wait(10)
        events = {t.split("/")[3]: p["data"] for t, p, _ in listener.messages}
        assert events["reader-w1"] == {"card": "04A2245A6B1C80"}
        assert events["scan-1"] == {"text": "https://wx.example/b/QR1234"}
    finally:
        listener.close()
