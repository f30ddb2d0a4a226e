// The kiosk (取号机, §4.1.2, §4.4): business types by category, by department and by pinyin
// initials, with live waiting counts; confirm with green channel and an SMS phone; the ticket
// printed or shown as a QR code for WeChat (无纸化取号); booking check-in on a keypad.
// Address: /screen/kiosk/<area id>?token=<kiosk token>[&lang=en][&idle=<seconds>]

import "./messages-kiosk.js";
import { runClock } from "./calendar.js";
import { LiveConnection, pageToken, showLiveState } from "./live.js";
import { applyTexts, pageLanguage, translator } from "./messages.js";

const lang = pageLanguage();
const t = translator(lang);
const params = new URLSearchParams(window.location.search);
const token = pageToken();
const $ = (id) => document.getElementById(id);

const IDLE_SECONDS = Number(params.get("idle")) || 60; // choosing: back home after this
const RESULT_SECONDS = Number(params.get("idle")) || 30; // the ticket shown: back home after this
const REFRESH_MS = 30000; // the list read again: printer, hours, reasons
const LETTERS = ["QWERTYUIOP", "ASDFGHJKL", "ZXCVBNM"];
const DIGITS = ["123", "456", "789"];

const state = {
  area: areaId(),
  services: [], // as listServices answers, in the hall's order
  printer: { device: null, status: "unknown", paperless: true },
  live: "connecting",
  category: "",
  department: null,
  search: "",
  searchSeq: 0,
  chosen: null, // the service being confirmed
  intent: "", // the Idempotency-Key of this confirmation: every tap on it is one request
  busy: false,
  me: null, // who the edge took this kiosk's token for (the relay's welcome)
  green: false,
  phone: "",
  smsOpen: false,
  checkinMode: "phone",
  checkinValue: "",
  idleLeft: 0,
  lastTouch: Date.now(),
};

function areaId() {
  const parts = window.location.pathname.split("/").filter(Boolean);
  return decodeURIComponent(parts[parts.length - 1] || "");
}

// ------------------------------------------------------------------ the edge's API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, body, key) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (key) headers["Idempotency-Key"] = key;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError(0, "network", t("kiosk.notice.network"));
  }
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = answer.error || {};
    throw new ApiError(response.status, error.code || "error", error.message || response.statusText);
  }
  return answer;
}

