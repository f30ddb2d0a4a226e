// The sign-in page: draws a captcha from the identity API, signs in through it (which sets the
// session cookie) and goes on to the page that was asked for.
"use strict";

(() => {
  const form = document.getElementById("login");
  const image = document.getElementById("captcha-image");
  const error = document.getElementById("login-error");

  async function newCaptcha() {
    form.captcha_answer.value = "";
    try {
      const response = await fetch("/api/auth/captcha", { cache: "no-store" });
      const body = await response.json();
      form.captcha_id.value = body.id;
      image.src = body.image;
    } catch {
      show("无法获取验证码，请检查网络后点击图片重试");
    }
  }

  function show(message) {
    error.textContent = message;
    error.hidden = !message;
  }

  image.addEventListener("click", newCaptcha);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!form.username.value.trim() || !form.password.value) {
      show("请输入用户名和密码");
      return;
    }
    if (!form.captcha_answer.value.trim()) {
      show("请输入验证码");
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    show("");
    try {
      const response = await fetch("/api/auth/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          username: form.username.value.trim(),
          password: form.password.value,
          captcha_id: form.captcha_id.value,
          captcha_answer: form.captcha_answer.value.trim(),
        }),
      });
      if (response.ok) {
        window.location.assign(form.dataset.next || "/portal/");
        return;
      }
      const body = await response.json().catch(() => null);
      show(body?.error?.message || "登录失败，请稍后重试");
      form.password.value = "";
    } catch {
      show("无法连接服务器，请稍后重试");
    } finally {
      button.disabled = false;
    }
    // a captcha is used up by every attempt, right or wrong
    newCaptcha();
  });
  newCaptcha();
})();
