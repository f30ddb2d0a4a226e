// 剪刀截屏 (§5.1.5, §5.2.7): the staff member pastes a snip from the system's snipping tool
// (Ctrl+V), picks or drops an image file, or captures a screen (getDisplayMedia, offered only in
// a secure context); marks it up on a canvas (red pen, rectangle highlight, undo, clear); and
// sends it as a PNG to the window's Pad for 15, 30 or 60 seconds (showScreenshot, edge/api/pad.py),
// where it stays on top until it times out or 收回 takes it off (dismissScreenshot).

const MAX_WIDTH = 1920; // a bigger picture is scaled down: the Pad is ~1280×800
const MAX_HEIGHT = 1200;
const MAX_BYTES = 4 * 1024 * 1024; // the edge's SCREENSHOT_MAX_BYTES
const INK = "#e02020";
const HIGHLIGHT = "rgba(224, 32, 32, 0.10)";

const $ = (id) => document.getElementById(id);

/**
 * The dialog and the banner that shows a screenshot is on the Pad.
 *
 * api(method, path, {body, key})  the caller client's edge API call (a Blob body goes as is)
 * t(key, values)                  the caller client's texts
 * newKey()                        a fresh Idempotency-Key
 * windowPath()                    `/windows/<id>` of the logged-in window
 * mayOpen()                       whether the desk may open the dialog now
 * onSent(text), onFailed(error)   what the desk says and does after a send or a refusal
 */
export class ScreenshotDialog {
  constructor({ api, t, newKey, windowPath, mayOpen, onSent, onFailed }) {
    Object.assign(this, { api, t, newKey, windowPath, mayOpen, onSent, onFailed });
    this.dialog = $("shot-dialog");
    this.canvas = $("shot-canvas");
    this.image = null; // the picture as pasted, scaled to fit: an ImageBitmap or <canvas>
    this.marks = []; // [{kind: "pen", points: [[x, y], …]} | {kind: "rect", from, to}]
    this.drawing = null; // the mark under the pointer
    this.tool = "pen";
    this.key = null; // one key per picture sent: a double click shows it once
    this.busy = false;
    this.shown = null; // {id, until: performance.now() when the Pad drops it}
    this.timer = null;
    this.wire();
  }

  // ---------------------------------------------------------------- opening and closing

  open() {
    if (!this.mayOpen()) return;
    this.say("", "");
    this.update();
    this.dialog.showModal();
    (this.image ? $("shot-send") : $("shot-file-button")).focus();
  }

  /** Forget the picture and what the Pad shows (the staff member logged out). */
  reset() {
    if (this.dialog.open) this.dialog.close();
    this.image = null;
    this.marks = [];
    this.key = null;
    this.showOnPad(null);
    this.update();
  }

  // ---------------------------------------------------------------- the picture

  /** Show `blob` (a PNG, JPEG, …) on the canvas, scaled to fit, with no marks yet. */
  async load(blob) {
    if (!blob || !blob.type.startsWith("image/")) {
      this.say("error", this.t("caller.shot.not_image"));
      return;
    }
    let picture;
    try {
      picture = await createImageBitmap(blob);
    } catch (error) {
      this.say("error", this.t("caller.shot.unreadable"));
      return;
    }
    const scale = Math.min(1, MAX_WIDTH / picture.width, MAX_HEIGHT / picture.height);
    this.canvas.width = Math.max(1, Math.round(picture.width * scale));
    this.canvas.height = Math.max(1, Math.round(picture.height * scale));
    this.image = picture;
    this.marks = [];
    this.changed();
    this.say("", this.t("caller.shot.loaded"));
  }

  async capture() {
    let stream;
    try {
      stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    } catch (error) {
      this.say("error", this.t("caller.shot.capture_cancelled"));
      return;
    }
    try {
      const video = document.createElement("video");
      video.muted = true;
      video.srcObject = stream;
      await video.play();
      await new Promise((resolve) => requestAnimationFrame(resolve)); // a painted frame
      const frame = document.createElement("canvas");
      frame.width = video.videoWidth;
      frame.height = video.videoHeight;
      frame.getContext("2d").drawImage(video, 0, 0);
      await this.load(await toBlob(frame, "image/png"));
    } catch (error) {
      this.say("error", this.t("caller.shot.capture_failed"));
    } finally {
      for (const track of stream.getTracks()) track.stop();
    }
  }

