// The central display's texts (综合屏, §4.2.2), zh-CN first.

import { addMessages } from "./messages.js";

addMessages({
  "zh-CN": {
    "central.now_calling": "正在呼叫",
    "central.please": "请",
    "central.to_window": "号到{number}号窗口",
    "central.idle": "请留意叫号信息",
    "central.number": "票号",
    "central.window": "窗口",
    "central.window_number": "{number}号窗口",
    "central.service": "业务",
    "central.waiting": "等候人数",
    "central.next": "下一号",
    "central.none": "—",
    "central.closed": "暂停取号",
    "central.marquee":
      "请按叫号顺序到对应窗口办理 ★ 过号请到导办台咨询 ★ 请在一米线外等候 ★ 办事完毕请对我们的服务进行评价",
  },
  en: {
    "central.now_calling": "Now calling",
    "central.please": "Number",
    "central.to_window": "to window {number}",
    "central.idle": "Please watch for your number",
    "central.number": "Number",
    "central.window": "Window",
    "central.window_number": "Window {number}",
    "central.service": "Service",
    "central.waiting": "Waiting",
    "central.next": "Next",
    "central.none": "—",
    "central.closed": "Closed",
    "central.marquee":
      "Please go to the window shown when your number is called ★ Missed your number? Ask at the help desk ★ Please wait behind the one-meter line",
  },
});
