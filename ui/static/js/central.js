// The central display (综合屏, §4.2.2) of one calling area: the number being called and its
// window, the latest calls in order, and for each business type who waits and who is next.
// Address: /screen/central/<area id>?token=<display token>[&lang=en][&rows=8]

import { runClock } from "./calendar.js";
import { LiveConnection, pageToken, showLiveState } from "./live.js";
import "./messages-central.js";
import { applyTexts, pageLanguage, translator } from "./messages.js";

const lang = pageLanguage();
const t = translator(lang);
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(window.location.search);
const ROWS = Math.max(3, Math.min(12, Number(params.get("rows")) || 8));
const HIGHLIGHT_MS = 12000; // a new call stands out this long

let shownCall = "";
let highlightTimer = 0;

function areaId() {
  const parts = window.location.pathname.split("/").filter(Boolean);
  return decodeURIComponent(parts[parts.length - 1] || "");
}

function cell(row, text, className) {
  const td = row.insertCell();
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function renderCurrent(latest) {
  const current = $("current");
  const call = latest[0];
  if (!call) {
    current.dataset.state = "none";
    return;
  }
  $("current-number").textContent = call.number;
  $("current-to").textContent = t("central.to_window", { number: call.window_number || "" });
  // a new call, or the same ticket called again (a recall moves last_called_at)
  const key = `${call.id}@${call.last_called_at}`;
  if (key !== shownCall) {
    const first = shownCall === "";
    shownCall = key;
    if (!first) {
      current.dataset.state = "new";
      // restart the animation even when two calls come quickly
      current.classList.remove("flash");
      void current.offsetWidth;
      current.classList.add("flash");
      clearTimeout(highlightTimer);
      highlightTimer = setTimeout(() => {
        current.dataset.state = "shown";
      }, HIGHLIGHT_MS);
      return;
    }
  }
  if (current.dataset.state === "none") current.dataset.state = "shown";
}

function renderLatest(latest) {
  const body = $("latest");
  body.replaceChildren();
  for (const call of latest.slice(1, ROWS + 1)) {
    const row = body.insertRow();
    row.dataset.ticket = call.number;
    cell(row, call.number, "number");
    cell(row, t("central.window_number", { number: call.window_number || "" }), "to");
  }
}

function renderServices(services) {
  const body = $("services");
  body.replaceChildren();
  for (const service of services) {
    const row = body.insertRow();
    row.dataset.service = service.id;
    if (!service.available) row.classList.add("closed");
    cell(row, service.name, "name");
    cell(row, String(service.waiting), "count");
    cell(row, service.next || (service.available ? t("central.none") : t("central.closed")), "next");
  }
}

function render(status) {
  $("hall-name").textContent = params.get("title") || (status.hall ? status.hall.name : "");
  $("area-name").textContent = status.area ? status.area.name : "";
  const latest = status.latest_calls || [];
  renderCurrent(latest);
  renderLatest(latest);
  renderServices(status.services || []);
  document.body.dataset.updated = String(Date.now());
}

function start() {
  document.documentElement.lang = lang;
  applyTexts(document, t);
  runClock(
    { clock: $("clock"), date: $("solar"), weekday: $("weekday"), lunar: $("lunar") },
    t,
    lang,
  );
  const area = areaId();
  const badge = $("live-badge");
  new LiveConnection({
    channels: [`area:${area}`],
    token: pageToken(),
    onData: (_channel, data) => render(data),
    onState: (state) => showLiveState(badge, state, t),
    onError: (_channel, error) => {
      $("current-idle").textContent = error.message || error.code || t("live.error");
      $("current").dataset.state = "none";
    },
  }).start();
}

start();
