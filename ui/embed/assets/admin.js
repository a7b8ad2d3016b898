// The staff pages under /admin: a dashboard (counts, sign-ups per day, the
// backup), the users (search, pages, one user's details and actions), the
// audit log, the mail outbox and the API keys of the shop's services. app.js shows them to staff only, and the
// API refuses everyone else all the same (403).
import { el, api, form, field, notice, button, link, when, device, eventLabel, EVENTS } from "./lib.js";
import { addressLines } from "./account.js";

const PAGE_SIZE = 50;

const section = (id, title, ...children) =>
  el("section", { class: "card", "aria-labelledby": id }, el("h2", { id, tabindex: "-1" }, title), children);
const fact = (label, ...value) => [el("dt", {}, label), el("dd", {}, value)];
const at = (iso) => (iso ? when(iso) : "—");
const errorText = (r) => [r.message, ...Object.values(r.errors || {}).flat()].join(" ");
const userLink = (id, text) => link("/admin/user?id=" + encodeURIComponent(id), text);

// start puts the heading and the admin menu on a page.
function start(v, title, lead) {
  v.heading(title, lead);
  const here = v.path === "/admin/user" ? "/admin/users" : v.path;
  const items = [["/admin", "Dashboard"], ["/admin/users", "Users"], ["/admin/audit", "Audit log"], ["/admin/outbox", "Outbox"], ["/admin/api-keys", "API keys"], ["/admin/webhooks", "Webhooks"]];
  v.root.append(el("nav", { class: "subnav", "aria-label": "Admin" }, el("ul", {}, items.map(([href, text]) =>
    el("li", {}, el("a", { href, "aria-current": href === here ? "page" : null }, text))))));
}

// failed shows why a request failed (a 401 sends the visitor to log in).
function failed(v, r, where = v.root) {
  if (r.ok) return false;
  if (r.status === 401) v.signedOut();
  else where.append(notice("error", errorText(r)));
  return true;
}

// table is a data table in a container that scrolls sideways on its own,
// so that a wide table never makes the page scroll.
function table(label, head, rows) {
  return el("div", { class: "table-wrap", role: "region", "aria-label": label, tabindex: "0" },
    el("table", {}, el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))), el("tbody", {}, rows)));
}
const row = (...cells) => el("tr", {}, cells.map((c) => el("td", {}, c)));

// filters is a search form whose values become the page's query string,
// so that results can be linked and the back button works.
function filters(v, fields, submit, keep = {}) {
  const f = el("form", { class: "filters", role: "search", "aria-label": submit, novalidate: true },
    fields.map((s) => field(s, "filter")), el("button", { type: "submit", class: "btn secondary" }, submit));
  f.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const q = new URLSearchParams(keep);
    for (const c of f.elements) if (c.name && c.value.trim()) q.set(c.name, c.value.trim());
    v.go(v.path + (q.size ? "?" + q : ""));
  });
  return f;
}

const tags = (u) => [u.is_frozen ? el("span", { class: "badge off" }, "Locked") : null,
  u.is_active ? "Active " : el("span", { class: "badge off" }, "Deactivated"),
  u.email_verified ? null : el("span", { class: "badge warn" }, "Not verified"), u.is_staff ? el("span", { class: "badge" }, "Staff") : null];

// --- dashboard ---

const dayFmt = new Intl.DateTimeFormat(undefined, { day: "numeric", month: "short", timeZone: "UTC" });
const day = (date) => dayFmt.format(new Date(date + "T00:00:00Z"));

function svg(tag, attrs, ...children) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, val] of Object.entries(attrs)) e.setAttribute(k, String(val));
  e.append(...children);
  return e;
}

