// Shared helpers: building DOM from text (never from HTML), the API client,
// forms whose errors sit next to their fields, and a few formatters.

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
  0: "We could not reach the server. Check your connection and try again.",
  401: "Please log in.",
  404: "Not found.",
  429: "Too many attempts. Please wait a moment and try again.",
  503: "The server is busy. Please try again in a moment.",
};

// api sends a same-origin JSON request and returns the envelope's parts:
// {ok, status, code, message, data, errors, retryAfter, headers}. It never
// throws.
export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
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
  if (!r.ok && !r.message) r.message = fallback[res.status] || "Something went wrong. Please try again.";
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
  const label = el("label", { for: id }, spec.label, spec.optional ? el("span", { class: "opt" }, " (optional)") : null);
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
    button.textContent = `Try again in ${left} s`;
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

const dateFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const dayFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "long" });

export function when(iso, dayOnly) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  return (dayOnly ? dayFmt : dateFmt).format(d);
}

const regionNames = new Intl.DisplayNames(["en"], { type: "region" });

export function countryName(code) {
  try {
    return regionNames.of(code) || code;
  } catch {
    return code;
  }
}

// device names a browser and system from a user agent, for people.
export function device(ua) {
  if (!ua) return "Unknown device";
  const browser = /Edg\//.test(ua) ? "Edge" : /OPR\//.test(ua) ? "Opera" : /Firefox\//.test(ua) ? "Firefox"
    : /Chrom(e|ium)\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari" : "";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad|iPod/.test(ua) ? "iOS" : /Windows/.test(ua) ? "Windows"
    : /Mac OS X|Macintosh/.test(ua) ? "macOS" : /CrOS/.test(ua) ? "ChromeOS" : /Linux/.test(ua) ? "Linux" : "";
  if (!browser) return ua.length > 40 ? ua.slice(0, 40) + "…" : ua;
  return os ? `${browser} on ${os}` : browser;
}

// EVENTS names the audit events for people; eventLabel falls back to the
// event's own name.
export const EVENTS = {
  register: "Account created",
  register_existing: "Registration tried with this address",
  imported: "Account imported",
  email_verified: "Email address verified",
  verification_resend_requested: "New verification link asked for",
  login: "Logged in",
  login_failed: "Failed login",
  logout: "Logged out",
  password_changed: "Password changed",
  password_reset_requested: "Password reset asked for",
  password_reset: "Password reset",
  email_change_requested: "Email change asked for",
  email_changed: "Email address changed",
  profile_updated: "Profile updated",
  session_revoked: "Session ended",
  security_undo: "“This wasn't me” link used",
  account_deleted: "Account deleted",
  sessions_revoked: "Sessions ended by staff",
  user_updated: "Profile changed by staff",
  user_activated: "Account activated by staff",
  user_deactivated: "Account deactivated by staff",
  staff_created: "Staff account created",
  staff_granted: "Staff access granted",
  staff_revoked: "Staff access removed",
  user_deleted: "Account deleted by staff",
  mail_retried: "Mail sent again by staff",
  mail_test_sent: "Test email sent by staff",
  backup_downloaded: "Backup downloaded",
  api_key_created: "API key made",
  api_key_revoked: "API key revoked",
  login_mfa_required: "Password right, code asked for",
  totp_enabled: "Authenticator app set up",
  totp_disabled: "Authenticator app removed",
  recovery_codes_regenerated: "New recovery codes made",
  recovery_code_used: "Recovery code used",
  mfa_reset_by_staff: "Second factor removed by staff",
};

export const eventLabel = (name) => (Object.hasOwn(EVENTS, name) ? EVENTS[name] : name);