  /** The marked-up picture as the Pad gets it: a PNG, or a JPEG when a PNG is too large. */
  async picture() {
    const png = await toBlob(this.canvas, "image/png");
    if (png.size <= MAX_BYTES) return png;
    return toBlob(this.canvas, "image/jpeg", 0.9);
  }

  // ---------------------------------------------------------------- marking up

  redraw() {
    const ctx = this.canvas.getContext("2d");
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    if (!this.image) return;
    ctx.drawImage(this.image, 0, 0, this.canvas.width, this.canvas.height);
    const width = Math.max(3, Math.round(Math.max(this.canvas.width, this.canvas.height) / 320));
    for (const mark of this.drawing ? [...this.marks, this.drawing] : this.marks) {
      drawMark(ctx, mark, width);
    }
  }

  point(event) {
    const box = this.canvas.getBoundingClientRect();
    return [
      ((event.clientX - box.left) * this.canvas.width) / box.width,
      ((event.clientY - box.top) * this.canvas.height) / box.height,
    ];
  }

  down(event) {
    if (!this.image || event.button !== 0) return;
    event.preventDefault();
    this.canvas.setPointerCapture(event.pointerId);
    const at = this.point(event);
    this.drawing =
      this.tool === "pen" ? { kind: "pen", points: [at] } : { kind: "rect", from: at, to: at };
    this.redraw();
  }

  move(event) {
    if (!this.drawing) return;
    const at = this.point(event);
    if (this.drawing.kind === "pen") this.drawing.points.push(at);
    else this.drawing.to = at;
    this.redraw();
  }

  up() {
    if (!this.drawing) return;
    this.marks.push(this.drawing);
    this.drawing = null;
    this.changed();
  }

  undo() {
    if (!this.marks.length) return;
    this.marks.pop();
    this.changed();
  }

  clear() {
    this.marks = [];
    this.changed();
  }

  setTool(tool) {
    this.tool = tool;
    this.update();
  }

  /** The picture changed: draw it, and the next send is a new request. */
  changed() {
    this.key = null;
    this.redraw();
    this.update();
  }

  // ---------------------------------------------------------------- the Pad

  seconds() {
    const chosen = this.dialog.querySelector('input[name="shot-seconds"]:checked');
    return chosen ? Number(chosen.value) : 30;
  }

  async send() {
    if (!this.image || this.busy) return;
    this.busy = true;
    this.update();
    this.say("", this.t("caller.shot.sending"));
    this.key ||= this.newKey();
    try {
      const seconds = this.seconds();
      const answer = await this.api("POST", `${this.windowPath()}/screenshot?seconds=${seconds}`, {
        body: await this.picture(),
        key: this.key,
      });
      this.showOnPad(answer.screenshot);
      this.dialog.close();
      this.onSent(this.t("caller.shot.sent", { seconds: answer.screenshot.seconds }));
    } catch (error) {
      this.say("error", error.message);
      this.onFailed(error);
    } finally {
      this.busy = false;
      this.update();
    }
  }

  /** 收回: take the screenshot off the Pad. */
  async dismiss() {
    if (!this.shown || this.busy) return;
    this.busy = true;
    this.update();
    try {
      await this.api("DELETE", `${this.windowPath()}/screenshot`);
      this.showOnPad(null);
      this.key = null; // the same picture may be sent again
      this.say("", this.t("caller.shot.dismissed"));
      this.onSent(this.t("caller.shot.dismissed"));
    } catch (error) {
      this.say("error", error.message);
      this.onFailed(error);
    } finally {
      this.busy = false;
      this.update();
    }
  }

  /** What the Pad shows now, as the edge answered it; the banner counts down. */
  showOnPad(screenshot) {
    clearInterval(this.timer);
    this.shown = screenshot
      ? { id: screenshot.id, until: performance.now() + screenshot.seconds_left * 1000 }
      : null;
    if (this.shown) this.timer = setInterval(() => this.update(), 500);
    this.update();
  }

  secondsLeft() {
    if (!this.shown) return 0;
    const left = Math.ceil((this.shown.until - performance.now()) / 1000);
    if (left <= 0) {
      this.shown = null; // timed out on the Pad
      this.key = null;
      clearInterval(this.timer);
    }
    return Math.max(left, 0);
  }

  // ---------------------------------------------------------------- the page

  say(kind, text) {
    const status = $("shot-status");
    status.dataset.kind = kind;
    status.textContent = text;
  }

