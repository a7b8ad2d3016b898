// Sign-in with an OpenID provider: buttons, messages, linked providers.
import { el, api, notice, button, when } from "./lib.js";

// By the server's ?oidc_error= reason.
const reasons = {
  access_denied: "You cancelled the sign-in at the provider. Nothing was changed.",
  provider_error: "The provider could not sign you in. Please try again.",
  provider_unavailable: "The provider cannot be reached right now. Please try again later.",
  missing_code: "The provider's answer was incomplete. Please try again.",
  state: "This sign-in expired or was started in another browser. Please start again.",
  bad_token: "The provider's answer could not be verified. Please try again.",
  bad_request: "The provider's answer could not be read.",
  email_unverified: "The provider has not verified your email address, so no account was made. Verify it there, or register with a password.",
  no_email: "The provider did not share an email address.",
  email_taken: "An account with this email address already exists. Log in with your password, then link the provider on the Security page of your account.",
  account_locked: "This account cannot sign in right now. Please contact the shop.",
  password_reset_required: "For your security, reset your password before you sign in.",
  identity_taken: "This provider account is already linked to an account here.",
  link_expired: "Your account changed while you were at the provider. Please try again.",
  internal: "Something went wrong. Please try again.",
};

// providerError is the notice for ?oidc_error= in query, or "".
export function providerError(query) {
  const reason = query.get("oidc_error");
  if (!reason) return "";
  return notice("error", reasons[reason] || reasons.provider_error);
}

// providerButtons: "Continue with …" for each provider.
export function providerButtons(next) {
  const box = el("div", { class: "providers" });
  api("GET", "/auth/sign-in-providers").then((r) => {
    if (!r.ok || !r.data?.length) return;
    box.append(el("p", { class: "muted" }, "Or"), ...r.data.map((p) =>
      el("a", { class: "btn secondary provider", "data-provider": p.name,
        href: `/api/v1/auth/oidc/${encodeURIComponent(p.name)}/start?next=${encodeURIComponent(next || "")}` }, `Continue with ${p.label}`)));
  });
  return box;
}

// linkedProvidersCard: linked providers (unlink), and link buttons.
export function linkedProvidersCard(v, query) {
  const body = el("div", {});
  const node = el("section", { class: "card", id: "providers", "aria-labelledby": "providers-h" },
    el("h2", { id: "providers-h" }, "Sign-in providers"), body);
  const show = async () => {
    const [linked, all] = await Promise.all([api("GET", "/auth/identities"), api("GET", "/auth/sign-in-providers")]);
    if (linked.status === 401) return v.signedOut();
    if (!all.ok || !all.data?.length) { node.hidden = true; return; }
    body.replaceChildren();
    if (query.get("oidc_linked")) body.append(notice("ok", "The provider is now linked: you can sign in with it."));
    const err = providerError(query);
    if (err) body.append(err);
    const out = el("p", {});
    const list = el("ul", { class: "plain" }, (linked.data || []).map((id) => el("li", { "data-identity": id.id },
      `${id.label}${id.email ? " (" + id.email + ")" : ""}, linked ${when(id.created_at)} `,
      button("Unlink", async () => {
        const r = await api("DELETE", `/auth/identities/${id.id}`);
        if (r.status === 401) return v.signedOut();
        if (!r.ok) { out.replaceChildren(notice("error", r.message)); return; }
        await show();
      }))));
    if (!linked.data?.length) list.append(el("li", {}, "No provider is linked yet."));
    const links = all.data.map((p) => button(`Link ${p.label}`, async () => {
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
