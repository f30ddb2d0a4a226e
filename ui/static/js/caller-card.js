// Card login reaching the caller page. A staff card at the window's reader logs its staff member
// in at the edge (edge/devices/cardlogin.py), so the browser learns of it only by watching: the
// window's caller PC opens the page with its own token (?token=…, API client kind `caller`),
// watches `window:<id>` while the login form is shown, and when someone logs in there it takes
// over their session (takeWindowSession). The caller token itself calls nothing else.

import { LiveConnection } from "./live.js";

/** Errors after which watching can never help: the token is not this window's caller PC. */
const FINAL = new Set(["forbidden", "unknown_window", "unauthorized"]);

/**
 * Watches one window with the caller PC's token and calls `onLogin(status)` once for each login
 * it sees there. Started "armed" it also takes a login made before the page opened (the card
 * was read while the PC was starting); started disarmed, as after leaving the desk, it waits
 * until it has seen the window closed, so that two pages of one window never take the session
 * from each other in turn.
 */
export class CardLoginWatch {
  constructor({ windowId, token, onLogin }) {
    this.windowId = windowId;
    this.token = token;
    this.onLogin = onLogin;
    this.live = null;
    this.armed = false;
    this.refused = !token || !windowId; // no caller token: the password form only
  }

  get active() {
    return this.live !== null;
  }

  start({ armed }) {
    this.stop();
    if (this.refused) return;
    this.armed = armed;
    this.live = new LiveConnection({
      channels: [`window:${this.windowId}`],
      token: this.token,
      onData: (channel, status) => this.seen(status),
      onState: (state) => {
        if (state === "unauthorized") this.refuse();
      },
      onError: (channel, error) => {
        if (FINAL.has(error.code)) this.refuse();
      },
    }).start();
  }

  stop() {
    if (this.live) this.live.stop();
    this.live = null;
  }

  /** The take-over failed for a reason that may pass (the window closed again, the network):
   * the next login seen is taken. */
  rearm() {
    this.armed = true;
  }

  /** This token may not take the window's session (a Pad's or display's token): stop for good. */
  refuse() {
    this.refused = true;
    this.stop();
  }

  seen(status) {
    if (!status.staff) {
      this.armed = true; // closed: the next login is a new one
      return;
    }
    if (!this.armed) return;
    this.armed = false;
    this.onLogin(status);
  }
}