  update() {
    const left = this.secondsLeft();
    const loaded = Boolean(this.image);
    $("shot-empty").hidden = loaded;
    this.canvas.hidden = !loaded;
    this.canvas.dataset.tool = this.tool;
    for (const button of this.dialog.querySelectorAll("[data-tool]")) {
      button.setAttribute("aria-pressed", String(button.dataset.tool === this.tool));
      button.disabled = !loaded;
    }
    $("shot-undo").disabled = !this.marks.length;
    $("shot-clear").disabled = !this.marks.length;
    $("shot-send").disabled = !loaded || this.busy;
    $("shot-dismiss").disabled = !left || this.busy;
    $("shot-dismiss").hidden = !left;
    $("shot-banner").hidden = !left;
    $("shot-banner-dismiss").disabled = this.busy;
    if (left) $("shot-banner-text").textContent = this.t("caller.shot.on_pad", { seconds: left });
  }

  wire() {
    $("shot-file").addEventListener("change", (event) => {
      const [file] = event.target.files;
      if (file) this.load(file);
      event.target.value = ""; // the same file again is a new choice
    });
    $("shot-file-button").addEventListener("click", () => $("shot-file").click());
    const capture = $("shot-capture");
    capture.hidden = !(window.isSecureContext && navigator.mediaDevices?.getDisplayMedia);
    capture.addEventListener("click", () => this.capture());
    for (const button of this.dialog.querySelectorAll("[data-tool]")) {
      button.addEventListener("click", () => this.setTool(button.dataset.tool));
    }
    $("shot-undo").addEventListener("click", () => this.undo());
    $("shot-clear").addEventListener("click", () => this.clear());
    $("shot-send").addEventListener("click", () => this.send());
    $("shot-dismiss").addEventListener("click", () => this.dismiss());
    $("shot-banner-dismiss").addEventListener("click", () => this.dismiss());
    for (const input of this.dialog.querySelectorAll('input[name="shot-seconds"]')) {
      input.addEventListener("change", () => {
        this.key = null;
      });
    }
    this.canvas.addEventListener("pointerdown", (event) => this.down(event));
    this.canvas.addEventListener("pointermove", (event) => this.move(event));
    this.canvas.addEventListener("pointerup", () => this.up());
    this.canvas.addEventListener("pointercancel", () => this.up());
    const stage = $("shot-stage");
    stage.addEventListener("dragover", (event) => event.preventDefault());
    stage.addEventListener("drop", (event) => {
      event.preventDefault();
      const file = [...(event.dataTransfer?.files || [])].find((f) => f.type.startsWith("image/"));
      if (file) this.load(file);
    });
    // Ctrl+V with a snip on the clipboard: into the dialog, or opening it from the desk
    document.addEventListener("paste", (event) => this.pasted(event));
    this.dialog.addEventListener("keydown", (event) => {
      if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") {
        event.preventDefault();
        this.undo();
      }
    });
  }

  pasted(event) {
    const typing = event.target?.closest?.("input, textarea, [contenteditable='true']");
    if (typing) return;
    const item = [...(event.clipboardData?.items || [])].find((i) => i.type.startsWith("image/"));
    if (!this.dialog.open) {
      if (!item || !this.mayOpen()) return;
      this.open();
    }
    event.preventDefault();
    if (item) this.load(item.getAsFile());
    else this.say("error", this.t("caller.shot.no_image_pasted"));
  }
}

function drawMark(ctx, mark, width) {
  ctx.save();
  ctx.strokeStyle = INK;
  ctx.lineWidth = width;
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  if (mark.kind === "pen") {
    const [[x0, y0], ...rest] = mark.points;
    ctx.beginPath();
    ctx.moveTo(x0, y0);
    if (!rest.length) ctx.lineTo(x0 + 0.1, y0); // a click is a dot
    for (const [x, y] of rest) ctx.lineTo(x, y);
    ctx.stroke();
  } else {
    const x = Math.min(mark.from[0], mark.to[0]);
    const y = Math.min(mark.from[1], mark.to[1]);
    const w = Math.abs(mark.to[0] - mark.from[0]);
    const h = Math.abs(mark.to[1] - mark.from[1]);
    ctx.fillStyle = HIGHLIGHT;
    ctx.fillRect(x, y, w, h);
    ctx.strokeRect(x, y, w, h);
  }
  ctx.restore();
}

function toBlob(canvas, type, quality) {
  return new Promise((resolve, reject) => {
    const done = (blob) => (blob ? resolve(blob) : reject(new Error("no picture")));
    canvas.toBlob(done, type, quality);
  });
}
