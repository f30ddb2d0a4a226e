// The window Pad (评价器, §5.2): the work badge, the called number, pause / backstage / 一米线
// notices, the 4-key evaluation with its thank-you, and the staff's screenshot on top.
// Address: /screen/pad/<window id>?token=<pad token>[&lang=en][&sound=off]
//
// Live data: window:<id> (the window's state) and events:<area> (one-meter line, screenshots,
// finished tickets, evaluations) on the edge's relay. What a Pad must not miss — an evaluation
// still awaited, the screenshot shown now — is read again from padState on every (re)connect
// and every change of the window. A tapped evaluation is kept in localStorage with its
// Idempotency-Key until the edge has it: resent on reconnect, stored once.
//
// Sound: the prompts are WAV files from the edge played by an <audio> element. Chromium on the
// Pad must run with --autoplay-policy=no-user-gesture-required (nobody taps before a prompt);
// ?sound=off when the Pad's speaker is a voice_player device that already says them.

import { hallTimeZone, wallTime } from "./calendar.js";
import { LiveConnection, pageToken, showLiveState } from "./live.js";
import { applyTexts, pageLanguage, translator } from "./messages.js";
import "./messages-pad.js";

const THANKS_MS = 3000; // §5.2.6: back to the badge 3 s after the evaluation
const ONE_METER_MS = 6000;
const RESEND_MS = 5000;
const EVALUATION_SECONDS = 60; // until padState says what the hall sets

const lang = pageLanguage();
const t = translator(lang);
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(window.location.search);
const token = pageToken();
const windowId = decodeURIComponent(window.location.pathname.split("/").filter(Boolean).pop() || "");
const soundOn = !["off", "0", "no"].includes(params.get("sound") || "");
const pendingKey = `smarthall.pad.${windowId}.pending`;

const pad = {
  win: null, // the window's last state
  settings: { evaluation_seconds: EVALUATION_SECONDS, voice: false },
  called: null, // {id, number}: shown until another action
  lastCurrent: null,
  evaluation: null, // {ticket, number}
  thanks: false,
  oneMeter: false,
  closedFor: new Set(), // tickets whose evaluation screen has ended: never asked again
  screenshot: null, // {id, url}
  photos: new Map(), // staff id -> object URL | "" (none)
  sounds: new Map(), // prompt -> object URL
  timers: {},
  online: false,
};

// ----------------------------------------------------------------------- the edge's API

