// The captured-mail viewer (development only): the list from GET
// /api/v1/dev/mail, one message from /api/v1/dev/mail/{id}. The text part
// is shown as text with its links made clickable; the HTML part only inside
// a sandboxed iframe (no scripts, no same-origin) from
// /api/v1/dev/mail/{id}/html, or as source text, never in this page's DOM.
import { el, api, notice, button, when, t } from "./lib.js";

const URL_RE = /https?:\/\/[^\s<>"'`]+/g;

// linkify turns the http(s) URLs of a text into links; the rest stays text.
function linkify(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(URL_RE)) {
    const url = m[0].replace(/[.,;:!?)\]]+$/, "");
    out.push(text.slice(last, m.index), el("a", { href: url }, url));
    last = m.index + url.length;
  }
  out.push(text.slice(last));
  return out;
}

// htmlFrame shows a message's HTML part as the server serves it at
// /api/v1/dev/mail/{id}/html: under its own sandbox CSP (no scripts, an
// opaque origin, inline styles allowed so that it looks as sent), in a
// frame that is sandboxed too. This page's strict policy is untouched.
function htmlFrame(id) {
  const frame = el("iframe", {
    sandbox: "", src: `/api/v1/dev/mail/${encodeURIComponent(id)}/html`,
    title: t("mail.html_part_of_the_message"), class: "mail-html", referrerpolicy: "no-referrer",
  });
  return [el("p", { class: "hint" }, t("mail.shown_as_sent_without_scripts_the")), frame];
}

export async function mailView(v) {
  v.heading(t("mail.captured_mail"), t("mail.development_only_mail_this_server_sends"));
  const live = el("p", { class: "done", role: "status" });
  const listEl = el("ul", { class: "mail-list", role: "list" });
  const reader = el("div", { class: "mail-reader" });
  let ids = null;
  let selected = null;

  const load = async (announce) => {
    const r = await api("GET", "/api/v1/dev/mail");
    if (!r.ok) {
      ids = null;
      listEl.replaceChildren(el("li", {}, notice("error", r.message)));
      return;
    }
    const list = r.data || [];
    const key = list.map((m) => m.id).join();
    if (key !== ids) {
      ids = key;
      draw(list);
    }
    if (announce) live.textContent = t("mail.n_messages", { n: list.length }, list.length);
  };

  const draw = (list) => {
    const had = document.activeElement?.dataset?.mailId;
    listEl.replaceChildren(...list.map((m) => el("li", {},
      el("button", { type: "button", class: "mail-item", "data-mail-id": m.id, "aria-current": m.id === selected ? "true" : null, onclick: () => open(m.id) },
        el("span", { class: "subj" }, m.subject || t("mail.no_subject")),
        el("span", { class: "meta" }, t("mail.to_date", { to: (m.to || []).join(", "), date: when(m.date) }))))));
    if (!list.length) listEl.append(el("li", { class: "empty" }, t("mail.no_mail_yet_new_mail_shows")));
    if (had) listEl.querySelector(`[data-mail-id="${CSS.escape(had)}"]`)?.focus();
  };

  const open = async (id) => {
    selected = id;
    for (const b of listEl.querySelectorAll(".mail-item")) {
      if (b.dataset.mailId === id) b.setAttribute("aria-current", "true");
      else b.removeAttribute("aria-current");
    }
    const r = await api("GET", `/api/v1/dev/mail/${encodeURIComponent(id)}`);
    if (!r.ok) {
      reader.replaceChildren(notice("error", r.message));
      return;
    }
    show(r.data);
  };

  const show = (m) => {
    const h = el("h2", { id: "message", tabindex: "-1" }, m.subject || t("mail.no_subject"));
    const body = el("div", { class: "mail-body" });
    const parts = [
      [t("mail.text"), () => (m.text ? el("pre", { class: "mail-text" }, linkify(m.text)) : el("p", {}, t("mail.this_message_has_no_text_part")))],
      ["HTML", () => (m.html ? htmlFrame(m.id) : el("p", {}, t("mail.this_message_has_no_html_part")))],
      [t("mail.html_source"), () => el("pre", { class: "mail-text" }, m.html || "")],
    ];
    const tabs = parts.map(([name, render]) => {
      const b = button(name, () => {
        for (const t of tabs) t.setAttribute("aria-pressed", String(t === b));
        body.replaceChildren(...[render()].flat());
      }, "btn secondary small");
      b.setAttribute("aria-pressed", "false");
      return b;
    });
    reader.replaceChildren(el("article", { class: "card", "aria-labelledby": "message" }, h,
      el("dl", { class: "facts" },
        el("dt", {}, t("mail.from")), el("dd", {}, m.from),
        el("dt", {}, t("mail.to")), el("dd", {}, (m.to || []).join(", ")),
        el("dt", {}, t("mail.date")), el("dd", {}, when(m.date))),
      el("div", { class: "tabs", role: "group", "aria-label": t("mail.part_of_the_message_to_show") }, tabs),
      body));
    tabs[m.text || !m.html ? 0 : 1].click();
    h.focus();
  };

  v.root.append(
    el("div", { class: "toolbar" },
      button(t("mail.refresh"), () => load(true)),
      button(t("mail.delete_all_mail"), async () => {
        const r = await api("DELETE", "/api/v1/dev/mail");
        live.textContent = r.message;
        selected = null;
        reader.replaceChildren();
        await load(false);
      })),
    live,
    el("div", { class: "mail" },
      el("section", { class: "card", "aria-labelledby": "inbox" }, el("h2", { id: "inbox" }, t("mail.inbox")), listEl),
      reader));
  const timer = setInterval(() => { if (!document.hidden) load(false); }, 1500);
  v.onLeave(() => clearInterval(timer));
  await load(false);
}
