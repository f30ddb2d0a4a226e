// The window display (窗口屏, §4.2.1): the window's number and name, the number it calls,
// pause and backstage notices, date, lunar date and clock, welcome text and a marquee.
// Address: /screen/window/<window id>?token=<display token>[&lang=en]

import { runClock } from "./calendar.js";
import { LiveConnection, pageToken, showLiveState } from "./live.js";
import { applyTexts, pageLanguage, translator } from "./messages.js";

const lang = pageLanguage();
const t = translator(lang);
const $ = (id) => document.getElementById(id);

function windowId() {
  const parts = window.location.pathname.split("/").filter(Boolean);
  return decodeURIComponent(parts[parts.length - 1] || "");
}

/** What the stage shows for a window state: a call, or a notice with its two lines. */
function stageOf(state) {
  const status = state.status;
  if (status === "paused") return { notice: "paused" };
  if (status === "backstage") return { notice: "backstage" };
  if (status === "closed") return { notice: "closed" };
  if (state.current) return { call: state.current.number };
  return { notice: "welcome" };
}

function render(state) {
  document.body.dataset.status = state.status;
  $("window-number").textContent = t("window.number", { number: state.number });
  $("window-name").textContent = state.name || "";
  const staff = state.staff;
  $("staff").textContent = staff ? t("window.staff", { name: staff.name }) : "";
  $("staff-no").textContent = staff ? t("window.staff_no", { staff_no: staff.staff_no }) : "";
  const stage = stageOf(state);
  document.body.dataset.stage = stage.call ? "call" : stage.notice;
  if (stage.call) {
    $("ticket").textContent = stage.call;
    $("call-to").textContent = t("window.calling_to", { number: state.number });
    $("call-short").textContent = t("window.calling_short", { number: state.number });
  } else {
    const key = stage.notice === "welcome" ? "window.welcome" : `window.${stage.notice}`;
    $("notice-title").textContent = t(key);
    $("notice-sub").textContent = t(`${key}_sub`);
  }
}

function showError(error) {
  document.body.dataset.stage = "error";
  $("notice-title").textContent = t("live.error");
  $("notice-sub").textContent = error.message || error.code || "";
}

function start() {
  document.documentElement.lang = lang;
  applyTexts(document, t);
  runClock(
    { clock: $("clock"), date: $("solar"), weekday: $("weekday"), lunar: $("lunar") },
    t,
    lang,
  );
  const id = windowId();
  const badge = $("live-badge");
  if (!id) {
    showError({ message: t("live.no_window") });
    return;
  }
  const channel = `window:${id}`;
  new LiveConnection({
    channels: [channel],
    token: pageToken(),
    onData: (_channel, data) => render(data),
    onState: (state) => showLiveState(badge, state, t),
    onError: (_channel, error) => showError(error),
  }).start();
}

start();
