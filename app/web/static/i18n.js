/* Translations for the web pages: English, Arabic, Kurdish (Sorani). Needs words.js first.
 * Elements carry data-i18n="key" (text), data-i18n-placeholder, data-i18n-label (aria-label).
 * The language comes from ?lang=, then the last choice, then the browser; English is the
 * fallback for any missing string. Arabic and Sorani set dir="rtl" on <html>. */
"use strict";
(function () {
  const LANGS = window.WORDS.languages;
  const RTL = new Set(window.WORDS.rightToLeft);
  const STORE = "clearance.lang";
  const dict = { en: {}, ar: {}, ckb: {} };
  const listeners = [];
  let lang = "en";

  function add(strings) {
    for (const l of LANGS) Object.assign(dict[l], strings[l] || {});
  }

  function t(key, vars) {
    let s = dict[lang][key];
    if (s === undefined) s = dict.en[key];
    if (s === undefined) return key;
    if (vars) for (const [k, v] of Object.entries(vars)) s = s.split("{" + k + "}").join(String(v));
    return s;
  }

  function has(key) {
    return dict.en[key] !== undefined || dict[lang][key] !== undefined;
  }

  /* The name of an API value ("province", "kirkuk"), or the value itself if it has none. */
  function word(vocabulary, value) {
    if (value == null || value === "") return "";
    const key = vocabulary + "." + value;
    return has(key) ? t(key) : String(value);
  }

  function apply(root) {
    const scope = root || document;
    scope.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    scope.querySelectorAll("[data-i18n-placeholder]").forEach((el) => {
      el.setAttribute("placeholder", t(el.dataset.i18nPlaceholder));
    });
    scope.querySelectorAll("[data-i18n-label]").forEach((el) => {
      el.setAttribute("aria-label", t(el.dataset.i18nLabel));
    });
    document.querySelectorAll("[data-lang]").forEach((b) => {
      b.setAttribute("aria-pressed", String(b.dataset.lang === lang));
    });
  }

  function set(next, remember) {
    lang = LANGS.includes(next) ? next : "en";
    const html = document.documentElement;
    html.lang = lang;
    html.dir = RTL.has(lang) ? "rtl" : "ltr";
    if (remember) {
      try { localStorage.setItem(STORE, lang); } catch (e) { /* private mode */ }
    }
    apply();
    listeners.forEach((fn) => fn(lang));
  }

  function initial() {
    const asked = new URLSearchParams(location.search).get("lang");
    if (asked && LANGS.includes(asked)) return asked;
    try {
      const kept = localStorage.getItem(STORE);
      if (kept && LANGS.includes(kept)) return kept;
    } catch (e) { /* private mode */ }
    for (const l of navigator.languages || []) {
      const base = l.toLowerCase().split("-")[0];
      if (base === "ckb" || base === "ku") return "ckb";
      if (base === "ar") return "ar";
      if (base === "en") return "en";
    }
    return "en";
  }

  /* The page's locale for numbers and dates, where the browser knows it: a browser without
   * Sorani data would otherwise fall back to its own default (US dates, a 12-hour clock). */
  const LOCALES = { en: "en-GB", ar: "ar-IQ", ckb: "ckb-IQ" };
  function locale() {
    const want = LOCALES[lang];
    return Intl.DateTimeFormat.supportedLocalesOf([want]).length ? want : "en-GB";
  }

  /* Numbers with the page's digits (Arabic-Indic for ar, and ckb where the browser knows it). */
  function number(value, digits) {
    return new Intl.NumberFormat(locale(), {
      minimumFractionDigits: digits, maximumFractionDigits: digits,
    }).format(value);
  }

  /* A share (0.164) as a percentage in the page's language (16.4%, ١٦٫٤٪). */
  function percent(value, digits) {
    return new Intl.NumberFormat(locale(), {
      style: "percent", minimumFractionDigits: digits, maximumFractionDigits: digits,
    }).format(value);
  }

  /* A clock time, in the browser's zone or the one named (the live board shows Iraq time). */
  function time(date, timeZone) {
    return new Intl.DateTimeFormat(locale(), {
      hour: "2-digit", minute: "2-digit", timeZone,
    }).format(date);
  }

  function dateTime(date) {
    // Without the language's month names, a month number rather than an English name.
    const named = locale() === LOCALES[lang];
    return new Intl.DateTimeFormat(locale(), {
      day: "numeric", month: named ? "short" : "2-digit", hour: "2-digit", minute: "2-digit",
    }).format(date);
  }

  function wireSwitch() {
    document.querySelectorAll("[data-lang]").forEach((b) => {
      b.addEventListener("click", () => set(b.dataset.lang, true));
    });
  }

  window.I18N = {
    add, t, has, word, apply, set, number, percent, time, dateTime, wireSwitch,
    get lang() { return lang; },
    onChange(fn) { listeners.push(fn); },
    start() { wireSwitch(); set(initial(), false); },
  };

  /* The words shared with the API (provinces, procedures, hold reasons, event types, checkpoint
   * kinds, authorities, jurisdictions): made from their Python definitions, /static/web/words.js. */
  add(window.WORDS.labels);
})();