// chart draws sign-ups per day as bars, with a summary for screen readers
// and the numbers as a table.
function chart(days) {
  const total = days.reduce((n, d) => n + d.count, 0);
  const top = days.reduce((a, d) => (d.count > (a?.count || 0) ? d : a), null);
  const max = top?.count || 1;
  const summary = `${total} sign-ups in the last ${days.length} days` + (top ? `, the most on ${day(top.date)} (${top.count})` : "") + ".";
  const pic = svg("svg", { class: "chart", viewBox: `0 0 ${days.length * 10} 100`, preserveAspectRatio: "none", role: "img", "aria-label": summary },
    ...days.map((d, i) => {
      const h = d.count ? Math.max(2, (d.count / max) * 100) : 1;
      return svg("rect", { class: d.count ? "bar" : "bar zero", x: i * 10 + 1, y: 100 - h, width: 8, height: h }, svg("title", {}, `${day(d.date)}: ${d.count}`));
    }));
  return [el("p", { class: "muted" }, summary), pic,
    days.length ? el("p", { class: "axis", "aria-hidden": "true" }, el("span", {}, day(days[0].date)), el("span", {}, `highest: ${top?.count || 0}`), el("span", {}, day(days.at(-1).date))) : null,
    el("details", {}, el("summary", {}, "Show the numbers as a table"),
      table("Sign-ups per day", ["Day", "Sign-ups"], days.map((d) => row(el("time", { datetime: d.date }, day(d.date)), String(d.count)))))];
}

export async function dashboardView(v) {
  start(v, "Admin", "The accounts at a glance, and a backup of everything.");
  const r = await api("GET", "/admin/stats");
  if (failed(v, r)) return;
  const d = r.data;
  v.root.append(
    el("dl", { class: "stats" }, [["Users", d.users], ["Verified", d.verified], ["Not verified", d.unverified]].map(([k, n]) =>
      el("div", { class: "card stat" }, el("dt", {}, k), el("dd", {}, String(n))))),
    section("signups", "Sign-ups in the last 30 days", chart(d.signups_per_day || [])),
    section("backup", "Backup",
      el("p", {}, "A consistent copy of the whole store, taken while the server runs. It holds every account: keep it as safe as the server."),
      el("div", { class: "actions" }, el("a", { href: "/api/v1/admin/backup", download: "", class: "btn secondary", id: "backup-link" }, "Download a backup"))));
}

// --- users ---

export async function usersView(v) {
  start(v, "Users");
  const q = v.query.get("q") || "";
  const size = Math.min(200, Math.max(1, parseInt(v.query.get("page_size"), 10) || PAGE_SIZE));
  const page = Math.max(1, parseInt(v.query.get("page"), 10) || 1);
  const keep = size === PAGE_SIZE ? {} : { page_size: size };
  v.root.append(filters(v, [{ name: "q", label: "Email or name", type: "search", value: q, autocomplete: "off" }], "Search users", keep));
  const r = await api("GET", "/admin/users?" + new URLSearchParams({ q, page, page_size: size }));
  if (failed(v, r)) return;
  const list = r.data || [];
  const total = parseInt(r.headers.get("X-Total-Count"), 10) || 0;
  const pages = Math.max(1, Math.ceil(total / size));
  const href = (p) => "/admin/users?" + new URLSearchParams({ ...(q && { q }), ...keep, page: p });
  v.root.append(section("results", q ? `Users matching “${q}”` : "All users",
    el("p", { class: "count" }, total === 1 ? "1 user" : `${total} users`),
    list.length
      ? table("Users", ["Email", "Name", "Status", "Joined", "Last login"], list.map((u) => row(userLink(u.id, u.email),
        `${u.first_name} ${u.last_name}`.trim() || "—", tags(u), when(u.date_joined, true), u.last_login_at ? when(u.last_login_at) : "Never")))
      : el("p", {}, page > 1 ? "There are no users on this page." : "No user matches."),
    el("nav", { class: "pager", "aria-label": "Pages of users" },
      page > 1 ? link(href(page - 1), "Previous page", "btn secondary small") : null,
      el("span", { id: "page-of" }, `Page ${page} of ${pages}`),
      page < pages ? link(href(page + 1), "Next page", "btn secondary small") : null)));
}

