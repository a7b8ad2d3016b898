// Shared helpers: building DOM from text (never from HTML), the API client,
// forms whose errors sit next to their fields, and a few formatters.

// Languages: the server picks the page's language (the switcher's choice,
// else Accept-Language, else the shop's default) and sends its strings,
// English filling gaps, before any view is built. t(key, vars, count): a
// UI string (i18n/catalogue/<lang>.json, "ui." left off); {{.name}} filled
// from vars, plural forms picked by count. An unknown key shows as itself.
const root = document.documentElement;
let page = { language: root.lang, languages: [root.lang], strings: {} };
try {
  const res = await fetch("/i18n/page.json", { credentials: "same-origin" });
  if (res.ok) page = await res.json();
} catch { /* keys show */ }
export const lang = page.language;
root.lang = lang;
const strings = page.strings;
const plurals = new Intl.PluralRules(lang);

export function t(key, vars, count) {
  let s = Object.hasOwn(strings, key) ? strings[key] : key;
  if (s && typeof s === "object") s = s[plurals.select(count ?? vars?.n ?? 0)] ?? s.other;
  if (!vars) return s;
  return String(s).replace(/\{\{\s*\.(\w+)\s*\}\}/g, (m, name) => (Object.hasOwn(vars, name) ? String(vars[name]) : m));
}

// setLanguage switches: on the account when one is signed in (its mail
// follows), and for this browser (a cookie the server sets), then reloads.
export async function setLanguage(l) {
  await api("PATCH", "/auth/profile", { language: l }); // 401 without a session
  location.assign(`/i18n/choose?language=${encodeURIComponent(l)}&next=${encodeURIComponent(location.pathname + location.search)}`);
}

// followAccount makes the page speak a signed-in account's language.
export function followAccount(profile) {
  if (profile?.language && profile.language !== lang && page.languages.includes(profile.language)) setLanguage(profile.language);
}

for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
for (const e of document.querySelectorAll("[data-i18n-label]")) e.setAttribute("aria-label", t(e.dataset.i18nLabel));
const switcher = document.getElementById("language");
if (switcher && page.languages.length > 1) {
  const select = el("select", { id: "language-select", onchange: (ev) => setLanguage(ev.target.value) },
    page.languages.map((l) => el("option", { value: l, lang: l }, languageName(l))));
  select.value = lang;
  switcher.append(el("label", { for: "language-select", class: "vh" }, t("lib.language")), select);
}

// languageName is a language's name in itself (Deutsch, English).
function languageName(l) {
  try {
    const n = new Intl.DisplayNames([l], { type: "language" }).of(l) || l;
    return n.charAt(0).toLocaleUpperCase(l) + n.slice(1);
  } catch {
    return l;
  }
}

export const site = document.querySelector(".brand")?.textContent || "Shop";
export const devMail = document.body.dataset.devMail === "true";
// nextOrigins: where besides this site a login may return to (safeNext).
export const nextOrigins = (document.body.dataset.nextOrigins || "").split(" ").filter(Boolean);

// el builds an element. Attributes are set as attributes (functions named
// on… become listeners); children are nodes or strings, and strings become
// text nodes, so server data can never turn into markup.
export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v == null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") e.addEventListener(k.slice(2), v);
    else if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) if (c != null && c !== false) e.append(c);
  return e;
}

const fallback = {
  0: t("lib.we_could_not_reach_the_server"),
  401: t("lib.please_log_in"),
  404: t("lib.not_found"),
  429: t("lib.too_many_attempts_please_wait_a"),
  503: t("lib.the_server_is_busy_please_try"),
};

// api sends a same-origin JSON request and returns the envelope's parts:
// {ok, status, code, message, data, errors, retryAfter, headers}. It never
// throws.
export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json", "Accept-Language": lang } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path.startsWith("/api/") ? path : "/api/v1" + path, init);
  } catch {
    return { ok: false, status: 0, code: "network", message: fallback[0], data: null, errors: {}, retryAfter: 0 };
  }
  let env = null;
  try { env = await res.json(); } catch { /* not JSON */ }
  const r = {
    ok: res.ok && env?.success === true,
    status: res.status,
    code: env?.code || "",
    message: env?.message || "",
    data: env?.data ?? null,
    errors: (env && typeof env.errors === "object" && env.errors) || {},
    retryAfter: Math.max(0, parseInt(res.headers.get("Retry-After"), 10) || 0),
    headers: res.headers,
  };
  if (!r.ok && !r.message) r.message = fallback[res.status] || t("lib.something_went_wrong_please_try_again");
  return r;
}

