/* Translations for the web pages: English, Arabic, Kurdish (Sorani).
 * Elements carry data-i18n="key" (text), data-i18n-placeholder, data-i18n-label (aria-label).
 * The language comes from ?lang=, then the last choice, then the browser; English is the
 * fallback for any missing string. Arabic and Sorani set dir="rtl" on <html>. */
"use strict";
(function () {
  const LANGS = ["en", "ar", "ckb"];
  const RTL = new Set(["ar", "ckb"]);
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

  /* Numbers with the page's digits (Arabic-Indic for ar and ckb). */
  function number(value, digits) {
    const locale = { en: "en-GB", ar: "ar-IQ", ckb: "ckb-IQ" }[lang];
    return new Intl.NumberFormat(locale, {
      minimumFractionDigits: digits, maximumFractionDigits: digits,
    }).format(value);
  }

  function time(date) {
    const locale = { en: "en-GB", ar: "ar-IQ", ckb: "ckb-IQ" }[lang];
    return new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit" }).format(date);
  }

  function dateTime(date) {
    const locale = { en: "en-GB", ar: "ar-IQ", ckb: "ckb-IQ" }[lang];
    return new Intl.DateTimeFormat(locale, {
      day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
    }).format(date);
  }

  function wireSwitch() {
    document.querySelectorAll("[data-lang]").forEach((b) => {
      b.addEventListener("click", () => set(b.dataset.lang, true));
    });
  }

  window.I18N = {
    add, t, has, apply, set, number, time, dateTime, wireSwitch,
    get lang() { return lang; },
    onChange(fn) { listeners.push(fn); },
    start() { wireSwitch(); set(initial(), false); },
  };

  /* Shared by both pages: the provinces, as the API's slugs. */
  add({
    en: {
      "province.baghdad": "Baghdad", "province.basra": "Basra", "province.nineveh": "Nineveh",
      "province.erbil": "Erbil", "province.sulaymaniyah": "Sulaymaniyah", "province.duhok": "Duhok",
      "province.halabja": "Halabja", "province.kirkuk": "Kirkuk", "province.diyala": "Diyala",
      "province.anbar": "Anbar", "province.babil": "Babil", "province.karbala": "Karbala",
      "province.najaf": "Najaf", "province.wasit": "Wasit", "province.maysan": "Maysan",
      "province.dhi_qar": "Dhi Qar", "province.muthanna": "Muthanna",
      "province.qadisiyyah": "Qadisiyyah", "province.salahaddin": "Salahaddin",
    },
    ar: {
      "province.baghdad": "بغداد", "province.basra": "البصرة", "province.nineveh": "نينوى",
      "province.erbil": "أربيل", "province.sulaymaniyah": "السليمانية", "province.duhok": "دهوك",
      "province.halabja": "حلبجة", "province.kirkuk": "كركوك", "province.diyala": "ديالى",
      "province.anbar": "الأنبار", "province.babil": "بابل", "province.karbala": "كربلاء",
      "province.najaf": "النجف", "province.wasit": "واسط", "province.maysan": "ميسان",
      "province.dhi_qar": "ذي قار", "province.muthanna": "المثنى",
      "province.qadisiyyah": "القادسية", "province.salahaddin": "صلاح الدين",
    },
    ckb: {
      "province.baghdad": "بەغدا", "province.basra": "بەسرە", "province.nineveh": "نەینەوا",
      "province.erbil": "هەولێر", "province.sulaymaniyah": "سلێمانی", "province.duhok": "دهۆک",
      "province.halabja": "هەڵەبجە", "province.kirkuk": "کەرکووک", "province.diyala": "دیالە",
      "province.anbar": "ئەنبار", "province.babil": "بابل", "province.karbala": "کەربەلا",
      "province.najaf": "نەجەف", "province.wasit": "واسیت", "province.maysan": "مەیسان",
      "province.dhi_qar": "زیقار", "province.muthanna": "موسەننا",
      "province.qadisiyyah": "قادسیە", "province.salahaddin": "سەلاحەدین",
    },
  });
  window.PROVINCES = [
    "baghdad", "basra", "nineveh", "erbil", "sulaymaniyah", "duhok", "halabja", "kirkuk",
    "diyala", "anbar", "babil", "karbala", "najaf", "wasit", "maysan", "dhi_qar", "muthanna",
    "qadisiyyah", "salahaddin",
  ];
})();