export async function userView(v) {
  start(v, "User");
  const id = v.query.get("id") || "";
  const path = "/admin/users/" + id;
  const live = el("div", { class: "live" });
  const body = el("div");
  v.root.append(live, body);
  const say = (ok, text) => live.replaceChildren(notice(ok ? "ok" : "error", text));

  const load = async () => {
    const r = /^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/i.test(id) ? await api("GET", path) : { status: 404 };
    if (r.status === 404) {
      body.replaceChildren(notice("error", "There is no user with this id. They may have been deleted."), el("p", {}, link("/admin/users", "Back to the users")));
      return;
    }
    if (r.ok) show(r.data);
    else if (r.status === 401) v.signedOut();
    else body.replaceChildren(notice("error", errorText(r)));
  };

  // act sends one change and shows what happened.
  const act = async (method, suffix, data, done) => {
    const r = await api(method, path + suffix, data);
    if (r.status === 401) return v.signedOut();
    say(r.ok, r.ok ? done(r) : errorText(r));
    if (r.ok) await load();
  };

  const show = (u) => {
    const m = u.sign_in_methods;
    const had = document.activeElement?.id;
    const name = `${u.first_name} ${u.last_name}`.trim() || u.email;
    v.heading(name, u.email);
    const profile = el("div");
    const facts = () => {
      const edit = button("Edit details", editing, "btn secondary");
      edit.id = "act-edit";
      profile.replaceChildren(el("dl", { class: "facts" },
        fact("Email", u.email, u.email_verified ? "" : " (not verified)"),
        fact("Name", `${u.first_name} ${u.last_name}`.trim() || "Not given"),
        fact("Phone", u.phone || "Not given"),
        fact("Company", u.company_name || "Not given"),
        fact("Status", u.is_frozen ? "Locked after a “This wasn't me” report on an email change: cannot log in until restored"
          : u.is_active ? "Active" : "Deactivated: cannot log in"),
        fact("Role", u.is_staff ? "Staff" : "Customer"),
        fact("Customer since", when(u.date_joined, true)),
        fact("Last login", u.last_login_at ? when(u.last_login_at) : "Never"),
        fact("Sessions", u.sessions === 1 ? "1 open session" : `${u.sessions} open sessions`),
        fact("Second factors", [m?.totp ? `Authenticator app (${m.recovery_codes_left} recovery codes left)` : null,
          ...(m?.passkeys || []).map((p) => `Passkey “${p.name}”`)].filter(Boolean).join(", ") || "None"),
        fact("Sign-in providers", (u.sign_in_providers || []).map((p) => `${p.label} (${p.email || "no email"})`).join(", ") || "None"),
        fact("User id", el("code", {}, u.id))), el("div", { class: "actions" }, edit));
      return edit;
    };
    const editing = () => {
      const f = form({
        id: "user-form",
        submit: "Save details",
        cls: "grid",
        fields: [
          { name: "first_name", label: "First name", required: true, autocomplete: "off", value: u.first_name },
          { name: "last_name", label: "Last name", required: true, autocomplete: "off", value: u.last_name },
          { name: "phone", label: "Phone", type: "tel", optional: true, autocomplete: "off", value: u.phone, hint: "With the country code, e.g. +49 30 123456." },
          { name: "company_name", label: "Company", optional: true, autocomplete: "off", value: u.company_name },
        ],
        onSubmit: async (vals) => {
          const r = await api("PATCH", path, vals);
          if (r.status === 401) return v.signedOut();
          if (!r.ok) return r;
          say(true, r.message);
          await load();
        },
      });
      f.querySelector(".actions").append(button("Cancel", () => facts().focus()));
      profile.replaceChildren(f);
      f.querySelector("input").focus();
    };
    facts();

    const b = (id, text, onclick, cls) => Object.assign(button(text, onclick, cls), { id });
    const acts = el("div", { class: "actions" },
      u.is_active
        ? b("act-active", "Deactivate", () => act("PATCH", "", { is_active: false }, () => `${u.email} is deactivated and logged out everywhere.`), "btn secondary danger-text")
        : b("act-active", "Activate", () => act("PATCH", "", { is_active: true }, () => `${u.email} can log in again.`)),
      u.is_staff
        ? b("act-staff", "Remove staff access", () => act("PATCH", "", { is_staff: false }, () => `${u.email} is no longer staff; their sessions have ended.`))
        : b("act-staff", "Make staff", () => act("PATCH", "", { is_staff: true }, () => `${u.email} is now staff; their sessions have ended.`)),
      b("act-sessions", "End all sessions", () => act("POST", "/revoke-sessions", undefined,
        (r) => (r.data?.revoked === 1 ? "1 session ended." : `${r.data?.revoked ?? 0} sessions ended.`))),
      m?.totp || m?.passkeys?.length ? b("act-mfa", "Remove second factors", () => act("POST", "/mfa/reset", undefined, (r) => r.message)) : null,
      b("act-delete", "Delete user…", () => confirmDelete(), "btn secondary danger-text"));
    // A locked account: staff find out who the owner is (outside Marbelle),
    // then restore it, to the address the owner proved if it differs. The
    // owner is mailed a link to choose a new password.
    const restore = u.is_frozen ? form({
      id: "restore-form",
      submit: "Restore account",
      fields: [{ name: "email", label: "Restore to this address", type: "email", optional: true, autocomplete: "off", value: u.email,
        hint: "The address the owner proved to you. The account moves there, and a link to choose a new password is mailed to it." }],
      onSubmit: async (vals) => {
        const r = await api("POST", path + "/restore", { email: vals.email.trim() });
        if (r.status === 401) return v.signedOut();
        if (!r.ok) return r;
        say(true, r.message);
        await load();
      },
    }) : null;
    const confirmDelete = () => {
      const yes = button("Delete user", async () => {
        const r = await api("DELETE", path);
        if (r.status === 401) return v.signedOut();
        if (!r.ok) return say(false, errorText(r));
        v.flash(`${u.email}: ${r.message}`);
        v.go("/admin/users");
      }, "btn danger");
      const box = el("div", { class: "confirm", role: "group", "aria-label": "Confirm deletion" },
        el("p", {}, `Delete ${u.email} with their addresses, sessions and links? They get a mail saying so. This cannot be undone.`),
        el("div", { class: "actions" }, yes, button("Cancel", () => {
          box.replaceWith(acts);
          document.getElementById("act-delete").focus();
        })));
      acts.replaceWith(box);
      yes.focus();
    };

    const addrs = u.addresses || [];
    const tokens = u.tokens || [];
    const now = Date.now();
    body.replaceChildren(
      el("div", { class: "cols" },
        section("profile", "Profile", profile),
        section("actions-h", "Actions",
          restore,
          el("p", { class: "muted" }, "Deactivating, or changing staff access, logs the user out everywhere at once."), acts,
          el("p", { class: "links" }, link("/admin/audit?user_id=" + encodeURIComponent(u.id), "This user's audit log")))),
      section("addresses", "Addresses",
        addrs.length
          ? el("ul", { class: "addresses", role: "list" }, addrs.map((a) => el("li", { class: "card address" + (a.is_primary ? " primary" : "") },
            el("h3", {}, a.label, a.is_primary ? el("span", { class: "badge" }, "Primary") : null),
            el("address", {}, addressLines(a).map((l) => el("span", { class: "line" }, l))))))
          : el("p", {}, "No saved addresses.")),
      section("tokens", "Mailed links",
        el("p", { class: "muted" }, "The preview identifies a link; it is never the link's token and cannot be used."),
        tokens.length
          ? table("Mailed links", ["Kind", "Created", "Expires", "State", "Preview"], tokens.map((t) =>
            row(t.kind.replaceAll("_", " "), at(t.created_at), at(t.expires_at),
              t.used ? "Used" : Date.parse(t.expires_at) < now ? "Expired" : "Open", el("code", {}, t.preview))))
          : el("p", {}, "No links.")));
    if (had) document.getElementById(had)?.focus();
  };
  await load();
}

