// Date and time on hall screens: the clock, the solar date with its weekday, and the lunar
// date (农历) from lunar-javascript (ui/package.json), loaded by the page as a classic script.
// Hall time is Asia/Shanghai whatever the screen's own time zone (?tz=… for another hall).

const HALL_TIME_ZONE = "Asia/Shanghai";

function pad(n) {
  return String(n).padStart(2, "0");
}

/** The page's hall time zone: ?tz=… when the browser knows it, Asia/Shanghai otherwise. */
export function hallTimeZone(search = window.location.search) {
  const wanted = new URLSearchParams(search).get("tz");
  if (wanted) {
    try {
      new Intl.DateTimeFormat("en", { timeZone: wanted });
      return wanted;
    } catch (error) {
      console.warn("unknown time zone", wanted);
    }
  }
  return HALL_TIME_ZONE;
}

/** The wall time in `timeZone`: {year, month, day, hour, minute, second, weekday 0–6}. */
export function wallTime(now, timeZone) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone,
    year: "numeric",
    month: "numeric",
    day: "numeric",
    hour: "numeric",
    minute: "numeric",
    second: "numeric",
    weekday: "short",
    hourCycle: "h23",
  }).formatToParts(now);
  const part = (type) => parts.find((p) => p.type === type)?.value ?? "";
  const weekdays = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
  return {
    year: Number(part("year")),
    month: Number(part("month")),
    day: Number(part("day")),
    hour: Number(part("hour")),
    minute: Number(part("minute")),
    second: Number(part("second")),
    weekday: weekdays.indexOf(part("weekday")),
  };
}

/** "09:31:05" */
export function clockText(wall) {
  return `${pad(wall.hour)}:${pad(wall.minute)}:${pad(wall.second)}`;
}

/** "2026年11月25日" and "星期三" (or their English forms). */
export function solarTexts(wall, t) {
  const date = t("date.solar", { year: wall.year, month: wall.month, day: wall.day });
  return { date, weekday: t("date.weekday", { day: t("date.weekdays")[wall.weekday] }) };
}

/** "农历丙午年 十月十八", or "" when the lunar library did not load. */
export function lunarText(wall, t, lang) {
  const Solar = globalThis.Solar;
  if (!Solar) return "";
  const lunar = Solar.fromYmd(wall.year, wall.month, wall.day).getLunar();
  if (lang !== "zh-CN") {
    return t("date.lunar", { month: Math.abs(lunar.getMonth()), day: lunar.getDay() });
  }
  return `农历${lunar.getYearInGanZhi()}年 ${lunar.getMonthInChinese()}月${lunar.getDayInChinese()}`;
}

/** Keep `elements.clock`, `.date`, `.weekday` and `.lunar` current, once a second. */
export function runClock(elements, t, lang, timeZone = hallTimeZone()) {
  let shownDay = "";
  const tick = () => {
    const wall = wallTime(new Date(), timeZone);
    elements.clock.textContent = clockText(wall);
    const day = `${wall.year}-${wall.month}-${wall.day}`;
    if (day !== shownDay) {
      shownDay = day;
      const solar = solarTexts(wall, t);
      elements.date.textContent = solar.date;
      elements.weekday.textContent = solar.weekday;
      elements.lunar.textContent = lunarText(wall, t, lang);
    }
  };
  tick();
  return setInterval(tick, 1000);
}
