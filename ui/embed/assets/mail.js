// The captured-mail viewer (development only): the list from GET
// /api/v1/dev/mail, one message from /api/v1/dev/mail/{id}. The text part
// is shown as text with its links made clickable; the HTML part only inside
// a sandboxed iframe (no scripts, no same-origin) from
// /api/v1/dev/mail/{id}/html, or as source text, never in this page's DOM.
import { el, api, notice, button, when } from "./lib.js";

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
    title: "HTML part of the message", class: "mail-html", referrerpolicy: "no-referrer",
  });
  return [el("p", { class: "hint" }, "Shown as sent, without scripts. The links work in the text view."), frame];
}

export async function mailView(v) {
  v.heading("Captured mail", "Development only: mail this server sends is caught here instead of being delivered. In production this page does not exist.");
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
    if (announce) live.textContent = list.length === 1 ? "1 message." : `${list.length} messages.`;
  };

  const draw = (list) => {
    const had = document.activeElement?.dataset?.mailId;
    listEl.replaceChildren(...list.map((m) => el("li", {},
      el("button", { type: "button", class: "mail-item", "data-mail-id": m.id, "aria-current": m.id === selected ? "true" : null, onclick: () => open(m.id) },
        el("span", { class: "subj" }, m.subject || "(no subject)"),
        el("span", { class: "meta" }, `To ${(m.to || []).join(", ")} · ${when(m.date)}`)))));
    if (!list.length) listEl.append(el("li", { class: "empty" }, "No mail yet. New mail shows up here by itself."));
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
    const h = el("h2", { id: "message", tabindex: "-1" }, m.subject || "(no subject)");
    const body = el("div", { class: "mail-body" });
    const parts = [
      ["Text", () => (m.text ? el("pre", { class: "mail-text" }, linkify(m.text)) : el("p", {}, "This message has no text part."))],
      ["HTML", () => (m.html ? htmlFrame(m.id) : el("p", {}, "This message has no HTML part."))],
      ["HTML source", () => el("pre", { class: "mail-text" }, m.html || "")],
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
        el("dt", {}, "From"), el("dd", {}, m.from),
        el("dt", {}, "To"), el("dd", {}, (m.to || []).join(", ")),
        el("dt", {}, "Date"), el("dd", {}, when(m.date))),
      el("div", { class: "tabs", role: "group", "aria-label": "Part of the message to show" }, tabs),
      body));
    tabs[m.text || !m.html ? 0 : 1].click();
    h.focus();
  };

  v.root.append(
    el("div", { class: "toolbar" },
      button("Refresh", () => load(true)),
      button("Delete all mail", async () => {
        const r = await api("DELETE", "/api/v1/dev/mail");
        live.textContent = r.message;
        selected = null;
        reader.replaceChildren();
        await load(false);
      })),
    live,
    el("div", { class: "mail" },
      el("section", { class: "card", "aria-labelledby": "inbox" }, el("h2", { id: "inbox" }, "Inbox"), listEl),
      reader));
  const timer = setInterval(() => { if (!document.hidden) load(false); }, 1500);
  v.onLeave(() => clearInterval(timer));
  await load(false);
}