// --- audit log ---

export async function auditView(v) {
  start(v, "Audit log", "What happened to accounts, newest first.");
  const user = v.query.get("user_id") || "";
  const event = v.query.get("event") || "";
  const options = [["", "All events"], ...Object.keys(EVENTS).map((k) => [k, `${EVENTS[k]} (${k})`])];
  if (event && !Object.hasOwn(EVENTS, event)) options.push([event, event]);
  const limit = Math.min(500, Math.max(1, parseInt(v.query.get("limit"), 10) || 50));
  v.root.append(filters(v, [
    { name: "user_id", label: "User id", value: user, autocomplete: "off" },
    { name: "event", label: "Event", value: event, options },
  ], "Show events", limit === 50 ? {} : { limit }));
  const wrap = table("Audit events", ["Time", "Event", "Account", "IP address", "Device", "Details"], []);
  const tbody = wrap.querySelector("tbody");
  const out = el("div");
  const count = el("p", { class: "count", role: "status" });
  const more = button("Older events", () => load(), "btn secondary");
  let before = "";
  const load = async () => {
    const q = new URLSearchParams({ limit });
    if (user) q.set("user_id", user);
    if (event) q.set("event", event);
    if (before) q.set("before", before);
    const r = await api("GET", "/admin/audit?" + q);
    if (r.status === 401) return v.signedOut();
    if (!r.ok) return out.replaceChildren(notice("error", errorText(r)));
    const list = r.data || [];
    tbody.append(...list.map((e) => row(el("time", { datetime: e.at }, when(e.at)),
      [eventLabel(e.event), el("span", { class: "meta" }, e.event)],
      e.user_id ? userLink(e.user_id, e.email || e.user_id) : e.email || "—",
      e.ip || "—", e.user_agent ? device(e.user_agent) : "—",
      Object.entries(e.detail || {}).map(([k, val]) => `${k}: ${val}`).join("; ") || "—")));
    before = list.at(-1)?.id || before;
    more.hidden = list.length < limit;
    const n = tbody.rows.length;
    count.textContent = (n === 1 ? "1 event" : `${n} events`) + (list.length < limit ? ", back to the oldest." : ".");
  };
  v.root.append(section("events", "Events", count, out, wrap, el("div", { class: "actions" }, more)));
  await load();
}

