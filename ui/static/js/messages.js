// The screens' texts: zh-CN first, English available (ARCHITECTURE.md decision 9).
// A page picks its language with ?lang=en; every text a screen shows comes from here.

export const MESSAGES = {
  "zh-CN": {
    "window.number": "{number}号窗口",
    "window.welcome": "欢迎光临",
    "window.welcome_sub": "请留意叫号，按号办理",
    "window.calling": "请",
    "window.calling_to": "号到{number}号窗口办理",
    "window.calling_short": "请到{number}号窗口办理",
    "window.paused": "暂停服务",
    "window.paused_sub": "请到其他窗口办理，谢谢理解",
    "window.backstage": "后台处理中",
    "window.backstage_sub": "工作人员正在处理业务，请稍候",
    "window.closed": "窗口暂未开放",
    "window.closed_sub": "请到其他窗口办理",
    "window.staff": "工作人员：{name}",
    "window.staff_no": "工号 {staff_no}",
    "window.marquee":
      "请按叫号顺序依次办理 ★ 请在一米线外等候 ★ 请保管好随身物品 ★ 欢迎对我们的服务进行评价 ★ 如有疑问请咨询导办台",
    "date.weekday": "星期{day}",
    "date.weekdays": "日一二三四五六",
    "date.solar": "{year}年{month}月{day}日",
    "date.lunar": "农历{month}月{day}",
    "live.offline": "离线",
    "live.offline_detail": "与服务器的连接已断开，正在重新连接…",
    "live.connecting": "正在连接…",
    "live.unauthorized": "未授权：请检查屏幕的访问凭证",
    "live.error": "错误",
    "live.no_window": "未指定窗口",
  },
  en: {
    "window.number": "Window {number}",
    "window.welcome": "Welcome",
    "window.welcome_sub": "Please wait for your number to be called",
    "window.calling": "Number",
    "window.calling_to": "please come to window {number}",
    "window.calling_short": "Please come to window {number}",
    "window.paused": "Service paused",
    "window.paused_sub": "Please go to another window, thank you",
    "window.backstage": "Processing",
    "window.backstage_sub": "Staff are handling a case, please wait",
    "window.closed": "Window closed",
    "window.closed_sub": "Please go to another window",
    "window.staff": "Staff: {name}",
    "window.staff_no": "No. {staff_no}",
    "window.marquee":
      "Please wait for your number ★ Please wait behind the one-meter line ★ Keep your belongings with you ★ Tell us how we did",
    "date.weekday": "{day}",
    "date.weekdays": ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"],
    "date.solar": "{year}-{month}-{day}",
    "date.lunar": "Lunar {month} {day}",
    "live.offline": "Offline",
    "live.offline_detail": "Connection lost, reconnecting…",
    "live.connecting": "Connecting…",
    "live.unauthorized": "Unauthorized: check this screen's access token",
    "live.error": "Error",
    "live.no_window": "No window given",
  },
};

/**
 * Add a screen's own texts (each screen keeps them in messages-<screen>.js):
 * addMessages({"zh-CN": {...}, en: {...}}) before the first translator() call.
 */
export function addMessages(more) {
  for (const [lang, table] of Object.entries(more)) {
    MESSAGES[lang] = { ...(MESSAGES[lang] || {}), ...table };
  }
}

/** The page's language: ?lang=… when the catalogue has it, zh-CN otherwise. */
export function pageLanguage(search = window.location.search) {
  const wanted = new URLSearchParams(search).get("lang");
  return wanted && MESSAGES[wanted] ? wanted : "zh-CN";
}

/** A translator for `lang`: t("window.number", {number: "3"}) → "3号窗口". */
export function translator(lang) {
  const table = MESSAGES[lang] || MESSAGES["zh-CN"];
  return (key, params = {}) => {
    const text = table[key] ?? MESSAGES["zh-CN"][key] ?? key;
    if (typeof text !== "string") return text;
    return text.replace(/\{(\w+)\}/g, (_, name) => String(params[name] ?? ""));
  };
}

/** Fill every element with data-i18n="key" under `root` with its text. */
export function applyTexts(root, t) {
  for (const el of root.querySelectorAll("[data-i18n]")) {
    el.textContent = t(el.dataset.i18n);
  }
}
