// The staff caller client (智慧政务客户端, §4.5, §5.1): log in to a window, call, recall,
// finish (and request the evaluation), transfer, 补证补件, abandon, pause, backstage, 一米线;
// the waiting and called lists with search; the one-ticket-one-evaluation gate and the
// auto-call countdown; skins; keyboard shortcuts. Every button is one API call with its own
// Idempotency-Key and cannot fire twice (防连点, §4.5.2 item 4). A staff card read at the
// window's reader logs in here too (caller-card.js); 剪刀截屏 sends a marked-up picture to the
// window's Pad (caller-screenshot.js).
// Address: /screen/caller/<window id>[?lang=en][&token=<the window's caller PC token>]

import { hallTimeZone, wallTime } from "./calendar.js";
import { CardLoginWatch } from "./caller-card.js";
import { ScreenshotDialog } from "./caller-screenshot.js";
import { LiveConnection, pageToken, showLiveState } from "./live.js";
import "./messages-caller.js";
import { applyTexts, pageLanguage, translator } from "./messages.js";

const lang = pageLanguage();
const t = translator(lang);
const timeZone = hallTimeZone();
const $ = (id) => document.getElementById(id);

const SESSION_KEY = "smarthall.caller.session";
const SKIN_KEY = "smarthall.caller.skin";
const SKINS = ["blue", "green", "red", "dark"];
const REPEAT_MS = 1000; // a second click of the same button this soon repeats the first
const LIST_LIMIT = 200;
const LIST_DELAY_MS = 150;

/** What each button does: its API path and body; `ticket` when it needs a current ticket. */
const ACTIONS = {
  next: { path: "call-next", done: "caller.done.next" },
  recall: { path: "recall", ticket: true, done: "caller.done.recall" },
  finish_evaluate: {
    path: "finish",
    body: { request_evaluation: true },
    ticket: true,
    done: "caller.done.finish_evaluate",
  },
  finish: {
    path: "finish",
    body: { request_evaluation: false },
    ticket: true,
    done: "caller.done.finish",
  },
  transfer: { path: "transfer", ticket: true, done: "caller.done.transfer" },
  supplement: { path: "supplement", ticket: true, done: "caller.done.supplement" },
  abandon: { path: "abandon", ticket: true, done: "caller.done.abandon" },
  pause: { path: "pause", done: "caller.done.pause" },
  resume: { path: "resume", done: "caller.done.resume" },
  backstage: { path: "backstage", done: "caller.done.backstage" },
  one_meter: { path: "one-meter-line", done: "caller.done.one_meter" },
  logout: { path: "logout" },
};

/** Keyboard shortcuts; they never fire while typing in a field or with a dialog open. F11 is
 * left to the browser (full screen), and F5 and F12 too; Ctrl+Shift+S is free in Chromium. */
const SHORTCUTS = {
  F1: "next",
  " ": "next",
  F2: "recall",
  F3: "finish_evaluate",
  "Shift+F3": "finish",
  F4: "pause",
  F6: "transfer",
  F7: "supplement",
  F8: "abandon",
  F9: "backstage",
  F10: "one_meter",
  "Ctrl+Shift+S": "screenshot",
};

const state = {
  hall: null, // the hall's rules: evaluation_gate, auto_call_seconds, …
  windows: [],
  clockOffset: 0, // hall time minus this browser's time
  session: null, // {token, window, staff_no}
  win: null, // the window's state as windowStatus answers it
  live: null,
  liveState: "idle",
  inFlight: null, // the action waiting for its answer: one at a time
  lastKeys: {}, // {action: {key, at}}: a quick second click of the last button repeats it
  gateUntil: null, // performance.now() when the evaluation gate opens
  autoCallAt: null, // performance.now() when the window calls by itself
  tab: "waiting",
  search: "",
  lists: { waiting: [], called: [] },
  listGeneration: 0,
  listTimer: null,
};

// ------------------------------------------------------------------ the API