// --- outbox ---

export async function outboxView(v) {
  start(v, "Outbox", "Mail the server sends, newest first (the latest 200). Failed mail can be sent again.");
  const status = v.query.get("status") || "";
  v.root.append(filters(v, [{ name: "status", label: "Status", value: status,
    options: [["", "Any status"], ["queued", "Queued"], ["sent", "Sent"], ["failed", "Failed"]] }], "Show mail"));
  const live = el("div", { class: "live" });
  const body = el("div");
  v.root.append(live, section("mail", "Mail", body), testMailSection(v));
  const retry = async (m) => {
    const r = await api("POST", `/admin/outbox/${encodeURIComponent(m.id)}/retry`);
    if (r.status === 401) return v.signedOut();
    live.replaceChildren(notice(r.ok ? "ok" : "error", r.ok ? `${r.message} (“${m.subject}” to ${m.to})` : errorText(r)));
    await load();
    document.getElementById("mail")?.focus();
  };
  const load = async () => {
    const r = await api("GET", "/admin/outbox" + (status ? "?status=" + encodeURIComponent(status) : ""));
    if (r.status === 401) return v.signedOut();
    if (!r.ok) return body.replaceChildren(notice("error", errorText(r)));
    const list = r.data || [];
    body.replaceChildren(list.length
      ? table("Outgoing mail", ["Created", "To", "Subject", "Status", "Attempts", "Last error", "Next attempt", "Action"], list.map((m) =>
        row(at(m.created_at), m.to, m.subject, m.status + (m.sent_at ? ` ${at(m.sent_at)}` : ""), String(m.attempts),
          m.last_error || "—", m.status === "queued" ? at(m.next_attempt_at) : "—",
          m.status === "failed" ? button("Retry", () => retry(m), "btn secondary small") : "")))
      : el("p", {}, "No mail."));
  };
  await load();
}

// testMailSection (#21) sends one mail at once through the configured SMTP
// server, outside the outbox, and shows what the server answered.
function testMailSection(v) {
  const result = el("div", { class: "live" });
  const f = form({
    id: "mail-test-form",
    submit: "Send test email",
    fields: [{ name: "to", label: "Send a test email to", type: "email", required: true, autocomplete: "email",
      hint: "Sent straight away through the shop's SMTP server (not the outbox); you see the server's answer here." }],
    onSubmit: async (vals) => {
      const r = await api("POST", "/admin/mail/test", { to: vals.to });
      if (r.status === 401) return v.signedOut();
      result.replaceChildren(r.ok ? notice("ok", `${r.message} (${r.data.to} via ${r.data.server || "no server"})`) : "");
      return r; // a failure (the server's reply) shows in the form's alert
    },
  });
  return section("mail-test", "Test email", f, result);
}

// --- API keys ---

// SCOPES are what a key may be given, with what each lets a service do.
const SCOPES = [
  ["users:read", "read users and their addresses"],
  ["users:write", "change and delete customers"],
  ["addresses:read", "read a user's addresses"],
  ["sessions:introspect", "check session tokens"],
  ["webhooks:manage", "manage webhooks"],
];