// save offers a Blob as a file download, through a temporary link.
export function save(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

let seq = 0;

// field builds a labelled control. spec: {name, label, type, autocomplete,
// required, hint, value, options: [[value, text]], checked, inputmode}.
// The error element's id is the control's id + "-error".
export function field(spec, prefix = "f") {
  const id = `${prefix}-${spec.name}-${++seq}`;
  const hintId = spec.hint ? id + "-hint" : null;
  const common = {
    id, name: spec.name, "aria-describedby": hintId, "data-hint": hintId,
    required: spec.required, autocomplete: spec.autocomplete, inputmode: spec.inputmode,
  };
  const error = el("p", { class: "field-error", id: id + "-error" });
  const hint = spec.hint ? el("p", { class: "hint", id: hintId }, spec.hint) : null;
  if (spec.type === "checkbox") {
    const box = el("input", { ...common, type: "checkbox", checked: spec.checked });
    return el("div", { class: "field check" }, box, el("label", { for: id }, spec.label), hint, error);
  }
  let control;
  if (spec.options) {
    control = el("select", common, spec.options.map(([v, t]) => el("option", { value: v }, t)));
    control.value = spec.value ?? "";
  } else {
    control = el("input", { ...common, type: spec.type || "text" });
    control.value = spec.value ?? "";
  }
  const label = el("label", { for: id }, spec.label, spec.optional ? el("span", { class: "opt" }, t("lib.optional")) : null);
  return el("div", { class: "field" + (spec.wide ? " wide" : "") }, label, hint, control, error);
}

// form builds a form of fields. onSubmit(values, form) returns an api
// result (or nothing); a failed one is shown with showErrors. While it
// runs, the submit button says so and a second submit does nothing.
// username (an email) adds a hidden username field, so that password
// managers know which account a password form is for.
export function form({ id, fields, submit, onSubmit, cls, extra, danger, username }) {
  const button = el("button", { type: "submit", class: danger ? "btn danger" : "btn" }, submit);
  const alert = el("div", { class: "alert", role: "alert" });
  const done = el("p", { class: "done", role: "status" });
  const user = username ? el("input", { type: "email", autocomplete: "username", value: username, hidden: true, readonly: true }) : null;
  const f = el("form", { id, class: "form " + (cls || ""), novalidate: true },
    user, alert, el("div", { class: "fields" }, fields.map((s) => field(s, id))), extra, el("div", { class: "actions" }, button), done);
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (button.getAttribute("aria-disabled") === "true") return;
    clearErrors(f);
    button.setAttribute("aria-disabled", "true");
    f.setAttribute("aria-busy", "true");
    let r;
    try {
      r = await onSubmit(values(f), f);
    } finally {
      f.removeAttribute("aria-busy");
      button.removeAttribute("aria-disabled");
    }
    if (r && !r.ok) {
      showErrors(f, r);
      if (r.retryAfter && (r.status === 429 || r.status === 503)) wait(button, r.retryAfter);
    }
  });
  return f;
}

// values reads a form's named controls: checkboxes as booleans.
export function values(f) {
  const out = {};
  for (const c of f.elements) {
    if (!c.name) continue;
    out[c.name] = c.type === "checkbox" ? c.checked : c.value;
  }
  return out;
}

// wait keeps a button unusable for secs seconds, counting down on it.
export function wait(button, secs) {
  const label = button.dataset.label || button.textContent;
  button.dataset.label = label;
  button.setAttribute("aria-disabled", "true");
  let left = secs;
  const tick = () => {
    if (left <= 0 || !button.isConnected) {
      button.textContent = label;
      button.removeAttribute("aria-disabled");
      clearInterval(timer);
      return;
    }
    button.textContent = t("lib.try_again_in_s", { n: left });
    left--;
  };
  const timer = setInterval(tick, 1000);
  tick();
}

export function clearErrors(f) {
  f.querySelector(".alert").replaceChildren();
  f.querySelector(".done").replaceChildren();
  for (const c of f.querySelectorAll("[aria-invalid]")) {
    c.removeAttribute("aria-invalid");
    document.getElementById(c.id + "-error").replaceChildren();
    if (c.dataset.hint) c.setAttribute("aria-describedby", c.dataset.hint);
    else c.removeAttribute("aria-describedby");
  }
}

