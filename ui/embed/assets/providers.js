// Sign-in with an OpenID provider: buttons, messages, linked providers.
import { el, api, notice, button, when, t } from "./lib.js";

// By the server's ?oidc_error= reason (ui.providers.error.<reason>).
const reasons = new Set("access_denied provider_error provider_unavailable missing_code state bad_token bad_request email_unverified no_email email_taken account_locked password_reset_required identity_taken link_expired internal".split(" "));

// providerError is the notice for ?oidc_error= in query, or "".
export function providerError(query) {
  const reason = query.get("oidc_error");
  if (!reason) return "";
  return notice("error", t("providers.error." + (reasons.has(reason) ? reason : "provider_error")));
}

// providerButtons: "Continue with …" for each provider.
export function providerButtons(next) {
  const box = el("div", { class: "providers" });
  api("GET", "/auth/sign-in-providers").then((r) => {
    if (!r.ok || !r.data?.length) return;
    box.append(el("p", { class: "muted" }, t("providers.or")), ...r.data.map((p) =>
      el("a", { class: "btn secondary provider", "data-provider": p.name,
        href: `/api/v1/auth/oidc/${encodeURIComponent(p.name)}/start?next=${encodeURIComponent(next || "")}` }, t("providers.continue_with", { provider: p.label }))));
  });
  return box;
}

// linkedProvidersCard: linked providers (unlink), and link buttons.
export function linkedProvidersCard(v, query) {
  const body = el("div", {});
  const node = el("section", { class: "card", id: "providers", "aria-labelledby": "providers-h" },
    el("h2", { id: "providers-h" }, t("providers.title")), body);
  const show = async () => {
    const [linked, all] = await Promise.all([api("GET", "/auth/identities"), api("GET", "/auth/sign-in-providers")]);
    if (linked.status === 401) return v.signedOut();
    if (!all.ok || !all.data?.length) { node.hidden = true; return; }
    body.replaceChildren();
    if (query.get("oidc_linked")) body.append(notice("ok", t("providers.linked")));
    const err = providerError(query);
    if (err) body.append(err);
    const out = el("p", {});
    const list = el("ul", { class: "plain" }, (linked.data || []).map((id) => el("li", { "data-identity": id.id },
      t(id.email ? "providers.linked_on_email" : "providers.linked_on", { provider: id.label, email: id.email, when: when(id.created_at) }) + " ",
      button(t("providers.unlink"), async () => {
        const r = await api("DELETE", `/auth/identities/${id.id}`);
        if (r.status === 401) return v.signedOut();
        if (!r.ok) { out.replaceChildren(notice("error", r.message)); return; }
        await show();
      }))));
    if (!linked.data?.length) list.append(el("li", {}, t("providers.none_linked")));
    const links = all.data.map((p) => button(t("providers.link", { provider: p.label }), async () => {
      const r = await api("POST", `/auth/oidc/${encodeURIComponent(p.name)}/link/start`);
      if (r.status === 401) return v.signedOut();
      if (!r.ok) { out.replaceChildren(notice("error", r.message)); return; }
      location.assign(r.data.url);
    }));
    body.append(list, el("p", { class: "actions" }, links), out);
  };
  show();
  return node;
}