const keyState = (k) => (k.revoked_at ? el("span", { class: "badge off" }, "Revoked")
  : k.expires_at && Date.parse(k.expires_at) <= Date.now() ? el("span", { class: "badge warn" }, "Expired") : "Active");

// apiKeysView lists the keys, makes one (showing it this once) and revokes
// them. The new key lives only in this page's DOM until it is hidden or the
// page is left: it is never kept anywhere else.
export async function apiKeysView(v) {
  start(v, "API keys", "Keys let the shop's other services (checkout, order system) call the admin API, with only the scopes you give them.");
  const live = el("div", { class: "live" });
  const shown = el("div");
  const body = el("div");
  const say = (ok, text) => live.replaceChildren(notice(ok ? "ok" : "error", text));

  const showKey = (k) => {
    const input = el("input", { id: "new-key", readonly: true, spellcheck: "false", autocomplete: "off", "aria-describedby": "new-key-hint" });
    input.value = k.key;
    const copied = el("p", { class: "muted", role: "status" });
    const copy = button("Copy the key", async () => {
      input.select();
      try {
        await navigator.clipboard.writeText(input.value);
        copied.textContent = "Copied.";
      } catch {
        copied.textContent = "The key is selected: press Ctrl+C (⌘C on a Mac) to copy it.";
      }
    });
    copy.id = "copy-key";
    const hide = button("I have stored it: hide the key", () => {
      shown.replaceChildren();
      document.getElementById("keys")?.focus();
    });
    shown.replaceChildren(el("div", { class: "notice ok", id: "new-key-box" },
      el("p", {}, `The key “${k.name}” is made. Copy it now: it is shown only this once, and Marbelle keeps only a hash of it.`),
      el("div", { class: "field" }, el("label", { for: "new-key" }, "The key"), input,
        el("p", { class: "hint", id: "new-key-hint" }, "The service sends it as “Authorization: Bearer <key>”. Keep it in the service's secret store, never in a web page or a repository.")),
      el("div", { class: "actions" }, copy, hide), copied));
    input.focus();
    input.select();
  };

  const f = form({
    id: "key-form",
    submit: "Make the key",
    fields: [
      { name: "name", label: "Name", required: true, autocomplete: "off", hint: "What the key is for, such as Checkout. Then tick only the scopes that service needs." },
      ...SCOPES.map(([s, what]) => ({ name: "scope:" + s, label: `${s}: ${what}`, type: "checkbox" })),
      { name: "expires_at", label: "Stops working at", type: "datetime-local", optional: true, hint: "Your local time. Leave it empty for a key that works until it is revoked." },
    ],
    onSubmit: async (vals) => {
      const data = { name: vals.name, scopes: SCOPES.map(([s]) => s).filter((s) => vals["scope:" + s]) };
      if (vals.expires_at) {
        const d = new Date(vals.expires_at);
        data.expires_at = Number.isNaN(d.getTime()) ? vals.expires_at : d.toISOString();
      }
      const r = await api("POST", "/admin/api-keys", data);
      if (r.status === 401) return v.signedOut();
      if (!r.ok) return r;
      f.reset();
      live.replaceChildren();
      await load();
      showKey(r.data);
    },
  });

  const confirmRevoke = (k, btn) => {
    const yes = button("Revoke the key", async () => {
      const r = await api("DELETE", "/admin/api-keys/" + encodeURIComponent(k.id));
      if (r.status === 401) return v.signedOut();
      say(r.ok, r.ok ? `“${k.name}”: ${r.message}` : errorText(r));
      await load();
      document.getElementById("keys")?.focus();
    }, "btn danger small");
    const box = el("div", { class: "confirm", role: "group", "aria-label": `Confirm revoking ${k.name}` },
      el("p", {}, `Revoke “${k.name}”? Every service using it is refused from its next request. This cannot be undone.`),
      el("div", { class: "actions" }, yes, button("Cancel", () => {
        box.replaceWith(btn);
        btn.focus();
      }, "btn secondary small")));
    btn.replaceWith(box);
    yes.focus();
  };

  const load = async () => {
    const r = await api("GET", "/admin/api-keys");
    if (r.status === 401) return v.signedOut();
    if (!r.ok) return body.replaceChildren(notice("error", errorText(r)));
    const list = r.data || [];
    body.replaceChildren(list.length
      ? table("API keys", ["Name", "Scopes", "Made", "Stops working", "Last used", "State", "Action"], list.map((k) => row(
        k.name, k.scopes.join(", "), at(k.created_at), k.expires_at ? at(k.expires_at) : "When revoked",
        k.last_used_at ? at(k.last_used_at) : "Never", keyState(k),
        k.revoked_at ? "" : button("Revoke…", (ev) => confirmRevoke(k, ev.currentTarget), "btn secondary small danger-text"))))
      : el("p", {}, "No API keys yet."));
  };

  v.root.append(live, shown, section("new", "Make a key", f), section("keys", "Keys", body));
  await load();
}

