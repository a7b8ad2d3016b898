// The staff pages under /admin: a dashboard (counts, sign-ups per day, the
// backup), the users (search, pages, one user's details and actions), the
// audit log, the mail outbox and the API keys of the shop's services. app.js shows them to staff only, and the
// API refuses everyone else all the same (403). Every word comes from the
// catalogue: t("admin.…"), or the customer pages' key where the words are
// the same; machine values (event names, scopes, ids) stay as they are.
import { el, api, form, field, notice, button, link, when, device, eventLabel, EVENTS, t, lang } from "./lib.js";
import { addressLines } from "./account.js";

const PAGE_SIZE = 50;

const section = (id, title, ...children) =>
  el("section", { class: "card", "aria-labelledby": id }, el("h2", { id, tabindex: "-1" }, title), children);
const fact = (label, ...value) => [el("dt", {}, label), el("dd", {}, value)];
const at = (iso) => (iso ? when(iso) : "—");
const num = (n) => (n ?? 0).toLocaleString(lang);
const errorText = (r) => [r.message, ...Object.values(r.errors || {}).flat()].join(" ");
const userLink = (id, text) => link("/admin/user?id=" + encodeURIComponent(id), text);
const never = t("admin.never"), cancel = t("account.cancel"), none = t("admin.none");
// STATES name the outbox's and the webhook deliveries' states for people.
const STATES = { queued: t("admin.queued"), sent: t("admin.sent"), failed: t("admin.failed"), pending: t("admin.pending"), delivered: t("admin.delivered") };
const stateWord = (s) => STATES[s] || s;