class ApiError extends Error {
  constructor(error, status) {
    super(error.message || error.code);
    this.code = error.code;
    this.status = status;
    this.error = error;
  }
}

/** One edge API call; `body` goes as JSON, or as it is when it is a Blob (a picture). */
async function api(method, path, { body, key, token = state.session?.token } = {}) {
  const headers = { Accept: "application/json" };
  const raw = body instanceof Blob;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (key) headers["Idempotency-Key"] = key;
  if (body !== undefined) {
    headers["Content-Type"] = raw ? body.type || "application/octet-stream" : "application/json";
  }
  let response;
  try {
    response = await fetch(`/api${path}`, {
      method,
      headers,
      body: body === undefined || raw ? body : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (error) {
    throw new ApiError({ code: "network", message: t("caller.error.network") }, 0);
  }
  let data = null;
  try {
    data = await response.json();
  } catch (error) {
    data = null;
  }
  if (!response.ok) {
    const error = data?.error || { code: `http_${response.status}`, message: response.statusText };
    throw new ApiError(error, response.status);
  }
  return data;
}

/** A fresh idempotency key; crypto.randomUUID needs a secure context, a hall LAN is not. */
function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return `caller-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

// ------------------------------------------------------------------ texts and times

function hhmm(ms) {
  if (!ms) return "";
  const wall = wallTime(new Date(ms), timeZone);
  return `${String(wall.hour).padStart(2, "0")}:${String(wall.minute).padStart(2, "0")}`;
}

function hallNow() {
  return Date.now() + state.clockOffset;
}

function windowLabel(id) {
  const w = state.windows.find((x) => x.id === id);
  return w ? t("caller.window", { number: w.number }) : id;
}

function flagsOf(ticket) {
  const flags = [];
  if (ticket.kind === "green") flags.push(["green", t("caller.flag.green")]);
  if (ticket.kind === "booking") flags.push(["booking", t("caller.flag.booking")]);
  if (ticket.kind === "supplement") flags.push(["supplement", t("caller.flag.supplement")]);
  if (ticket.priority && ticket.kind !== "green") {
    flags.push(["priority", t("caller.flag.priority")]);
  }
  if (ticket.transfers) flags.push(["transferred", t("caller.flag.transferred")]);
  return flags;
}

function flagElements(ticket) {
  return flagsOf(ticket).map(([kind, text]) => {
    const el = document.createElement("span");
    el.className = `flag flag-${kind}`;
    el.textContent = text;
    return el;
  });
}

// ------------------------------------------------------------------ skins

function setSkin(skin) {
  const chosen = SKINS.includes(skin) ? skin : SKINS[0];
  document.body.dataset.skin = chosen;
  for (const select of document.querySelectorAll(".skin-select")) select.value = chosen;
  try {
    localStorage.setItem(SKIN_KEY, chosen);
  } catch (error) {
    // private mode: the skin lasts for this page only
  }
}

function setUpSkins() {
  for (const select of document.querySelectorAll(".skin-select")) {
    for (const skin of SKINS) {
      const option = document.createElement("option");
      option.value = skin;
      option.textContent = t(`caller.skin.${skin}`);
      select.append(option);
    }
    select.addEventListener("change", () => {
      setSkin(select.value);
      select.blur();
    });
  }
  let saved = null;
  try {
    saved = localStorage.getItem(SKIN_KEY);
  } catch (error) {
    saved = null;
  }
  setSkin(saved);
}

// ------------------------------------------------------------------ session

function savedSession() {
  try {
    const session = JSON.parse(sessionStorage.getItem(SESSION_KEY) || "null");
    return session && session.token && session.window ? session : null;
  } catch (error) {
    return null;
  }
}

function saveSession(session) {
  state.session = session;
  if (session) sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
  else sessionStorage.removeItem(SESSION_KEY);
}

function pathWindow() {
  const parts = window.location.pathname.split("/").filter(Boolean);
  return parts.length >= 3 ? decodeURIComponent(parts[parts.length - 1]) : "";
}

function showWindowInAddress(windowId) {
  const parts = window.location.pathname.split("/");
  parts[parts.length - 1] = encodeURIComponent(windowId);
  const path = parts.join("/");
  if (path !== window.location.pathname) {
    history.replaceState(null, "", path + window.location.search);
  }
}

// ------------------------------------------------------------------ log in

async function loadWindows() {
  try {
    const answer = await api("GET", "/caller/windows", { token: "" });
    state.hall = answer.hall;
    state.windows = answer.windows;
    state.clockOffset = answer.now - Date.now();
    document.body.dataset.gate = answer.hall.evaluation_gate ? "on" : "off";
    $("hall-name").textContent = answer.hall.name;
    return true;
  } catch (error) {
    $("login-error").textContent = t("caller.login.no_hall", { message: error.message });
    return false;
  }
}

function fillWindowChoice(preferred) {
  const select = $("login-window");
  const previous = preferred || select.value;
  select.replaceChildren();
  for (const w of state.windows) {
    const option = document.createElement("option");
    option.value = w.id;
    const busy = w.status !== "closed" ? t("caller.login.window_busy") : "";
    option.textContent =
      t("caller.login.window_option", { number: w.number, name: w.name, area: w.area_name }) +
      busy;
    select.append(option);
  }
  if (state.windows.some((w) => w.id === previous)) select.value = previous;
}

/** The login form; with the caller PC's token it also waits for a staff card (`armed`: a
 * login already made at the window is taken too). */
function showLogin(message = "", { armed = true } = {}) {
  stopLive();
  document.body.dataset.view = "login";
  $("desk-view").hidden = true;
  $("login-view").hidden = false;
  for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
  $("login-error").textContent = message;
  $("login-password").value = "";
  fillWindowChoice(state.session?.window || pathWindow());
  const staff = $("login-staff");
  if (!staff.value) staff.focus();
  else $("login-password").focus();
  cardWatch.start({ armed });
}

/** A staff card logged someone in at this window: take over their session. */
async function takeOverCardLogin(status) {
  if (document.body.dataset.view !== "login" || $("login-submit").disabled) {
    cardWatch.rearm();
    return;
  }
  try {
    const answer = await api("POST", `/windows/${encodeURIComponent(status.id)}/session`, {
      token: callerToken,
    });
    const staff = answer.window.staff;
    saveSession({ token: answer.token, window: answer.window.id, staff_no: staff.staff_no });
    enterDesk(answer.window);
    say("ok", t("caller.card.logged_in", { name: staff.name }));
  } catch (error) {
    if (error.status === 403 || error.status === 401) cardWatch.refuse();
    else cardWatch.rearm(); // closed again meanwhile, or the edge did not answer
  }
}

function loginMessage(error, windowId) {
  if (error.code === "staff_logged_in_elsewhere") {
    return t("caller.login.elsewhere", { window: windowLabel(error.error.window) });
  }
  if (error.code === "window_occupied") {
    return `${windowLabel(windowId)}：${error.message}`;
  }
  return error.message;
}

async function submitLogin(event) {
  event.preventDefault();
  const button = $("login-submit");
  if (button.disabled) return;
  const windowId = $("login-window").value;
  const staffNo = $("login-staff").value.trim();
  const password = $("login-password").value;
  if (!windowId) {
    $("login-error").textContent = t("caller.login.no_window");
    return;
  }
  if (!staffNo || !password) {
    $("login-error").textContent = t("caller.login.missing");
    return;
  }
  button.disabled = true;
  button.textContent = t("caller.login.submitting");
  $("login-error").textContent = "";
  cardWatch.stop(); // this login is the page's own: no card take-over of it
  try {
    const answer = await api("POST", `/windows/${encodeURIComponent(windowId)}/login`, {
      body: { staff_no: staffNo, password },
      token: "",
    });
    saveSession({ token: answer.token, window: windowId, staff_no: staffNo });
    enterDesk(answer.window);
  } catch (error) {
    $("login-error").textContent = loginMessage(error, windowId);
    $("login-password").select();
    cardWatch.start({ armed: true }); // e.g. window_occupied: a card was read meanwhile
  } finally {
    button.disabled = false;
    button.textContent = t("caller.login.submit");
  }
}

// ------------------------------------------------------------------ the desk

function enterDesk(status) {
  cardWatch.stop();
  document.body.dataset.view = "desk";
  $("login-view").hidden = true;
  $("desk-view").hidden = false;
  $("login-password").value = "";
  showWindowInAddress(status.id);
  state.lists = { waiting: [], called: [] };
  state.lastKeys = {};
  say("", "");
  render(status);
  renderList();
  startLive(status);
  refreshLists(0);
}

/** Back to the login form. After the page's own logout the window is closed, so the next card
 * login is taken (`armed`); a session that ended elsewhere (another page of this window took it
 * over) is not taken back until the window has been seen closed. */
function leaveDesk(messageKey, { armed = false } = {}) {
  if (!state.session) return; // already leaving
  stopLive();
  clearTimeout(state.listTimer);
  saveSession(null);
  state.win = null;
  screenshots.reset();
  loadWindows().then(() => showLogin(messageKey ? t(messageKey) : "", { armed }));
}

function startLive(status) {
  stopLive();
  state.liveState = "connecting";
  state.live = new LiveConnection({
    channels: [`window:${status.id}`, `area:${status.area}`],
    token: state.session.token,
    onData: (channel, data) => {
      if (channel.startsWith("window:")) windowChanged(data);
      else refreshLists();
    },
    onState: (live) => liveChanged(live),
    onError: (channel, error) => console.warn("live", channel, error.code, error.message),
  }).start();
}

function stopLive() {
  if (state.live) state.live.stop();
  state.live = null;
  state.liveState = "idle";
  document.body.dataset.live = "idle";
}

function liveChanged(live) {
  const wasOffline = state.liveState === "offline";
  state.liveState = live;
  showLiveState($("live-badge"), live, t);
  if (live === "unauthorized") {
    leaveDesk("caller.login.expired");
    return;
  }
  if (live === "online" && wasOffline) refreshLists(0);
  updateButtons();
}

function windowChanged(status) {
  if (!state.session || state.inFlight === "logout") return;
  const mine = state.session?.staff_no;
  if (!status.staff || status.staff.staff_no !== mine) {
    leaveDesk("caller.login.expired"); // logged out elsewhere, or the configuration changed
    return;
  }
  const before = state.win?.current?.id;
  render(status);
  if (!state.inFlight && status.current && status.current.id !== before) {
    say("ok", t("caller.done.auto_call", { number: status.current.number }));
  }
  refreshLists();
}

function render(status) {
  state.win = status;
  const body = document.body;
  body.dataset.status = status.status;
  body.dataset.current = status.current ? "yes" : "no";
  $("desk-window-number").textContent = t("caller.window", { number: status.number });
  $("desk-window-name").textContent = status.name || "";
  $("desk-staff-name").textContent = status.staff ? status.staff.name : "";
  $("desk-staff-no").textContent = status.staff
    ? t("caller.staff_no", { staff_no: status.staff.staff_no })
    : "";
  $("window-status").textContent = t(`caller.status.${status.status}`);
  const ticket = status.current;
  $("current-number").textContent = ticket ? ticket.number : t("caller.no_current");
  $("current-type").textContent = ticket ? ticket.business_type_name : t("caller.no_current_hint");
  const meta = [];
  if (ticket) {
    meta.push(t("caller.called_at", { time: hhmm(ticket.called_at) }));
    if (ticket.call_count > 1) meta.push(t("caller.call_count", { count: ticket.call_count }));
    meta.push(t("caller.issued_at", { time: hhmm(ticket.issued_at) }));
  }
  $("current-meta").textContent = meta.join(" · ");
  $("current-flags").replaceChildren(...(ticket ? flagElements(ticket) : []));
  const paused = status.status === "paused" || status.status === "backstage";
  $("state-notice").hidden = !paused;
  if (paused) $("state-notice-text").textContent = t(`caller.notice.${status.status}`);
  $("pause-label").textContent = t(
    status.status === "paused" ? "caller.action.resume" : "caller.action.pause",
  );
  $("backstage-label").textContent = t(
    status.status === "backstage" ? "caller.action.backstage_end" : "caller.action.backstage",
  );
  const now = performance.now();
  const gate = status.evaluation_gate;
  state.gateUntil = gate ? now + gate.seconds_left * 1000 : null;
  state.autoCallAt = status.auto_call_in != null ? now + status.auto_call_in * 1000 : null;
  tick();
}

/** The countdowns: the evaluation gate and the auto-call, redrawn a few times a second. */
function tick() {
  const now = performance.now();
  const gateLeft = state.gateUntil ? Math.ceil((state.gateUntil - now) / 1000) : 0;
  const gateOn = gateLeft > 0;
  if (!gateOn) state.gateUntil = null;
  $("gate").hidden = !gateOn;
  document.body.dataset.gatePending = gateOn ? "yes" : "no";
  if (gateOn) $("gate-text").textContent = t("caller.gate", { seconds: gateLeft });
  const auto = state.autoCallAt !== null && !gateOn && state.win && !state.win.current;
  const autoLeft = auto ? Math.max(0, Math.ceil((state.autoCallAt - now) / 1000)) : 0;
  const autoShown = auto && (autoLeft > 0 || state.lists.waiting.length > 0);
  $("auto-call").hidden = !autoShown;
  if (autoShown) {
    $("auto-call-text").textContent =
      autoLeft > 0 ? t("caller.auto_call", { seconds: autoLeft }) : t("caller.auto_call_now");
  }
  updateButtons();
}

// ------------------------------------------------------------------ buttons

function gatePending() {
  return state.gateUntil !== null && state.gateUntil > performance.now();
}

function reachable() {
  return state.liveState === "online" || state.liveState === "connecting";
}

/** Whether a button may fire now. */
function allowed(action) {
  const w = state.win;
  if (!w || !reachable() || state.inFlight) return false;
  const spec = ACTIONS[action];
  if (spec?.ticket && !w.current) return false;
  if (action === "next") {
    if (gatePending()) return false;
    if (state.hall?.evaluation_gate && w.current) return false;
  }
  return true;
}

function buttonAction(button) {
  const action = button.dataset.action;
  if (action === "pause" && state.win?.status === "paused") return "resume";
  if (action === "backstage" && state.win?.status === "backstage") return "resume";
  return action;
}

function updateButtons() {
  for (const button of document.querySelectorAll(".desk [data-action]")) {
    const action = buttonAction(button);
    button.disabled = !allowed(action);
    button.classList.toggle("busy", state.inFlight === action);
  }
}

/** A key for this click: a fresh one, or the last one when the same button was just used. */
function keyFor(action) {
  const last = state.lastKeys[action];
  if (last && performance.now() - last.at < REPEAT_MS) return last.key;
  return newKey();
}

/** Run one action: one request at a time, with its idempotency key; say what happened. */
async function perform(action, body) {
  if (!allowed(action)) return null;
  const spec = ACTIONS[action];
  const key = keyFor(action);
  const before = state.win.current;
  state.inFlight = action;
  updateButtons();
  try {
    const windowPath = `/windows/${encodeURIComponent(state.session.window)}`;
    const answer = await api("POST", `${windowPath}/${spec.path}`, {
      body: body ?? spec.body,
      key,
    });
    state.lastKeys = { [action]: { key, at: performance.now() } }; // another action ends a burst
    if (action === "logout") return answer;
    if (answer.window) render(answer.window);
    say("ok", doneText(action, answer, before, body));
    refreshLists(0);
    return answer;
  } catch (error) {
    failed(error);
    return null;
  } finally {
    state.inFlight = null;
    updateButtons();
  }
}

function doneText(action, answer, before, body) {
  const number = (action === "next" ? answer.window?.current?.number : before?.number) || "";
  if (action === "transfer") {
    const type = state.services.find((s) => s.id === body.business_type);
    return t("caller.done.transfer", { number, type: type ? type.name : body.business_type });
  }
  if (action === "supplement") {
    return t("caller.done.supplement", { number, code: answer.supplement?.code || "" });
  }
  return t(ACTIONS[action].done, { number });
}

function failed(error) {
  if (error.status === 401) {
    leaveDesk("caller.login.expired");
    return;
  }
  if (error.code === "evaluation_pending" && error.error.seconds_left) {
    state.gateUntil = performance.now() + error.error.seconds_left * 1000;
    say(
      "error",
      t("caller.error.seconds_left", { message: error.message, seconds: error.error.seconds_left }),
    );
    tick();
    return;
  }
  say("error", error.message);
}

function say(kind, text) {
  const result = $("result");
  result.dataset.kind = kind;
  result.textContent = text;
}

function press(action) {
  if (action === "screenshot") screenshots.open();
  else if (action === "transfer") openTransfer();
  else if (action === "abandon") openAbandon();
  else if (action === "logout") logout();
  else if (action === "supplement") supplement();
  else perform(action);
}

async function logout() {
  const answer = await perform("logout");
  if (answer) leaveDesk("caller.login.logged_out", { armed: true });
}

// ------------------------------------------------------------------ dialogs

state.services = [];

async function openTransfer() {
  if (!allowed("transfer")) return;
  const dialog = $("transfer-dialog");
  const ticket = state.win.current;
  $("transfer-ticket").textContent = t("caller.transfer.ticket", {
    number: ticket.number,
    type: ticket.business_type_name,
  });
  $("transfer-error").textContent = "";
  $("transfer-priority").checked = false;
  const choices = $("transfer-types");
  choices.replaceChildren();
  dialog.showModal();
  try {
    const area = encodeURIComponent(state.win.area);
    const answer = await api("GET", `/areas/${area}/services`);
    state.services = answer.services;
  } catch (error) {
    $("transfer-error").textContent = error.message;
    return;
  }
  const others = state.services.filter((s) => s.id !== ticket.business_type);
  if (!others.length) $("transfer-error").textContent = t("caller.transfer.none");
  for (const service of others) {
    const label = document.createElement("label");
    label.className = "choice";
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "business_type";
    input.value = service.id;
    const name = document.createElement("span");
    name.className = "choice-name";
    name.textContent = service.name;
    const waiting = document.createElement("span");
    waiting.className = "choice-meta muted";
    waiting.textContent = t("caller.transfer.waiting", { count: service.waiting });
    label.append(input, name, waiting);
    choices.append(label);
  }
  choices.querySelector("input")?.focus();
}

async function confirmTransfer(event) {
  event.preventDefault();
  const chosen = $("transfer-types").querySelector("input:checked");
  if (!chosen) {
    $("transfer-error").textContent = t("caller.transfer.choose");
    return;
  }
  const answer = await perform("transfer", {
    business_type: chosen.value,
    priority: $("transfer-priority").checked,
  });
  if (answer) $("transfer-dialog").close();
  else $("transfer-error").textContent = $("result").textContent;
}

function openAbandon() {
  if (!allowed("abandon")) return;
  $("abandon-text").textContent = t("caller.abandon.text", { number: state.win.current.number });
  $("abandon-dialog").showModal();
  $("abandon-confirm").focus();
}

async function confirmAbandon(event) {
  event.preventDefault();
  const answer = await perform("abandon");
  $("abandon-dialog").close();
  return answer;
}

async function supplement() {
  const ticket = state.win?.current;
  const answer = await perform("supplement");
  if (!answer || !answer.supplement) return;
  $("supplement-ticket").textContent = t("caller.supplement.ticket", {
    number: ticket.number,
    type: ticket.business_type_name,
  });
  $("supplement-code").textContent = answer.supplement.code;
  $("supplement-expires").textContent = t("caller.supplement.expires", {
    date: answer.supplement.expires_on,
  });
  $("supplement-dialog").showModal();
  $("supplement-ok").focus();
}

// ------------------------------------------------------------------ lists

function refreshLists(delay = LIST_DELAY_MS) {
  clearTimeout(state.listTimer);
  state.listTimer = setTimeout(loadLists, delay);
}

async function loadLists() {
  if (!state.session || !state.win) return;
  const generation = ++state.listGeneration;
  const windowPath = `/windows/${encodeURIComponent(state.session.window)}`;
  const query = `?limit=${LIST_LIMIT}&search=${encodeURIComponent(state.search)}`;
  try {
    const [waiting, called] = await Promise.all([
      api("GET", `${windowPath}/waiting${query}`),
      api("GET", `${windowPath}/called${query}`),
    ]);
    if (generation !== state.listGeneration) return; // a newer answer is on its way
    state.lists = { waiting: waiting.tickets, called: called.tickets };
    renderList();
    tick();
  } catch (error) {
    if (error.status === 401) leaveDesk("caller.login.expired");
    // otherwise the last lists stay; the live badge says why
  }
}

function countText(n) {
  return n >= LIST_LIMIT ? `${LIST_LIMIT}+` : String(n);
}

function renderList() {
  const { waiting, called } = state.lists;
  $("count-waiting").textContent = countText(waiting.length);
  $("count-called").textContent = countText(called.length);
  for (const tab of document.querySelectorAll(".tab")) {
    tab.setAttribute("aria-selected", String(tab.dataset.tab === state.tab));
  }
  const tickets = state.lists[state.tab];
  $("list").replaceChildren(...tickets.map((ticket) => listItem(ticket)));
  const empty = $("list-empty");
  empty.hidden = tickets.length > 0;
  if (state.search) empty.textContent = t("caller.list.no_match", { search: state.search });
  else empty.textContent = t(`caller.list.empty_${state.tab}`);
}

function listItem(ticket) {
  const li = document.createElement("li");
  li.className = "item";
  li.dataset.number = ticket.number;
  const number = document.createElement("span");
  number.className = "item-number";
  number.textContent = ticket.number;
  const main = document.createElement("span");
  main.className = "item-main";
  const type = document.createElement("span");
  type.className = "item-type";
  type.textContent = ticket.business_type_name;
  const when = document.createElement("span");
  when.className = "item-when muted";
  if (state.tab === "waiting") {
    const minutes = Math.floor((hallNow() - ticket.issued_at) / 60000);
    when.textContent =
      minutes >= 0 && minutes < 24 * 60
        ? t("caller.list.waiting_since", { time: hhmm(ticket.issued_at), minutes })
        : t("caller.issued_at", { time: hhmm(ticket.issued_at) });
  } else {
    when.textContent = t("caller.list.called_at", { time: hhmm(ticket.called_at) });
  }
  main.append(type, when);
  const side = document.createElement("span");
  side.className = "item-side";
  side.append(...flagElements(ticket));
  if (state.tab === "called") {
    const status = document.createElement("span");
    status.className = `item-status status-${ticket.status}`;
    status.textContent = t(`caller.ticket.${ticket.status}`);
    side.append(status);
    if (ticket.evaluation) {
      const evaluation = document.createElement("span");
      evaluation.className = `item-evaluation evaluation-${ticket.evaluation}`;
      evaluation.textContent = t(`caller.evaluation.${ticket.evaluation}`);
      side.append(evaluation);
    }
  }
  li.append(number, main, side);
  return li;
}

// ------------------------------------------------------------------ keyboard

function typing(target) {
  return Boolean(target?.closest?.("input, textarea, select, [contenteditable=''], [contenteditable='true']"));
}

function onKey(event) {
  if (document.body.dataset.view !== "desk") return;
  if (typing(event.target) || document.querySelector("dialog[open]")) return;
  if (event.altKey || event.metaKey) return;
  const key = event.key.length === 1 ? event.key.toUpperCase() : event.key;
  const name = `${event.ctrlKey ? "Ctrl+" : ""}${event.shiftKey ? "Shift+" : ""}${key}`;
  const action = SHORTCUTS[name];
  if (!action) return;
  event.preventDefault();
  if (event.repeat) return;
  const button = document.querySelector(`.desk [data-action="${action}"]`);
  if (!button || button.disabled) return;
  button.classList.add("pressed");
  setTimeout(() => button.classList.remove("pressed"), 150);
  press(buttonAction(button));
}

// ------------------------------------------------------------------ card login and 剪刀截屏

const callerToken = pageToken();
const cardWatch = new CardLoginWatch({
  windowId: pathWindow(),
  token: callerToken,
  onLogin: (status) => takeOverCardLogin(status),
});
const screenshots = new ScreenshotDialog({
  api,
  t,
  newKey,
  windowPath: () => `/windows/${encodeURIComponent(state.session.window)}`,
  mayOpen: () => allowed("screenshot") && !document.querySelector("dialog[open]"),
  onSent: (text) => say("ok", text),
  onFailed: (error) => {
    if (error.status === 401) leaveDesk("caller.login.expired");
  },
});

// ------------------------------------------------------------------ start

async function resume(session) {
  state.session = session;
  try {
    const status = await api("GET", `/windows/${encodeURIComponent(session.window)}`);
    if (!status.staff || status.staff.staff_no !== session.staff_no) {
      throw new ApiError({ code: "unauthorized", message: "" }, 401);
    }
    enterDesk(status);
  } catch (error) {
    if (error.status === 401 || error.status === 403 || error.status === 404) {
      saveSession(null);
      showLogin(t("caller.login.expired"));
    } else {
      showLogin(error.message); // the edge is unreachable: the session is kept for a retry
    }
  }
}

async function start() {
  document.documentElement.lang = lang;
  document.title = t("caller.title");
  applyTexts(document, t);
  $("search").placeholder = t("caller.search");
  setUpSkins();
  $("login-form").addEventListener("submit", submitLogin);
  for (const button of document.querySelectorAll(".desk [data-action]")) {
    const label = button.querySelector(".label");
    const kbd = button.querySelector("kbd");
    if (label && kbd) button.title = `${label.textContent} (${kbd.textContent})`;
    button.addEventListener("click", () => press(buttonAction(button)));
  }
  for (const tab of document.querySelectorAll(".tab")) {
    tab.addEventListener("click", () => {
      state.tab = tab.dataset.tab;
      renderList();
    });
  }
  let searchTimer = null;
  $("search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      state.search = $("search").value.trim();
      loadLists();
    }, 200);
  });
  $("transfer-form").addEventListener("submit", confirmTransfer);
  $("abandon-form").addEventListener("submit", confirmAbandon);
  for (const close of document.querySelectorAll("[data-close]")) {
    close.addEventListener("click", () => close.closest("dialog").close());
  }
  document.addEventListener("keydown", onKey);
  // a focused button must not also be pressed by the Space that called the next ticket
  document.addEventListener("keyup", (event) => {
    if (event.key === " " && !typing(event.target) && document.body.dataset.view === "desk") {
      event.preventDefault();
    }
  });
  setInterval(tick, 250);

  while (!(await loadWindows())) {
    document.body.dataset.view = "login";
    $("login-view").hidden = false;
    await new Promise((resolve) => setTimeout(resolve, 3000));
  }
  $("login-error").textContent = "";
  const session = savedSession();
  if (session) await resume(session);
  else showLogin();
}

start();