// showErrors puts each field's messages next to its field (linked with
// aria-describedby, marked aria-invalid) and everything else, with the
// envelope's message, in the form's alert.
export function showErrors(f, r) {
  const rest = [];
  for (const [name, msgs] of Object.entries(r.errors || {})) {
    const list = Array.isArray(msgs) ? msgs.map(String) : [String(msgs)];
    const c = name === "non_field_errors" ? null : [...f.elements].find((e) => e.name === name && e.id);
    if (!c) {
      rest.push(...list);
      continue;
    }
    document.getElementById(c.id + "-error").textContent = list.join(" ");
    c.setAttribute("aria-invalid", "true");
    c.setAttribute("aria-describedby", [c.dataset.hint, c.id + "-error"].filter(Boolean).join(" "));
  }
  const alert = f.querySelector(".alert");
  alert.replaceChildren(el("p", {}, r.message));
  if (rest.length) alert.append(el("ul", {}, rest.map((m) => el("li", {}, m))));
  if (r.extra) alert.append(r.extra);
  f.querySelector('[aria-invalid="true"]')?.focus(); // the first, in the order of the form
}

// succeed shows a success message under a form.
export function succeed(f, msg) {
  f.querySelector(".done").textContent = msg;
}

// notice is a message block: kind is "ok", "error" or "info".
export function notice(kind, ...children) {
  return el("div", { class: "notice " + kind, role: kind === "error" ? "alert" : "status" }, children);
}

export function button(text, onclick, cls = "btn secondary") {
  return el("button", { type: "button", class: cls, onclick }, text);
}

export function link(href, text, cls) {
  return el("a", { href, class: cls }, text);
}

// Dates in the page's language, in the browser's time zone.
const dateFmt = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
const dayFmt = new Intl.DateTimeFormat(lang, { dateStyle: "long" });

export function when(iso, dayOnly) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return (dayOnly ? dayFmt : dateFmt).format(d);
}

const regionNames = new Intl.DisplayNames([lang], { type: "region" });

export function countryName(code) {
  try {
    return regionNames.of(code) || code;
  } catch {
    return code;
  }
}

// device names a browser and system from a user agent, for people.
export function device(ua) {
  if (!ua) return t("lib.unknown_device");
  const browser = /Edg\//.test(ua) ? "Edge" : /OPR\//.test(ua) ? "Opera" : /Firefox\//.test(ua) ? "Firefox"
    : /Chrom(e|ium)\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad|iPod/.test(ua) ? "iOS" : /Windows/.test(ua) ? "Windows"
    : /Mac OS X|Macintosh/.test(ua) ? "macOS" : /CrOS/.test(ua) ? "ChromeOS" : /Linux/.test(ua) ? "Linux" : "";
  if (!browser) return ua.length > 40 ? ua.slice(0, 40) + "…" : ua;
  return os ? t("lib.browser_on_os", { browser, os }) : browser;
}

// EVENTS names the audit events for people; eventLabel falls back to the
// event's own name.
export const EVENTS = Object.fromEntries(("register register_existing imported email_verified verification_resend_requested login login_failed logout password_changed password_reset_requested password_reset email_change_requested email_changed profile_updated session_revoked security_undo account_deleted sessions_revoked user_updated user_activated user_deactivated staff_created staff_granted staff_revoked user_deleted mail_retried mail_test_sent backup_downloaded api_key_created api_key_revoked login_mfa_required totp_enabled totp_disabled recovery_codes_regenerated recovery_code_used mfa_reset_by_staff passkey_added passkey_renamed passkey_removed oidc_linked oidc_unlinked oidc_refused_existing oidc_failed").split(" ").map((e) => [e, t("event." + e)]));

export const eventLabel = (name) => (Object.hasOwn(EVENTS, name) ? EVENTS[name] : name);

// Countries that write the postal code after the city; elsewhere it comes first ("10115 Berlin").
const CITY_FIRST = new Set(["US", "CA", "AU", "GB", "IE", "NZ", "IN", "BR", "MX", "JP", "KR", "CN", "TW", "HK", "SG", "ZA", "AE", "SA", "EG"]);

// placeLines: postal code, city and region in the country's order.
export function placeLines(a) {
  return CITY_FIRST.has(a.country) ? [[a.city, a.region, a.postal_code].filter(Boolean).join(" ")] : [`${a.postal_code} ${a.city}`, a.region];
}

// phoneText: national for the shop's default region, else international.
const phoneCC = root.dataset.phoneCc || "";
const phoneTrunk = root.dataset.phoneTrunk || "";
export function phoneText(e164) {
  if (!e164 || !phoneCC || !e164.startsWith("+" + phoneCC)) return e164 || "";
  return phoneTrunk + e164.slice(phoneCC.length + 1);
}