function newKey() {
  if (crypto.randomUUID) return `kiosk-${crypto.randomUUID()}`;
  return `kiosk-${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

async function loadServices() {
  try {
    const answer = await api("GET", `/api/areas/${encodeURIComponent(state.area)}/services`);
    state.services = answer.services || [];
    if (answer.printer) state.printer = answer.printer;
    renderAll();
    closedWhileChoosing();
  } catch (error) {
    if (error.code !== "network") showNotice(t("kiosk.notice.title"), error.message);
  }
}

// ------------------------------------------------------------------ the lists

/** Offered first, then by how often each is taken (§4.4 item 2), then the hall's order. */
function ranked(services) {
  return services
    .map((s, i) => ({ s, i }))
    .sort(
      (a, b) =>
        Number(b.s.available) - Number(a.s.available) ||
        (b.s.popularity || 0) - (a.s.popularity || 0) ||
        a.i - b.i,
    )
    .map(({ s }) => s);
}

/**
 * What the kiosk offers: a type nobody can take now (no window open, the day's cap reached,
 * outside its hours or the hall's) is not shown at all (§4.1.2); `?closed=show` shows them
 * greyed with the reason, for the help desk.
 */
const SHOW_CLOSED = new URLSearchParams(window.location.search).get("closed") === "show";

function offered(services) {
  return SHOW_CLOSED ? services : services.filter((s) => s.available);
}

function categories() {
  const seen = new Map();
  for (const s of offered(state.services)) {
    if (!seen.has(s.category)) seen.set(s.category, { id: s.category, name: s.category_name, waiting: 0 });
    seen.get(s.category).waiting += s.waiting || 0;
  }
  return [...seen.values()];
}

function departments() {
  const names = [];
  for (const s of offered(state.services)) {
    if (s.department && !names.includes(s.department)) names.push(s.department);
  }
  return names;
}

function serviceCard(s) {
  const card = document.createElement("button");
  card.type = "button";
  card.className = "service";
  card.dataset.id = s.id;
  card.dataset.available = String(Boolean(s.available));
  card.disabled = !s.available || state.live !== "online";
  const reason = s.available ? "" : t(`kiosk.reason.${s.unavailable_reason || "service_unavailable"}`);
  card.innerHTML = `
    <span class="service-prefix"></span>
    <span class="service-main">
      <span class="service-name"></span>
      <span class="service-desc"></span>
      <span class="service-reason"></span>
    </span>
    <span class="service-side">
      <span class="service-waiting"><b></b><small></small></span>
    </span>`;
  card.querySelector(".service-prefix").textContent = s.prefix;
  card.querySelector(".service-name").textContent = s.name;
  card.querySelector(".service-desc").textContent = s.description || "";
  card.querySelector(".service-waiting b").textContent = String(s.waiting ?? 0);
  card.querySelector(".service-waiting small").textContent = t("kiosk.waiting_label");
  card.querySelector(".service-reason").textContent = reason;
  if (!s.description) card.classList.add("no-desc");
  card.addEventListener("click", () => openConfirm(s.id));
  return card;
}

function fillList(list, all, { grouped = false, emptyText = t("kiosk.empty") } = {}) {
  const services = offered(all);
  list.replaceChildren();
  if (!services.length) {
    const empty = document.createElement("div");
    empty.className = "empty";
    empty.textContent = emptyText;
    // nothing offered at all: say why, when one reason holds for every type (hall closed…)
    const reasons = new Set(all.map((s) => s.unavailable_reason || "service_unavailable"));
    if (all.length && reasons.size === 1) {
      const why = document.createElement("small");
      why.className = "empty-why";
      why.textContent = t(`kiosk.reason.${[...reasons][0]}`);
      empty.append(why);
    }
    list.append(empty);
    return;
  }
  if (!grouped) {
    const grid = document.createElement("div");
    grid.className = "grid";
    grid.append(...services.map(serviceCard));
    list.append(grid);
    return;
  }
  for (const c of categories()) {
    const members = ranked(services.filter((s) => s.category === c.id));
    if (!members.length) continue;
    const head = document.createElement("h2");
    head.className = "group-head";
    head.dataset.category = c.id;
    head.innerHTML = "<span></span><small></small>";
    head.querySelector("span").textContent = c.name;
    head.querySelector("small").textContent = t("kiosk.waiting", { count: c.waiting });
    const grid = document.createElement("div");
    grid.className = "grid";
    grid.append(...members.map(serviceCard));
    list.append(head, grid);
  }
}

function chip(label, active, onTap, count) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "chip";
  button.setAttribute("aria-pressed", String(active));
  button.textContent = label;
  if (count !== undefined) {
    const badge = document.createElement("small");
    badge.textContent = String(count);
    button.append(badge);
  }
  button.addEventListener("click", onTap);
  return button;
}

function renderCategories() {
  const chips = $("category-chips");
  const all = categories();
  if (state.category && !all.some((c) => c.id === state.category)) state.category = "";
  chips.replaceChildren(
    chip(t("kiosk.all"), !state.category, () => pickCategory("")),
    ...all.map((c) => chip(c.name, state.category === c.id, () => pickCategory(c.id))),
  );
  const shown = state.category
    ? state.services.filter((s) => s.category === state.category)
    : state.services;
  fillList($("category-list"), shown, { grouped: true });
}

function pickCategory(id) {
  state.category = id;
  renderCategories();
  $("category-list").scrollTop = 0;
}

function renderDepartments() {
  const names = departments();
  document.body.dataset.departments = names.length ? "some" : "none";
  const other = state.services.some((s) => !s.department);
  const options = [...names, ...(other ? [""] : [])];
  if (state.department === null || !options.includes(state.department)) {
    state.department = options[0] ?? "";
  }
  $("department-chips").replaceChildren(
    ...options.map((d) =>
      chip(d || t("kiosk.other_department"), state.department === d, () => pickDepartment(d)),
    ),
  );
  const shown = ranked(state.services.filter((s) => (s.department || "") === state.department));
  fillList($("department-list"), shown);
}

function pickDepartment(name) {
  state.department = name;
  renderDepartments();
  $("department-list").scrollTop = 0;
}

async function renderSearch() {
  const text = state.search;
  $("search-text").textContent = text;
  $("search-box").dataset.empty = String(!text);
  if (!text) {
    $("search-hint").textContent = `${t("kiosk.search.example")}`;
    const popular = ranked(state.services).slice(0, 6);
    fillList($("search-list"), popular);
    return;
  }
  const seq = ++state.searchSeq;
  let found;
  try {
    const query = new URLSearchParams({ search: text.toLowerCase() });
    const answer = await api(
      "GET",
      `/api/areas/${encodeURIComponent(state.area)}/services?${query}`,
    );
    found = answer.services || [];
  } catch (error) {
    const needle = text.toLowerCase();
    found = state.services.filter((s) => s.pinyin.startsWith(needle) || s.name.includes(text));
  }
  if (seq !== state.searchSeq) return; // a newer key press answered first
  $("search-hint").textContent = t("kiosk.search.results");
  // the API answers most taken first (§4.4 item 2); the offered ones go first
  const offered = [...found.filter((s) => s.available), ...found.filter((s) => !s.available)];
  fillList($("search-list"), offered, { emptyText: t("kiosk.search.none", { text }) });
}

function renderAll() {
  renderCategories();
  renderDepartments();
  if (document.body.dataset.tab === "search") renderSearch();
  renderPrinter();
  if (state.chosen) refreshConfirm();
}

/** The type being confirmed closed meanwhile (cap reached, hours over…): say why. */
function closedWhileChoosing() {
  if (!state.chosen || state.busy || document.body.dataset.sheet !== "confirm") return;
  const s = serviceById(state.chosen);
  if (s && s.available) return;
  const code = (s && s.unavailable_reason) || "service_unavailable";
  closeSheets();
  showNotice(t("kiosk.notice.title"), t(`kiosk.closed.${code}`), t("kiosk.notice.refreshed"));
}

/** Live: the area's status carries each type's waiting count and whether it is offered. */
function applyAreaStatus(data) {
  if (data.area && data.area.name) $("area-name").textContent = data.area.name;
  const byId = new Map((data.services || []).map((s) => [s.id, s]));
  let changed = byId.size !== state.services.length;
  for (const s of state.services) {
    const live = byId.get(s.id);
    if (!live) {
      changed = true;
      continue;
    }
    // a type opens or closes, or closes for another reason (the kiosk says which)
    if (live.available !== s.available) changed = true;
    if ((live.unavailable_reason ?? null) !== (s.unavailable_reason ?? null)) changed = true;
    s.waiting = live.waiting;
  }
  if (changed) {
    loadServices(); // the reasons and the new list come from listServices
    return;
  }
  for (const card of document.querySelectorAll(".service")) {
    const s = byId.get(card.dataset.id);
    if (s) card.querySelector(".service-waiting b").textContent = String(s.waiting);
  }
  const totals = new Map(categories().map((c) => [c.id, c.waiting]));
  for (const head of document.querySelectorAll(".group-head")) {
    const count = totals.get(head.dataset.category) ?? 0;
    head.querySelector("small").textContent = t("kiosk.waiting", { count });
  }
  if (state.chosen) refreshConfirm();
}

// ------------------------------------------------------------------ tabs and keyboards

function showTab(tab) {
  document.body.dataset.tab = tab;
  for (const button of document.querySelectorAll(".tab")) {
    button.setAttribute("aria-selected", String(button.dataset.tab === tab));
  }
  if (tab === "search") renderSearch();
  if (tab === "checkin") renderCheckin();
}

function keyboard(container, rows, onKey, extra) {
  container.replaceChildren();
  for (const row of rows) {
    const line = document.createElement("div");
    line.className = "key-row";
    for (const k of row) line.append(keyButton(k, k, onKey));
    container.append(line);
  }
  if (extra) {
    const line = document.createElement("div");
    line.className = "key-row";
    for (const [label, value, cls] of extra) line.append(keyButton(label, value, onKey, cls));
    container.append(line);
  }
}

function keyButton(label, value, onKey, cls = "") {
  const button = document.createElement("button");
  button.type = "button";
  button.className = `key ${cls}`.trim();
  button.textContent = label;
  button.dataset.key = value;
  button.addEventListener("click", () => onKey(value));
  return button;
}

function searchKey(key) {
  if (key === "delete") state.search = state.search.slice(0, -1);
  else if (key === "clear") state.search = "";
  else if (state.search.length < 12) state.search += key;
  renderSearch();
}

function edit(value, key, max) {
  if (key === "delete") return value.slice(0, -1);
  if (key === "clear") return "";
  return value.length < max ? value + key : value;
}

// ------------------------------------------------------------------ confirming and taking

function serviceById(id) {
  return state.services.find((s) => s.id === id);
}

function openConfirm(id) {
  const s = serviceById(id);
  if (!s || !s.available || state.live !== "online") return;
  state.chosen = id;
  state.intent = newKey();
  state.green = false;
  state.phone = "";
  state.smsOpen = false;
  refreshConfirm();
  openSheet("confirm");
}

function refreshConfirm() {
  const s = serviceById(state.chosen);
  if (!s) return;
  $("confirm-name").textContent = s.name;
  $("confirm-desc").textContent = s.description || "";
  $("confirm-waiting").textContent = String(s.waiting ?? 0);
  $("confirm-windows").textContent = s.windows && s.windows.length
    ? t("kiosk.windows", { windows: s.windows.join("、") })
    : t("kiosk.no_windows");
  $("green").setAttribute("aria-pressed", String(state.green));
  $("sms").setAttribute("aria-pressed", String(state.smsOpen));
  $("confirm").dataset.sms = String(state.smsOpen);
  $("phone-value").textContent = state.phone;
  $("phone-entry").dataset.empty = String(!state.phone);
  const offline = state.live !== "online";
  $("take-print").disabled = offline || state.busy;
  $("take-paperless").disabled = offline || state.busy;
  $("confirm").dataset.busy = String(state.busy);
}

function renderPrinter() {
  document.body.dataset.printer = paperlessOnly() ? "out" : "ok";
}

/** No printer to print on (none attached, out of paper, offline): paperless tickets only. */
function paperlessOnly() {
  return !state.printer.device || Boolean(state.printer.paperless);
}

function phoneValid(phone) {
  return !phone || /^1\d{10}$/.test(phone);
}

async function take(paperless) {
  const s = serviceById(state.chosen);
  if (!s || state.busy || state.live !== "online") return;
  if (!phoneValid(state.phone)) {
    $("phone-error").textContent = t("kiosk.confirm.phone_invalid");
    return;
  }
  state.busy = true;
  refreshConfirm();
  try {
    const body = { business_type: s.id, green_channel: state.green };
    if (state.phone) body.phone = state.phone;
    const answer = await api("POST", "/api/tickets", body, state.intent);
    showResult(answer.ticket, { paperless: paperless || paperlessOnly(), service: s });
  } catch (error) {
    refused(error, t("kiosk.notice.title"));
  } finally {
    state.busy = false;
    if (state.chosen) refreshConfirm();
  }
}

/** A refusal while the citizen was choosing: say why in Chinese, and read the list again. */
function refused(error, title) {
  if (error.code === "network") {
    showNotice(title, error.message);
    return;
  }
  closeSheets();
  const sub = error.status === 409 ? t("kiosk.notice.refreshed") : "";
  showNotice(title, error.message, sub);
  loadServices();
}

// ------------------------------------------------------------------ the result

async function showResult(ticket, { paperless, service, checkedIn = false }) {
  state.chosen = null;
  const result = $("result");
  result.dataset.paperless = String(paperless);
  $("result-title").textContent = checkedIn ? t("kiosk.result.checked_in") : t("kiosk.result.ok");
  $("result-number").textContent = ticket.number;
  $("result-name").textContent = ticket.business_type_name || (service && service.name) || "";
  const ahead = ticket.waiting_at_issue ?? 0;
  $("result-ahead").textContent = ahead
    ? t("kiosk.result.ahead", { count: ahead })
    : t("kiosk.result.ahead_none");
  const windows = ticket.serving_windows || [];
  $("result-windows").textContent = windows.length
    ? t("kiosk.result.windows", { windows: windows.join("、") })
    : "";
  let tag = "";
  if (ticket.kind === "green") tag = t("kiosk.result.green");
  if (ticket.kind === "booking") {
    tag = ticket.booking && ticket.booking.late ? t("kiosk.result.late") : t("kiosk.result.booking");
  }
  $("result-tag").textContent = tag;
  $("result-tag").hidden = !tag;
  result.dataset.ticket = ticket.id;
  const qr = $("result-qr");
  if (qr.src.startsWith("blob:")) URL.revokeObjectURL(qr.src);
  qr.removeAttribute("src");
  openSheet("result");
  if (paperless) await loadQr(ticket.id);
}

async function loadQr(ticketId) {
  const path = `/api/tickets/${encodeURIComponent(ticketId)}/qr.svg`;
  try {
    const response = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
    if (!response.ok) throw new Error(`QR ${response.status}`);
    const blob = await response.blob();
    if ($("result").dataset.ticket !== ticketId) return;
    $("result-qr").src = URL.createObjectURL(blob);
  } catch (error) {
    console.warn("paperless QR not loaded", error);
  }
}

// ------------------------------------------------------------------ booking check-in

/**
 * A booking QR scanned at this kiosk's scanner checks the citizen in on the edge (and prints
 * the ticket there): show the ticket here too. This kiosk's own check-in shows its answer.
 */
function scannedHere(event) {
  if (event.type !== "ticket.issued" || !state.me) return;
  const ticket = event.ticket || {};
  if (ticket.source !== "booking" || ticket.issued_by !== `kiosk:${state.me.id}`) return;
  if (state.busy) return; // this kiosk's own check-in is on its way: its answer shows it
  const showing = document.body.dataset.sheet === "result" && $("result").dataset.ticket === ticket.id;
  if (!showing) showResult(ticket, { paperless: paperlessOnly(), checkedIn: true });
}

const CHECKIN = {
  phone: { max: 11, valid: (v) => /^1\d{10}$/.test(v), x: false },
  id_number: { max: 18, valid: (v) => /^\d{17}[\dX]$/.test(v), x: true },
  code: { max: 32, valid: (v) => v.length >= 4, x: false },
};

function renderCheckin() {
  const mode = CHECKIN[state.checkinMode];
  for (const button of document.querySelectorAll(".mode")) {
    button.setAttribute("aria-pressed", String(button.dataset.mode === state.checkinMode));
  }
  $("checkin-value").textContent = state.checkinValue;
  $("checkin-placeholder").textContent = t(`kiosk.checkin.placeholder.${state.checkinMode}`);
  $("checkin-field").dataset.empty = String(!state.checkinValue);
  $("checkin-submit").disabled = !mode.valid(state.checkinValue) || state.busy || state.live !== "online";
  const extra = [
    mode.x ? ["X", "X", ""] : [t("kiosk.key.clear"), "clear", "fn"],
    ["0", "0", ""],
    [t("kiosk.key.delete"), "delete", "fn"],
  ];
  const keys = $("checkin-keys");
  if (keys.dataset.mode !== state.checkinMode) {
    keys.dataset.mode = state.checkinMode;
    keyboard(keys, DIGITS, checkinKey, extra);
  }
}

function checkinKey(key) {
  const mode = CHECKIN[state.checkinMode];
  state.checkinValue = edit(state.checkinValue, key, mode.max);
  $("checkin-error").textContent = "";
  renderCheckin();
}

async function checkIn() {
  const mode = CHECKIN[state.checkinMode];
  if (state.busy || !mode.valid(state.checkinValue) || state.live !== "online") return;
  state.busy = true;
  renderCheckin();
  const key = state.intent || newKey();
  state.intent = key;
  try {
    const answer = await api("POST", "/api/checkins", { [state.checkinMode]: state.checkinValue }, key);
    state.checkinValue = "";
    state.intent = "";
    showResult(answer.ticket, { paperless: paperlessOnly(), checkedIn: true });
  } catch (error) {
    state.intent = "";
    $("checkin-error").textContent = error.message;
  } finally {
    state.busy = false;
    renderCheckin();
  }
}

// ------------------------------------------------------------------ sheets, notices, idle

function openSheet(name) {
  document.body.dataset.sheet = name;
  touched();
}

function closeSheets() {
  document.body.dataset.sheet = "";
  state.chosen = null;
  state.intent = "";
  touched();
}

function showNotice(title, text, sub = "") {
  $("notice-title").textContent = title;
  $("notice-text").textContent = text;
  $("notice-sub").textContent = sub;
  openSheet("notice");
}

/** Back to the start: categories, nothing typed, no sheet. */
function goHome() {
  closeSheets();
  state.search = "";
  state.checkinValue = "";
  state.category = "";
  $("checkin-error").textContent = "";
  showTab("categories");
  $("category-list").scrollTop = 0;
  renderCategories();
}

function touched() {
  state.lastTouch = Date.now();
  idleTick();
}

function atHome() {
  return (
    !document.body.dataset.sheet &&
    document.body.dataset.tab === "categories" &&
    !state.category &&
    !$("category-list").scrollTop
  );
}

function idleTick() {
  const limit = document.body.dataset.sheet === "result" ? RESULT_SECONDS : IDLE_SECONDS;
  const left = Math.max(0, Math.ceil(limit - (Date.now() - state.lastTouch) / 1000));
  const home = atHome();
  $("idle").textContent = home ? "" : t("kiosk.idle", { seconds: left });
  $("result-countdown").textContent = `（${left}）`;
  if (!home && left === 0 && !state.busy) goHome();
}

// ------------------------------------------------------------------ start

function wire() {
  for (const button of document.querySelectorAll(".tab")) {
    button.addEventListener("click", () => showTab(button.dataset.tab));
  }
  keyboard($("search-keys"), LETTERS, searchKey, [
    [t("kiosk.key.clear"), "clear", "fn"],
    [t("kiosk.key.delete"), "delete", "fn wide"],
  ]);
  for (const button of document.querySelectorAll(".mode")) {
    button.addEventListener("click", () => {
      state.checkinMode = button.dataset.mode;
      state.checkinValue = "";
      $("checkin-error").textContent = "";
      renderCheckin();
    });
  }
  $("checkin-submit").addEventListener("click", checkIn);
  keyboard($("phone-keys"), DIGITS, (key) => {
    state.phone = edit(state.phone, key, 11);
    $("phone-error").textContent = "";
    refreshConfirm();
  }, [
    [t("kiosk.key.clear"), "clear", "fn"],
    ["0", "0", ""],
    [t("kiosk.key.delete"), "delete", "fn"],
  ]);
  $("green").addEventListener("click", () => {
    state.green = !state.green;
    refreshConfirm();
  });
  $("sms").addEventListener("click", () => {
    state.smsOpen = !state.smsOpen;
    if (!state.smsOpen) state.phone = "";
    $("phone-error").textContent = "";
    refreshConfirm();
  });
  $("confirm-back").addEventListener("click", closeSheets);
  $("take-print").addEventListener("click", () => take(false));
  $("take-paperless").addEventListener("click", () => take(true));
  $("result-done").addEventListener("click", goHome);
  $("notice-ok").addEventListener("click", closeSheets);
  for (const type of ["pointerdown", "keydown"]) {
    document.addEventListener(type, touched, { capture: true, passive: true });
  }
  for (const list of document.querySelectorAll(".scroller")) {
    list.addEventListener("scroll", () => touched(), { passive: true });
  }
}

function liveState(live) {
  state.live = live;
  showLiveState($("live-badge"), live, t);
  if (live === "online") loadServices();
  else renderAll(); // cards and buttons disabled while the edge is unreachable
  if (document.body.dataset.tab === "checkin") renderCheckin();
}

function start() {
  document.documentElement.lang = lang;
  document.title = t("kiosk.title");
  applyTexts(document, t);
  runClock(
    { clock: $("clock"), date: $("solar"), weekday: $("weekday"), lunar: document.createElement("span") },
    t,
    lang,
  );
  wire();
  showTab("categories");
  setInterval(idleTick, 1000);
  if (!state.area) {
    showNotice(t("live.error"), t("kiosk.no_area"));
    return;
  }
  setInterval(() => state.live === "online" && loadServices(), REFRESH_MS);
  new LiveConnection({
    channels: [`area:${state.area}`, `events:${state.area}`],
    token,
    onWelcome: (identity) => {
      state.me = identity;
    },
    onEvent: (_channel, event) => scannedHere(event),
    onData: (_channel, data) => applyAreaStatus(data),
    onState: liveState,
    onError: (_channel, error) => showNotice(t("live.error"), error.message || error.code || ""),
  }).start();
}

start();