async function api(method, path, { body, key, raw } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (key) headers["Idempotency-Key"] = key;
  const response = await fetch(`/api${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  if (raw) return response;
  const data = await response.json().catch(() => ({}));
  if (!response.ok) {
    const error = new Error(data?.error?.message || response.statusText);
    error.status = response.status;
    error.code = data?.error?.code;
    throw error;
  }
  return data;
}

/** An image or sound from the edge as an object URL (elements cannot send the token). */
async function blobUrl(path) {
  const response = await api("GET", path, { raw: true });
  if (!response.ok) return "";
  return URL.createObjectURL(await response.blob());
}

// ----------------------------------------------------------------------- what is shown

function stage() {
  if (pad.thanks) return "thanks";
  if (pad.evaluation) return "evaluate";
  const status = pad.win ? pad.win.status : "closed";
  if (pad.oneMeter && status !== "closed") return "one-meter";
  if (status === "closed" || status === "paused" || status === "backstage") return status;
  if (pad.called) return "called";
  return "badge";
}

function render() {
  document.body.dataset.stage = stage();
  const win = pad.win;
  if (win) {
    $("window-number").textContent = t("pad.window_number", { number: win.number });
    $("window-name").textContent = win.name || "";
    renderBadge(win.staff);
  }
  if (pad.called) $("called-number").textContent = pad.called.number;
  if (pad.evaluation) {
    $("evaluate-sub").textContent = t("pad.evaluate_sub", { number: pad.evaluation.number });
  }
}

function renderBadge(staff) {
  if (!staff) return;
  document.body.dataset.post = staff.post_type;
  $("staff-name").textContent = staff.name;
  $("staff-no").textContent = staff.staff_no;
  $("staff-title").textContent = staff.title || "—";
  $("staff-department").textContent = staff.department || "—";
  $("post").textContent = t(`pad.post.${staff.post_type}`);
  const stars = $("stars");
  stars.replaceChildren(
    ...[1, 2, 3, 4, 5].map((n) => {
      const star = document.createElement("span");
      star.className = n <= staff.stars ? "star on" : "star";
      star.textContent = "★";
      return star;
    }),
  );
  stars.dataset.stars = String(staff.stars);
  stars.setAttribute("aria-label", t("pad.stars_label", { stars: staff.stars }));
  $("photo-initial").textContent = staff.name.slice(0, 1);
  const photo = $("photo");
  if (photo.dataset.staff !== staff.id) {
    photo.dataset.staff = staff.id;
    photo.dataset.photo = pad.photos.get(staff.id) ? "yes" : "no";
    if (pad.photos.get(staff.id)) $("photo-img").src = pad.photos.get(staff.id);
  }
}

/** The logged-in staff member's photo, when padState says there is one (else the initial). */
async function showPhoto(staffId, exists) {
  if (!exists) {
    pad.photos.delete(staffId);
  } else if (!pad.photos.get(staffId)) {
    try {
      const url = await blobUrl(`/staff/${encodeURIComponent(staffId)}/photo`);
      if (url) pad.photos.set(staffId, url);
    } catch (error) {
      return; // offline: asked again on the next padState
    }
  }
  const photo = $("photo");
  if (photo.dataset.staff !== staffId) return; // another staff member logged in meanwhile
  const url = pad.photos.get(staffId) || "";
  photo.dataset.photo = url ? "yes" : "no";
  if (url && $("photo-img").src !== url) $("photo-img").src = url;
}

function clock() {
  // the hall's time (Asia/Shanghai unless ?tz=), whatever the tablet's own zone is
  const wall = wallTime(new Date(), hallTimeZone());
  const pad2 = (n) => String(n).padStart(2, "0");
  $("clock").textContent = `${pad2(wall.hour)}:${pad2(wall.minute)}`;
}

// ----------------------------------------------------------------------- the window's state

function onWindow(win) {
  const before = pad.win;
  pad.win = win;
  const current = win.current && win.current.status === "called" ? win.current : null;
  if (current && current.id !== pad.lastCurrent) {
    pad.called = { id: current.id, number: current.number }; // a new call (§5.2.5)
  }
  if (!current || win.status !== "open") pad.called = null;
  pad.lastCurrent = current ? current.id : null;
  if (before && before.status !== win.status) {
    if (win.status === "paused") say("paused");
    if (win.status === "backstage") say("backstage");
  }
  render();
  syncState();
}

/** padState: the hall's evaluation wait, voice, the screenshot shown now, an awaited evaluation. */
async function syncState() {
  let state;
  try {
    state = await api("GET", `/windows/${encodeURIComponent(windowId)}/pad`);
  } catch (error) {
    return; // offline: what is shown stays
  }
  pad.settings = state;
  if (pad.win && pad.win.staff) showPhoto(pad.win.staff.id, state.photo);
  if (state.evaluation) askEvaluation(state.evaluation, state.evaluation.seconds_left);
  if (state.screenshot) showScreenshot(state.screenshot);
  else if (pad.screenshot) hideScreenshot();
}

// ----------------------------------------------------------------------- events

function eventWindow(event) {
  if (typeof event.window === "string") return event.window;
  if (event.window && event.window.id) return event.window.id;
  return event.ticket ? event.ticket.window : null;
}

function onEvent(event) {
  if (event.type === "config.applied" || event.type === "voice.changed") {
    pad.sounds.clear();
    syncState();
    return;
  }
  if (eventWindow(event) !== windowId) return;
  const ticket = event.ticket || {};
  switch (event.type) {
    case "ticket.called":
    case "ticket.recalled":
      pad.called = { id: ticket.id, number: ticket.number };
      pad.oneMeter = false;
      break;
    case "window.one_meter_line":
      pad.called = null;
      pad.oneMeter = true;
      say("one_meter_line");
      clearTimeout(pad.timers.oneMeter);
      pad.timers.oneMeter = setTimeout(() => {
        pad.oneMeter = false;
        render();
      }, ONE_METER_MS);
      break;
    case "ticket.finished":
      pad.called = null;
      if (event.evaluation_requested) {
        askEvaluation({ ticket: ticket.id, number: ticket.number }, pad.settings.evaluation_seconds);
      }
      break;
    case "ticket.evaluated":
      if (pad.evaluation && pad.evaluation.ticket === ticket.id && !pad.thanks) {
        thank(ticket.id, false); // evaluated elsewhere (another channel of the 好差评)
      }
      break;
    case "window.screenshot":
    case "window.screenshot_cleared":
      syncState();
      return;
    default:
      pad.called = null; // any other action at the window ends the call's display
  }
  render();
}

// ----------------------------------------------------------------------- evaluation (§5.2.6)

function askEvaluation(evaluation, seconds) {
  if (pad.closedFor.has(evaluation.ticket)) return;
  if (pad.evaluation && pad.evaluation.ticket === evaluation.ticket) return;
  if (pending().some((p) => p.ticket === evaluation.ticket)) return;
  pad.evaluation = { ticket: evaluation.ticket, number: evaluation.number };
  pad.thanks = false;
  pad.called = null;
  const wait = Math.max(1, seconds || EVALUATION_SECONDS);
  const bar = $("countdown-bar");
  bar.style.transition = "none";
  bar.style.transform = "scaleX(1)";
  requestAnimationFrame(() => {
    bar.style.transition = `transform ${wait}s linear`;
    bar.style.transform = "scaleX(0)";
  });
  clearTimeout(pad.timers.evaluation);
  pad.timers.evaluation = setTimeout(() => endEvaluation(), wait * 1000);
  say("evaluate");
  render();
}

function endEvaluation() {
  if (pad.evaluation) pad.closedFor.add(pad.evaluation.ticket);
  clearTimeout(pad.timers.evaluation);
  clearTimeout(pad.timers.thanks);
  pad.evaluation = null;
  pad.thanks = false;
  render();
}

function choose(level) {
  if (!pad.evaluation || pad.thanks) return; // one tap counts
  const item = { ticket: pad.evaluation.ticket, level, key: newKey(), at: Date.now() };
  savePending([...pending().filter((p) => p.ticket !== item.ticket), item]);
  thank(item.ticket, true);
  sendPending();
}

function thank(ticket, tapped) {
  pad.closedFor.add(ticket);
  pad.thanks = true;
  clearTimeout(pad.timers.evaluation);
  clearTimeout(pad.timers.thanks);
  pad.timers.thanks = setTimeout(() => endEvaluation(), THANKS_MS);
  if (!tapped) say("thanks");
  render();
}

function pending() {
  try {
    const items = JSON.parse(localStorage.getItem(pendingKey) || "[]");
    return Array.isArray(items) ? items : [];
  } catch (error) {
    return [];
  }
}

function savePending(items) {
  localStorage.setItem(pendingKey, JSON.stringify(items));
  document.body.dataset.pending = String(items.length);
}

let sending = false;

/** Send every evaluation the edge does not have yet; each keeps its key, so it counts once. */
async function sendPending() {
  if (sending) return;
  sending = true;
  clearTimeout(pad.timers.resend);
  try {
    for (const item of pending()) {
      try {
        await api("POST", `/tickets/${encodeURIComponent(item.ticket)}/evaluation`, {
          body: { level: item.level },
          key: item.key,
        });
        if (pad.thanks) say("thanks");
      } catch (error) {
        const refused = error.status >= 400 && error.status < 500 && error.status !== 429;
        if (!refused) {
          pad.timers.resend = setTimeout(sendPending, RESEND_MS);
          return; // offline or the edge is busy: kept for the next try
        }
        console.warn("evaluation refused", item.ticket, error.code);
      }
      savePending(pending().filter((p) => p.key !== item.key));
    }
  } finally {
    sending = false;
  }
}

function newKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16)); // works without https too
  return `pad-${windowId}-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

// ----------------------------------------------------------------------- screenshots (§5.2.7)

async function showScreenshot(shot) {
  if (pad.screenshot && pad.screenshot.id === shot.id) return;
  const path = `/windows/${encodeURIComponent(windowId)}/screenshot/${encodeURIComponent(shot.id)}`;
  let url;
  try {
    url = await blobUrl(path);
  } catch (error) {
    return;
  }
  if (!url) return;
  if (pad.screenshot) URL.revokeObjectURL(pad.screenshot.url);
  pad.screenshot = { id: shot.id, url };
  $("screenshot-img").src = url;
  $("screenshot").dataset.id = shot.id;
  document.body.dataset.screenshot = "on";
  clearTimeout(pad.timers.screenshot);
  pad.timers.screenshot = setTimeout(hideScreenshot, Math.max(1, shot.seconds_left) * 1000);
}

function hideScreenshot() {
  clearTimeout(pad.timers.screenshot);
  if (pad.screenshot) URL.revokeObjectURL(pad.screenshot.url);
  pad.screenshot = null;
  document.body.dataset.screenshot = "off";
  $("screenshot-img").removeAttribute("src");
}

// ----------------------------------------------------------------------- voice

async function say(prompt) {
  if (!soundOn || !pad.settings.voice) return;
  let url = pad.sounds.get(prompt);
  if (!url) {
    try {
      url = await blobUrl(`/windows/${encodeURIComponent(windowId)}/prompts/${prompt}.wav`);
    } catch (error) {
      return;
    }
    if (!url) return;
    pad.sounds.set(prompt, url);
  }
  const audio = $("voice");
  audio.src = url;
  document.body.dataset.sound = prompt;
  audio.play().catch(() => {
    document.body.dataset.sound = `${prompt}:blocked`; // needs --autoplay-policy=…
  });
}

// ----------------------------------------------------------------------- start

/** The relay connection, telling replayed events (after a reconnect) from live ones: a
 *  replayed one-meter prompt or sound is stale; padState gives what still holds. */
class PadConnection extends LiveConnection {
  apply(channel, type, seq, data, message) {
    if (channel.startsWith("events:")) {
      this.seq[channel] = Math.max(seq, this.seq[channel] ?? -1);
      return;
    }
    super.apply(channel, type, seq, data, message);
  }
}

function onState(state) {
  showLiveState($("live-badge"), state, t);
  const wasOnline = pad.online;
  pad.online = state === "online";
  if (pad.online && !wasOnline) {
    sendPending();
    syncState();
  }
}

function start() {
  document.documentElement.lang = lang;
  applyTexts(document, t);
  clock();
  setInterval(clock, 10000);
  for (const key of document.querySelectorAll(".key")) {
    key.addEventListener("click", () => choose(key.dataset.level));
  }
  savePending(pending());
  document.body.dataset.screenshot = "off";
  if (!windowId) {
    document.body.dataset.stage = "closed";
    return;
  }
  let live = null;
  const channels = [`window:${windowId}`];
  live = new PadConnection({
    channels,
    token,
    onData: (_channel, data) => {
      const events = `events:${data.area}`;
      if (!live.channels.includes(events)) {
        live.channels.push(events); // the area is known from the window's state
        live.send({ type: "subscribe", channels: [events] });
      }
      onWindow(data);
    },
    onEvent: (_channel, event) => onEvent(event),
    onState,
    onError: (channel, error) => {
      document.body.dataset.refused = channel || "";
      console.warn("live", channel, error.code, error.message);
    },
  }).start();
  window.addEventListener("online", () => sendPending());
}

start();