// start puts the heading and the admin menu on a page.
function start(v, title, lead) {
  v.heading(title, lead);
  const here = v.path === "/admin/user" ? "/admin/users" : v.path;
  const items = [["/admin", t("admin.dash")], ["/admin/users", t("admin.users")], ["/admin/audit", t("admin.audit")], ["/admin/outbox", t("admin.outbox")], ["/admin/api-keys", t("admin.keys")], ["/admin/webhooks", t("admin.hooks")]];
  v.root.append(el("nav", { class: "subnav", "aria-label": t("app.admin") }, el("ul", {}, items.map(([href, text]) =>
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

const tags = (u) => [u.is_frozen ? el("span", { class: "badge off" }, t("admin.locked")) : null,
  u.is_active ? t("admin.active") + " " : el("span", { class: "badge off" }, t("admin.inactive")),
  u.email_verified ? null : el("span", { class: "badge warn" }, t("admin.unverified")), u.is_staff ? el("span", { class: "badge" }, t("admin.staff")) : null];

// --- dashboard ---

const dayFmt = new Intl.DateTimeFormat(lang, { day: "numeric", month: "short", timeZone: "UTC" });
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
  const summary = t("admin.signups", { n: num(total), days: days.length }, total) + (top ? t("admin.most", { day: day(top.date), n: num(top.count) }) : "") + ".";
  const pic = svg("svg", { class: "chart", viewBox: `0 0 ${days.length * 10} 100`, preserveAspectRatio: "none", role: "img", "aria-label": summary },
    ...days.map((d, i) => {
      const h = d.count ? Math.max(2, (d.count / max) * 100) : 1;
      return svg("rect", { class: d.count ? "bar" : "bar zero", x: i * 10 + 1, y: 100 - h, width: 8, height: h }, svg("title", {}, `${day(d.date)}: ${num(d.count)}`));
    }));
  return [el("p", { class: "muted" }, summary), pic,
    days.length ? el("p", { class: "axis", "aria-hidden": "true" }, el("span", {}, day(days[0].date)), el("span", {}, t("admin.highest", { n: num(top?.count) })), el("span", {}, day(days.at(-1).date))) : null,
    el("details", {}, el("summary", {}, t("admin.as_table")),
      table(t("admin.per_day"), [t("admin.day"), t("admin.signups_h")], days.map((d) => row(el("time", { datetime: d.date }, day(d.date)), num(d.count)))))];
}

export async function dashboardView(v) {
  start(v, t("app.admin"), t("admin.dash_lead"));
  const r = await api("GET", "/admin/stats");
  if (failed(v, r)) return;
  const d = r.data;
  v.root.append(
    el("dl", { class: "stats" }, [[t("admin.users"), d.users], [t("admin.verified"), d.verified], [t("admin.unverified"), d.unverified]].map(([k, n]) =>
      el("div", { class: "card stat" }, el("dt", {}, k), el("dd", {}, num(n))))),
    section("signups", t("admin.signups_30"), chart(d.signups_per_day || [])),
    section("backup", t("admin.backup"),
      el("p", {}, t("admin.backup_p")),
      el("div", { class: "actions" }, el("a", { href: "/api/v1/admin/backup", download: "", class: "btn secondary", id: "backup-link" }, t("admin.backup_dl")))));
}

// --- users ---

export async function usersView(v) {
  start(v, t("admin.users"));
  const q = v.query.get("q") || "";
  const size = Math.min(200, Math.max(1, parseInt(v.query.get("page_size"), 10) || PAGE_SIZE));
  const page = Math.max(1, parseInt(v.query.get("page"), 10) || 1);
  const keep = size === PAGE_SIZE ? {} : { page_size: size };
  v.root.append(filters(v, [{ name: "q", label: t("admin.q"), type: "search", value: q, autocomplete: "off" }], t("admin.search"), keep));
  const r = await api("GET", "/admin/users?" + new URLSearchParams({ q, page, page_size: size }));
  if (failed(v, r)) return;
  const list = r.data || [];
  const total = parseInt(r.headers.get("X-Total-Count"), 10) || 0;
  const pages = Math.max(1, Math.ceil(total / size));
  const href = (p) => "/admin/users?" + new URLSearchParams({ ...(q && { q }), ...keep, page: p });
  v.root.append(section("results", q ? t("admin.matching", { q }) : t("admin.all_users"),
    el("p", { class: "count" }, t("admin.n_users", { n: num(total) }, total)),
    list.length
      ? table(t("admin.users"), [t("account.email"), t("account.name"), t("admin.status"), t("admin.joined"), t("admin.last_login")], list.map((u) => row(userLink(u.id, u.email),
        `${u.first_name} ${u.last_name}`.trim() || "—", tags(u), when(u.date_joined, true), u.last_login_at ? when(u.last_login_at) : never)))
      : el("p", {}, page > 1 ? t("admin.no_page") : t("admin.no_match")),
    el("nav", { class: "pager", "aria-label": t("admin.pages") },
      page > 1 ? link(href(page - 1), t("admin.prev"), "btn secondary small") : null,
      el("span", { id: "page-of" }, t("admin.page_of", { n: num(page), of: num(pages) })),
      page < pages ? link(href(page + 1), t("admin.next"), "btn secondary small") : null)));
}

// KINDS name the mailed links' kinds for people.
const KINDS = { verify_email: t("admin.k_verify"), password_reset: t("admin.k_reset"), email_change: t("admin.k_email"), undo: t("admin.k_undo"), mfa: t("admin.k_mfa") };

export async function userView(v) {
  start(v, t("admin.user"));
  const id = v.query.get("id") || "";
  const path = "/admin/users/" + id;
  const live = el("div", { class: "live" });
  const body = el("div");
  v.root.append(live, body);
  const say = (ok, text) => live.replaceChildren(notice(ok ? "ok" : "error", text));

  const load = async () => {
    const r = /^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$/i.test(id) ? await api("GET", path) : { status: 404 };
    if (r.status === 404) {
      body.replaceChildren(notice("error", t("admin.no_user")), el("p", {}, link("/admin/users", t("admin.back"))));
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
    const name = `${u.first_name} ${u.last_name}`.trim() || u.email, email = u.email;
    v.heading(name, u.email);
    const profile = el("div");
    const facts = () => {
      const edit = button(t("admin.edit"), editing, "btn secondary");
      edit.id = "act-edit";
      profile.replaceChildren(el("dl", { class: "facts" },
        fact(t("account.email"), u.email, u.email_verified ? "" : t("admin.unverified_p")),
        fact(t("account.name"), `${u.first_name} ${u.last_name}`.trim() || t("account.not_given")),
        fact(t("app.phone"), u.phone || t("account.not_given")),
        fact(t("app.company"), u.company_name || t("account.not_given")),
        fact(t("admin.status"), u.is_frozen ? t("admin.locked_long") : u.is_active ? t("admin.active") : t("admin.inactive_long")),
        fact(t("admin.role"), u.is_staff ? t("admin.staff") : t("admin.customer")),
        fact(t("account.customer_since"), when(u.date_joined, true)),
        fact(t("admin.last_login"), u.last_login_at ? when(u.last_login_at) : never),
        fact(t("admin.sessions"), t("admin.n_sessions", { n: num(u.sessions) }, u.sessions)),
        fact(t("admin.factors"), [m?.totp ? t("admin.totp", { n: num(m.recovery_codes_left) }, m.recovery_codes_left) : null,
          ...(m?.passkeys || []).map((p) => t("admin.passkey", { name: p.name }))].filter(Boolean).join(", ") || none),
        fact(t("providers.title"), (u.sign_in_providers || []).map((p) => `${p.label} (${p.email || t("admin.no_email")})`).join(", ") || none),
        fact(t("admin.uid"), el("code", {}, u.id))), el("div", { class: "actions" }, edit));
      return edit;
    };
    const editing = () => {
      const f = form({
        id: "user-form",
        submit: t("admin.save"),
        cls: "grid",
        fields: [
          { name: "first_name", label: t("app.first_name"), required: true, autocomplete: "off", value: u.first_name },
          { name: "last_name", label: t("app.last_name"), required: true, autocomplete: "off", value: u.last_name },
          { name: "phone", label: t("app.phone"), type: "tel", optional: true, autocomplete: "off", value: u.phone, hint: t("app.with_the_country_code_e_g") },
          { name: "company_name", label: t("app.company"), optional: true, autocomplete: "off", value: u.company_name },
        ],
        onSubmit: async (vals) => {
          const r = await api("PATCH", path, vals);
          if (r.status === 401) return v.signedOut();
          if (!r.ok) return r;
          say(true, r.message);
          await load();
        },
      });
      f.querySelector(".actions").append(button(cancel, () => facts().focus()));
      profile.replaceChildren(f);
      f.querySelector("input").focus();
    };
    facts();

    const b = (id, text, onclick, cls) => Object.assign(button(text, onclick, cls), { id });
    const acts = el("div", { class: "actions" },
      u.is_active
        ? b("act-active", t("admin.deactivate"), () => act("PATCH", "", { is_active: false }, () => t("admin.deactivated", { email })), "btn secondary danger-text")
        : b("act-active", t("admin.activate"), () => act("PATCH", "", { is_active: true }, () => t("admin.activated", { email }))),
      u.is_staff
        ? b("act-staff", t("admin.unstaff"), () => act("PATCH", "", { is_staff: false }, () => t("admin.unstaffed", { email })))
        : b("act-staff", t("admin.mkstaff"), () => act("PATCH", "", { is_staff: true }, () => t("admin.staffed", { email }))),
      b("act-sessions", t("admin.end"), () => act("POST", "/revoke-sessions", undefined,
        (r) => t("admin.ended", { n: num(r.data?.revoked) }, r.data?.revoked ?? 0))),
      m?.totp || m?.passkeys?.length ? b("act-mfa", t("admin.mfa_reset"), () => act("POST", "/mfa/reset", undefined, (r) => r.message)) : null,
      b("act-delete", t("admin.del"), () => confirmDelete(), "btn secondary danger-text"));
    // A locked account: staff find out who the owner is (outside Marbelle),
    // then restore it, to the address the owner proved if it differs. The
    // owner is mailed a link to choose a new password.
    const restore = u.is_frozen ? form({
      id: "restore-form",
      submit: t("admin.restore"),
      fields: [{ name: "email", label: t("admin.restore_to"), type: "email", optional: true, autocomplete: "off", value: u.email,
        hint: t("admin.restore_hint") }],
      onSubmit: async (vals) => {
        const r = await api("POST", path + "/restore", { email: vals.email.trim() });
        if (r.status === 401) return v.signedOut();
        if (!r.ok) return r;
        say(true, r.message);
        await load();
      },
    }) : null;
    const confirmDelete = () => {
      const yes = button(t("admin.del_yes"), async () => {
        const r = await api("DELETE", path);
        if (r.status === 401) return v.signedOut();
        if (!r.ok) return say(false, errorText(r));
        v.flash(`${u.email}: ${r.message}`);
        v.go("/admin/users");
      }, "btn danger");
      const box = el("div", { class: "confirm", role: "group", "aria-label": t("account.confirm_deletion") },
        el("p", {}, t("admin.del_q", { email })),
        el("div", { class: "actions" }, yes, button(cancel, () => {
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
        section("profile", t("account.profile"), profile),
        section("actions-h", t("admin.actions"),
          restore,
          el("p", { class: "muted" }, t("admin.logout_note")), acts,
          el("p", { class: "links" }, link("/admin/audit?user_id=" + encodeURIComponent(u.id), t("admin.user_audit"))))),
      section("addresses", t("app.addresses"),
        addrs.length
          ? el("ul", { class: "addresses", role: "list" }, addrs.map((a) => el("li", { class: "card address" + (a.is_primary ? " primary" : "") },
            el("h3", {}, a.label, a.is_primary ? el("span", { class: "badge" }, t("account.primary")) : null),
            el("address", {}, addressLines(a).map((l) => el("span", { class: "line" }, l))))))
          : el("p", {}, t("admin.no_addr"))),
      section("tokens", t("admin.links"),
        el("p", { class: "muted" }, t("admin.preview_p")),
        tokens.length
          ? table(t("admin.links"), [t("admin.kind"), t("admin.created"), t("admin.expires"), t("admin.state"), t("admin.preview")], tokens.map((k) =>
            row(KINDS[k.kind] || k.kind.replaceAll("_", " "), at(k.created_at), at(k.expires_at),
              k.used ? t("admin.used") : Date.parse(k.expires_at) < now ? t("admin.expired") : t("admin.open"), el("code", {}, k.preview))))
          : el("p", {}, t("admin.no_links"))));
    if (had) document.getElementById(had)?.focus();
  };
  await load();
}

// --- audit log ---

export async function auditView(v) {
  start(v, t("admin.audit"), t("admin.audit_lead"));
  const user = v.query.get("user_id") || "";
  const event = v.query.get("event") || "";
  const options = [["", t("admin.all_events")], ...Object.keys(EVENTS).map((k) => [k, `${EVENTS[k]} (${k})`])];
  if (event && !Object.hasOwn(EVENTS, event)) options.push([event, event]);
  const limit = Math.min(500, Math.max(1, parseInt(v.query.get("limit"), 10) || 50));
  v.root.append(filters(v, [
    { name: "user_id", label: t("admin.uid"), value: user, autocomplete: "off" },
    { name: "event", label: t("admin.event"), value: event, options },
  ], t("admin.show_events"), limit === 50 ? {} : { limit }));
  const wrap = table(t("admin.audit_events"), [t("admin.time"), t("admin.event"), t("app.account"), t("admin.ip"), t("admin.device"), t("admin.details")], []);
  const tbody = wrap.querySelector("tbody");
  const out = el("div");
  const count = el("p", { class: "count", role: "status" });
  const more = button(t("admin.older"), () => load(), "btn secondary");
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
    count.textContent = t("admin.n_events", { n: num(n) }, n) + (list.length < limit ? t("admin.oldest") : ".");
  };
  v.root.append(section("events", t("admin.events"), count, out, wrap, el("div", { class: "actions" }, more)));
  await load();
}

// --- outbox ---

export async function outboxView(v) {
  start(v, t("admin.outbox"), t("admin.outbox_lead"));
  const status = v.query.get("status") || "";
  v.root.append(filters(v, [{ name: "status", label: t("admin.status"), value: status,
    options: [["", t("admin.any")], ...["queued", "sent", "failed"].map((s) => [s, STATES[s]])] }], t("admin.show_mail")));
  const live = el("div", { class: "live" });
  const body = el("div");
  v.root.append(live, section("mail", t("admin.mail"), body), testMailSection(v));
  const retry = async (m) => {
    const r = await api("POST", `/admin/outbox/${encodeURIComponent(m.id)}/retry`);
    if (r.status === 401) return v.signedOut();
    live.replaceChildren(notice(r.ok ? "ok" : "error", r.ok ? t("admin.retried", { msg: r.message, subject: m.subject, to: m.to }) : errorText(r)));
    await load();
    document.getElementById("mail")?.focus();
  };
  const load = async () => {
    const r = await api("GET", "/admin/outbox" + (status ? "?status=" + encodeURIComponent(status) : ""));
    if (r.status === 401) return v.signedOut();
    if (!r.ok) return body.replaceChildren(notice("error", errorText(r)));
    const list = r.data || [];
    body.replaceChildren(list.length
      ? table(t("admin.outgoing"), [t("admin.created"), t("mail.to"), t("admin.subject"), t("admin.status"), t("admin.attempts"), t("admin.last_error"), t("admin.next_try"), t("admin.action")], list.map((m) =>
        row(at(m.created_at), m.to, m.subject, stateWord(m.status) + (m.sent_at ? ` ${at(m.sent_at)}` : ""), num(m.attempts),
          m.last_error || "—", m.status === "queued" ? at(m.next_attempt_at) : "—",
          m.status === "failed" ? button(t("admin.retry"), () => retry(m), "btn secondary small") : "")))
      : el("p", {}, t("admin.no_mail")));
  };
  await load();
}

// testMailSection (#21) sends one mail at once through the configured SMTP
// server, outside the outbox, and shows what the server answered.
function testMailSection(v) {
  const result = el("div", { class: "live" });
  const f = form({
    id: "mail-test-form",
    submit: t("admin.test_send"),
    fields: [{ name: "to", label: t("admin.test_to"), type: "email", required: true, autocomplete: "email",
      hint: t("admin.test_hint") }],
    onSubmit: async (vals) => {
      const r = await api("POST", "/admin/mail/test", { to: vals.to });
      if (r.status === 401) return v.signedOut();
      result.replaceChildren(r.ok ? notice("ok", t("admin.test_ok", { msg: r.message, to: r.data.to, server: r.data.server || t("admin.no_server") })) : "");
      return r; // a failure (the server's reply) shows in the form's alert
    },
  });
  return section("mail-test", t("admin.test"), f, result);
}

// --- API keys ---

// SCOPES are what a key may be given, with what each lets a service do.
const SCOPES = [
  ["users:read", t("admin.s_ur")],
  ["users:write", t("admin.s_uw")],
  ["addresses:read", t("admin.s_ar")],
  ["sessions:introspect", t("admin.s_si")],
  ["webhooks:manage", t("admin.s_wm")],
];

const keyState = (k) => (k.revoked_at ? el("span", { class: "badge off" }, t("admin.revoked"))
  : k.expires_at && Date.parse(k.expires_at) <= Date.now() ? el("span", { class: "badge warn" }, t("admin.expired")) : t("admin.active"));

// apiKeysView lists the keys, makes one (showing it this once) and revokes
// them. The new key lives only in this page's DOM until it is hidden or the
// page is left: it is never kept anywhere else.
export async function apiKeysView(v) {
  start(v, t("admin.keys"), t("admin.keys_lead"));
  const live = el("div", { class: "live" });
  const shown = el("div");
  const body = el("div");
  const say = (ok, text) => live.replaceChildren(notice(ok ? "ok" : "error", text));

  const showKey = (k) => {
    const input = el("input", { id: "new-key", readonly: true, spellcheck: "false", autocomplete: "off", "aria-describedby": "new-key-hint" });
    input.value = k.key;
    const copied = el("p", { class: "muted", role: "status" });
    const copy = button(t("admin.copy"), async () => {
      input.select();
      try {
        await navigator.clipboard.writeText(input.value);
        copied.textContent = t("admin.copied");
      } catch {
        copied.textContent = t("admin.copy_hint");
      }
    });
    copy.id = "copy-key";
    const hide = button(t("admin.hide"), () => {
      shown.replaceChildren();
      document.getElementById("keys")?.focus();
    });
    shown.replaceChildren(el("div", { class: "notice ok", id: "new-key-box" },
      el("p", {}, t("admin.key_made", { name: k.name })),
      el("div", { class: "field" }, el("label", { for: "new-key" }, t("admin.the_key")), input,
        el("p", { class: "hint", id: "new-key-hint" }, t("admin.key_hint"))),
      el("div", { class: "actions" }, copy, hide), copied));
    input.focus();
    input.select();
  };

  const f = form({
    id: "key-form",
    submit: t("admin.make"),
    fields: [
      { name: "name", label: t("account.name"), required: true, autocomplete: "off", hint: t("admin.name_hint") },
      ...SCOPES.map(([s, what]) => ({ name: "scope:" + s, label: `${s}: ${what}`, type: "checkbox" })),
      { name: "expires_at", label: t("admin.stops_at"), type: "datetime-local", optional: true, hint: t("admin.stops_hint") },
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
    const yes = button(t("admin.revoke_yes"), async () => {
      const r = await api("DELETE", "/admin/api-keys/" + encodeURIComponent(k.id));
      if (r.status === 401) return v.signedOut();
      say(r.ok, r.ok ? `“${k.name}”: ${r.message}` : errorText(r));
      await load();
      document.getElementById("keys")?.focus();
    }, "btn danger small");
    const box = el("div", { class: "confirm", role: "group", "aria-label": t("admin.revoke_aria", { name: k.name }) },
      el("p", {}, t("admin.revoke_q", { name: k.name })),
      el("div", { class: "actions" }, yes, button(cancel, () => {
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
      ? table(t("admin.keys"), [t("account.name"), t("admin.scopes"), t("admin.made"), t("admin.stops"), t("admin.last_used"), t("admin.state"), t("admin.action")], list.map((k) => row(
        k.name, k.scopes.join(", "), at(k.created_at), k.expires_at ? at(k.expires_at) : t("admin.when_revoked"),
        k.last_used_at ? at(k.last_used_at) : never, keyState(k),
        k.revoked_at ? "" : button(t("admin.revoke"), (ev) => confirmRevoke(k, ev.currentTarget), "btn secondary small danger-text"))))
      : el("p", {}, t("admin.no_keys")));
  };

  v.root.append(live, shown, section("new", t("admin.make_h"), f), section("keys", t("admin.keys_h"), body));
  await load();
}

// --- webhooks (#17) ---

const HOOK_EVENTS = ["*", ...["registered", "verified", "updated", "email_changed", "deactivated", "reactivated", "deleted"].map((e) => "user." + e),
  ...["created", "updated", "deleted", "primary_changed"].map((e) => "address." + e)];

// webhooksView: endpoints with their recent deliveries; add (the secret
// shown once), test, enable/disable, rotate, delete, retry a delivery.
export async function webhooksView(v) {
  start(v, t("admin.hooks"), t("admin.hooks_lead"));
  const live = el("div", { class: "live" }), shown = el("div"), body = el("div");
  const call = async (method, path, data) => {
    const r = await api(method, "/admin/webhook" + path, data);
    if (r.status === 401) v.signedOut();
    else if (r.ok && r.data?.secret) shown.replaceChildren(notice("ok", t("admin.secret", { msg: r.message, url: r.data.url }), el("code", { id: "new-secret" }, r.data.secret)));
    else live.replaceChildren(notice(r.ok ? "ok" : "error", r.ok ? r.message : errorText(r)));
    return r;
  };
  const f = form({
    id: "webhook-form",
    submit: t("admin.hook_add"),
    fields: [{ name: "url", label: t("admin.url"), required: true, autocomplete: "off" }, { name: "description", label: t("admin.desc"), optional: true },
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
      ? table(t("admin.deliveries"), [t("admin.created"), t("admin.event"), t("admin.status"), t("admin.attempts"), t("admin.last_status"), t("admin.last_error"), t("admin.next_try"), ""], r.data.map((d) =>
        row(at(d.created_at), d.type, stateWord(d.status), num(d.attempts), String(d.last_status_code ?? "—"), d.last_error || "—", at(d.next_attempt_at),
          d.attempts ? act(t("admin.retry"), "POST", `-deliveries/${encodeURIComponent(d.id)}/retry`) : "")))
      : el("p", {}, t("admin.no_deliveries"))));
    return el("section", { class: "card", "aria-label": h.url }, el("h3", {}, h.url),
      el("p", {}, `${h.events.join(", ")} · ${h.enabled ? t("admin.enabled") : t("admin.disabled")} · ${h.description || ""}`),
      el("div", { class: "actions" }, act(t("admin.hook_test"), "POST", `s/${id}/test`), act(h.enabled ? t("admin.disable") : t("admin.enable"), "PATCH", `s/${id}`, { enabled: !h.enabled }),
        act(t("admin.rotate"), "POST", `s/${id}/rotate-secret`), act(t("account.delete"), "DELETE", `s/${id}`)), box);
  };
  const load = async () => {
    const r = await api("GET", "/admin/webhooks");
    body.replaceChildren(...(r.ok ? (r.data.length ? r.data.map(endpoint) : [el("p", {}, t("admin.no_hooks"))]) : [notice("error", errorText(r))]));
  };
  v.root.append(live, shown, section("new-hook", t("admin.hook_new"), f), section("hooks", t("admin.endpoints"), body));
  await load();
}
