// The screens' live connection to the edge (edge/api/relay.py): one WebSocket to /api/live,
// subscriptions, snapshots and updates in order, reconnection with backoff, and a visible
// offline state that keeps the last data shown.

const PING_EVERY_MS = 15000; // the screen's own check that the edge still answers
const SILENT_LIMIT_MS = 25000; // no message for this long: the connection is dead
const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 5000;
const RETRY_UNAUTHORIZED_MS = 30000;
const UNAUTHORIZED = 4401;

/** The screen's token: ?token=… in the page's address. */
export function pageToken(search = window.location.search) {
  return new URLSearchParams(search).get("token") || "";
}

/**
 * A live connection that follows `channels` until stopped.
 *
 * onData(channel, data, message)   a status channel's snapshot or update (newest only)
 * onEvent(channel, event)          each event of an events: channel, in order
 * onWelcome(identity)              who the edge took the token for: {kind, id, area, window}
 * onState(state, detail)           "connecting" | "online" | "offline" | "unauthorized"
 * onError(channel, error)          a refusal ({code, message}) from the edge
 */
export class LiveConnection {
  constructor({ channels, token, onData, onEvent, onState, onError, onWelcome, url }) {
    this.channels = channels;
    this.token = token;
    this.onData = onData || (() => {});
    this.onEvent = onEvent || (() => {});
    this.onWelcome = onWelcome || (() => {});
    this.identity = null;
    this.onState = onState || (() => {});
    this.onError = onError || ((channel, error) => console.warn("live", channel, error));
    this.url = url || liveUrl(token);
    this.seq = {}; // newest seq applied per channel
    this.data = {}; // last data per status channel, kept while offline
    this.state = "";
    this.attempt = 0;
    this.socket = null;
    this.stopped = false;
    this.timers = {};
  }

  start() {
    this.stopped = false;
    this.connect();
    return this;
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timers.retry);
    clearInterval(this.timers.ping);
    if (this.socket) this.socket.close(1000);
  }

  connect() {
    this.setState("connecting");
    let socket;
    try {
      socket = new WebSocket(this.url);
    } catch (error) {
      this.retry(RETRY_MAX_MS);
      return;
    }
    this.socket = socket;
    this.lastHeard = Date.now();
    socket.onmessage = (message) => this.receive(message.data);
    socket.onclose = (close) => this.closed(socket, close.code);
    clearInterval(this.timers.ping);
    this.timers.ping = setInterval(() => this.keepAlive(socket), PING_EVERY_MS);
  }

  receive(text) {
    this.lastHeard = Date.now();
    let message;
    try {
      message = JSON.parse(text);
    } catch (error) {
      return;
    }
    const { channel, type, seq, data } = message;
    if (type === "welcome") {
      this.attempt = 0;
      this.identity = data || null;
      this.onWelcome(this.identity);
      this.subscribe();
      this.setState("online");
    } else if (type === "snapshot" || type === "update") {
      this.apply(channel, type, seq, data, message);
    } else if (type === "event") {
      if (seq > (this.seq[channel] ?? -1)) {
        this.seq[channel] = seq;
        this.onEvent(channel, data);
      }
    } else if (type === "error") {
      this.onError(channel, data);
    }
  }

  apply(channel, type, seq, data, message) {
    if (channel.startsWith("events:")) {
      for (const event of data.events || []) {
        if (event.seq > (this.seq[channel] ?? -1)) this.onEvent(channel, event);
      }
      this.seq[channel] = Math.max(seq, this.seq[channel] ?? -1);
      return;
    }
    if (type === "update" && seq < (this.seq[channel] ?? -1)) return; // older than shown
    this.seq[channel] = seq;
    this.data[channel] = data;
    this.onData(channel, data, message);
  }

  subscribe() {
    const statuses = this.channels.filter((c) => !c.startsWith("events:"));
    if (statuses.length) this.send({ type: "subscribe", channels: statuses });
    for (const channel of this.channels.filter((c) => c.startsWith("events:"))) {
      const after = this.seq[channel];
      this.send({ type: "subscribe", channels: [channel], ...(after ? { after } : {}) });
    }
  }

  send(message) {
    if (this.socket && this.socket.readyState === WebSocket.OPEN) {
      this.socket.send(JSON.stringify(message));
    }
  }

  keepAlive(socket) {
    if (socket !== this.socket || socket.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.lastHeard > SILENT_LIMIT_MS) {
      socket.close(4000); // dead line: onclose reconnects
      return;
    }
    this.send({ type: "ping" });
  }

  closed(socket, code) {
    if (socket !== this.socket) return;
    clearInterval(this.timers.ping);
    this.socket = null;
    if (this.stopped) return;
    if (code === UNAUTHORIZED) {
      this.setState("unauthorized");
      this.retry(RETRY_UNAUTHORIZED_MS);
      return;
    }
    this.setState("offline");
    const delay = Math.min(RETRY_FIRST_MS * 2 ** this.attempt, RETRY_MAX_MS);
    this.attempt += 1;
    this.retry(delay * (0.8 + Math.random() * 0.4));
  }

  retry(delay) {
    clearTimeout(this.timers.retry);
    this.timers.retry = setTimeout(() => {
      if (!this.stopped) this.connect();
    }, delay);
  }

  setState(state) {
    // "connecting" after a loss is still offline to the people looking at the screen
    if (state === "connecting" && (this.state === "offline" || this.state === "unauthorized")) {
      return;
    }
    if (state === this.state) return;
    this.state = state;
    this.onState(state);
  }
}

/** Show the connection's state on the page: body[data-live] and the badge's text. */
export function showLiveState(badge, state, t) {
  document.body.dataset.live = state;
  const texts = {
    connecting: t("live.connecting"),
    offline: t("live.offline"),
    unauthorized: t("live.unauthorized"),
    online: "",
  };
  badge.textContent = texts[state] ?? "";
  badge.title = state === "offline" ? t("live.offline_detail") : "";
}

function liveUrl(token) {
  const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${window.location.host}/api/live?token=${encodeURIComponent(token)}`;
}