// --- webhooks (#17) ---

const HOOK_EVENTS = ["*", ...["registered", "verified", "updated", "email_changed", "deactivated", "reactivated", "deleted"].map((e) => "user." + e),
  ...["created", "updated", "deleted", "primary_changed"].map((e) => "address." + e)];

// webhooksView: endpoints with their recent deliveries; add (the secret
// shown once), test, enable/disable, rotate, delete, retry a delivery.
export async function webhooksView(v) {
  start(v, "Webhooks", "Endpoints that receive signed events (Standard Webhooks) when customers change.");
  const live = el("div", { class: "live" }), shown = el("div"), body = el("div");
  const call = async (method, path, data) => {
    const r = await api(method, "/admin/webhook" + path, data);
    if (r.status === 401) v.signedOut();
    else if (r.ok && r.data?.secret) shown.replaceChildren(notice("ok", `${r.message} Secret for ${r.data.url}: `, el("code", { id: "new-secret" }, r.data.secret)));
    else live.replaceChildren(notice(r.ok ? "ok" : "error", r.ok ? r.message : errorText(r)));
    return r;
  };
  const f = form({
    id: "webhook-form",
    submit: "Add the endpoint",
    fields: [{ name: "url", label: "URL", required: true, autocomplete: "off" }, { name: "description", label: "Description", optional: true },
      ...HOOK_EVENTS.map((e) => ({ name: "event:" + e, label: e, type: "checkbox" }))],
    onSubmit: async (vals) => {
      const r = await call("POST", "s", { url: vals.url, description: vals.description || "", events: HOOK_EVENTS.filter((e) => vals["event:" + e]) });
      if (!r.ok) return r;
      f.reset();
      await load();
    },
  });
  const endpoint = (h) => {
    const id = encodeURIComponent(h.id), box = el("div");
    const act = (label, method, path, data) => button(label, async () => (await call(method, path, data), load()), "btn secondary small");
    api("GET", `/admin/webhooks/${id}/deliveries`).then((r) => box.replaceChildren((r.data || []).length
      ? table("Deliveries", ["Created", "Event", "Status", "Attempts", "Last status", "Last error", "Next attempt", ""], r.data.map((d) =>
        row(at(d.created_at), d.type, d.status, String(d.attempts), String(d.last_status_code ?? "—"), d.last_error || "—", at(d.next_attempt_at),
          d.attempts ? act("Retry", "POST", `-deliveries/${encodeURIComponent(d.id)}/retry`) : "")))
      : el("p", {}, "No deliveries yet.")));
    return el("section", { class: "card", "aria-label": h.url }, el("h3", {}, h.url),
      el("p", {}, `${h.events.join(", ")} · ${h.enabled ? "enabled" : "disabled"} · ${h.description || ""}`),
      el("div", { class: "actions" }, act("Send test event", "POST", `s/${id}/test`), act(h.enabled ? "Disable" : "Enable", "PATCH", `s/${id}`, { enabled: !h.enabled }),
        act("Rotate secret", "POST", `s/${id}/rotate-secret`), act("Delete", "DELETE", `s/${id}`)), box);
  };
  const load = async () => {
    const r = await api("GET", "/admin/webhooks");
    body.replaceChildren(...(r.ok ? (r.data.length ? r.data.map(endpoint) : [el("p", {}, "No endpoints yet.")]) : [notice("error", errorText(r))]));
  };
  v.root.append(live, shown, section("new-hook", "Add an endpoint", f), section("hooks", "Endpoints", body));
  await load();
}
