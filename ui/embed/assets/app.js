// The customer account pages, and the staff pages of admin.js: one
// document, a view per path, history API navigation. Whether the visitor is signed in comes from GET
// /auth/profile (401: signed out); that profile is the only state kept, in
// memory. The session cookie is HttpOnly and no token or session id is ever
// written to cookies or web storage; token links are read once and removed
// from the address bar.
import { el, api, form, notice, button, link, site, devMail, nextOrigins, wait, succeed, t, lang, followAccount } from "./lib.js";
import { safeNext } from "./next.js";
import { accountView, addressesView, securityView } from "./account.js";
import { mailView } from "./mail.js";
import { providerButtons, providerError } from "./providers.js";
import { dashboardView, usersView, userView, auditView, outboxView, apiKeysView, webhooksView } from "./admin.js";

// routes: every path here must also be in ui.go's pages (a test checks).
const routes = {
  "/": { view: home },
  "/login": { view: login, guest: true },
  "/register": { view: register, guest: true },
  "/verify-email": { view: verifyEmail, token: true },
  "/forgot-password": { view: forgotPassword },
  "/reset-password": { view: resetPassword, token: true },
  "/confirm-email-change": { view: confirmEmailChange, token: true },
  "/undo": { view: undo, token: true },
  "/account": { view: accountView, auth: true },
  "/account/addresses": { view: addressesView, auth: true },
  "/account/security": { view: securityView, auth: true },
  "/dev/mail": { view: mailView, dev: true },
  "/admin": { view: dashboardView, auth: true, staff: true },
  "/admin/users": { view: usersView, auth: true, staff: true },
  "/admin/user": { view: userView, auth: true, staff: true },
  "/admin/audit": { view: auditView, auth: true, staff: true },
  "/admin/outbox": { view: outboxView, auth: true, staff: true },
  "/admin/api-keys": { view: apiKeysView, auth: true, staff: true },
  "/admin/webhooks": { view: webhooksView, auth: true, staff: true }, // #17
};

const state = { user: null, flash: "", email: "" };
const viewEl = document.getElementById("view");
const statusEl = document.getElementById("status");
const navEl = document.getElementById("nav");
let pendingToken = null;
let leaving = [];
let initial = true;

function normalize(p) {
  return p.length > 1 ? p.replace(/\/+$/, "") || "/" : p;
}

function go(to, { replace = false } = {}) {
  const u = new URL(to, location.origin);
  history[replace ? "replaceState" : "pushState"](null, "", u.pathname + u.search + u.hash);
  render();
}

// takeToken reads ?token= and removes it from the address bar at once.
function takeToken() {
  const q = new URLSearchParams(location.search);
  if (!q.has("token")) return null;
  const token = q.get("token");
  q.delete("token");
  const rest = q.toString();
  history.replaceState(history.state, "", location.pathname + (rest ? "?" + rest : "") + location.hash);
  return token;
}

// renderNav draws the navigation, unless it shows the same already (so
// that a focused link stays).
let navKey = "";
function renderNav(path) {
  const key = path + " " + (state.user ? !!state.user.is_staff : "out");
  if (key === navKey && navEl.firstChild) return;
  navKey = key;
  const items = state.user
    ? [["/account", t("app.account")], ["/account/addresses", t("app.addresses")], ["/account/security", t("app.security")]]
    : [["/login", t("app.log_in")], ["/register", t("app.register")]];
  if (state.user?.is_staff) items.push(["/admin", t("app.admin")]);
  const here = (href) => href === path || (href === "/admin" && path.startsWith("/admin/"));
  const ul = el("ul", {}, items.map(([href, text]) =>
    el("li", {}, el("a", { href, "aria-current": here(href) ? "page" : null }, text))));
  if (state.user) ul.append(el("li", {}, el("button", { type: "button", class: "linklike", id: "logout", onclick: logout }, t("app.log_out"))));
  navEl.replaceChildren(ul);
}

async function logout() {
  const r = await api("POST", "/auth/logout");
  if (!r.ok) {
    statusEl.textContent = r.message;
    return;
  }
  state.user = null;
  state.flash = t("app.you_are_logged_out");
  go("/login");
}

async function render() {
  for (const f of leaving.splice(0)) f();
  const path = normalize(location.pathname);
  let route = routes[path];
  if (!route || (route.dev && !devMail)) route = { view: notFound };
  if (route.auth && !state.user) {
    state.flash ||= t("app.please_log_in_to_see_this");
    go("/login?next=" + encodeURIComponent(path + location.hash), { replace: true });
    return;
  }
  if (route.staff && !state.user.is_staff) route = { view: notAllowed };
  if (route.guest && state.user) {
    go("/account", { replace: true });
    return;
  }
  const token = route.token ? pendingToken ?? takeToken() : null;
  pendingToken = null;
  renderNav(path);
  statusEl.textContent = state.flash;
  state.flash = "";
  const root = el("div", { class: "page", "aria-busy": "true" });
  viewEl.replaceChildren(root);
  const focusHeading = !initial;
  initial = false;
  const v = {
    root, token, path,
    get user() { return state.user; },
    query: new URLSearchParams(location.search),
    heading(text, lead) {
      const h = el("h1", { tabindex: "-1" }, text);
      root.querySelector("h1")?.remove();
      root.querySelector(".lead.top")?.remove();
      root.prepend(h, lead ? el("p", { class: "lead top" }, lead) : "");
      document.title = `${text} · ${site}`;
      if (focusHeading || root.dataset.headed) h.focus();
      root.dataset.headed = "1";
      return h;
    },
    setUser(u) {
      state.user = u;
      if (root.isConnected) renderNav(path);
    },
    go,
    flash(msg) { state.flash = msg; },
    signedOut() {
      if (!root.isConnected) return; // the visitor has moved on
      state.user = null;
      state.flash = t("app.your_session_has_ended_please_log");
      go("/login?next=" + encodeURIComponent(path), { replace: true });
    },
    onLeave(fn) { leaving.push(fn); },
  };
  try {
    await route.view(v);
  } catch (err) {
    root.append(notice("error", t("app.something_went_wrong_while_showing_this")));
    throw err;
  } finally {
    root.removeAttribute("aria-busy");
  }
  if (location.hash && root.isConnected) {
    const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target) {
      target.scrollIntoView();
      if (target.hasAttribute("tabindex")) target.focus();
    }
  }
}

const card = (...children) => el("section", { class: "card narrow" }, children);
const actions = (...children) => el("div", { class: "actions" }, children);

// --- signed-out pages ---

function home(v) {
  if (state.user) {
    go("/account", { replace: true });
    return;
  }
  v.heading(t("app.welcome_to_site", { site }), t("app.log_in_to_manage_your_profile"));
  v.root.append(actions(link("/login", t("app.log_in"), "btn"), link("/register", t("app.create_an_account"), "btn secondary")));
}

function login(v) {
  v.heading(t("app.log_in"), t("app.welcome_back_to_site", { site }));
  const next = safeNext(v.query.get("next"), location.origin, nextOrigins, (p) => !!routes[normalize(p)]?.auth);
  const loggedIn = (user) => {
    state.user = user;
    state.email = "";
    state.flash = user.first_name ? t("app.welcome_name_logged_in", { name: user.first_name }) : t("app.welcome_logged_in");
    if (next.startsWith("/")) go(next, { replace: true });
    else location.replace(next); // a page of the shop, behind forward auth
  };
  const f = form({
    id: "login",
    submit: t("app.log_in"),
    fields: [
      { name: "email", label: t("app.email_address"), type: "email", autocomplete: "username", required: true, value: state.email },
      { name: "password", label: t("app.password"), type: "password", autocomplete: "current-password", required: true },
    ],
    onSubmit: async (vals) => {
      const r = await api("POST", "/auth/login", vals);
      if (r.ok && r.data.mfa_required) {
        f.parentNode.replaceWith(secondStep(v, r.data.mfa_token, loggedIn));
        document.querySelector("#login-mfa input[name=code]")?.focus();
        return;
      }
      if (r.ok) return loggedIn(r.data);
      if (r.code === "email_not_verified") r.extra = resendButton(vals.email);
      if (r.code === "password_reset_required") {
        state.email = vals.email.trim();
        r.extra = el("p", { class: "next" }, link("/forgot-password", t("app.reset_your_password")));
      }
      return r;
    },
  });
  v.root.append(providerError(v.query), card(f, providerButtons(next)), el("p", { class: "links" },
    link("/forgot-password", t("app.forgot_your_password")), el("span", { class: "sep" }, t("app.new_here"), link("/register", t("app.create_an_account")))));
  // A provider sign-in on an account with a second factor comes back with
  // its mfa token in the fragment, which no server sees.
  const mfa = new URLSearchParams(location.hash.slice(1)).get("mfa");
  if (mfa) {
    history.replaceState(null, "", location.pathname + location.search);
    f.parentNode.replaceWith(secondStep(v, mfa, loggedIn));
    document.querySelector("#login-mfa input[name=code]")?.focus();
    return;
  }
  passkeyLogin(f, loggedIn);
}

// passkeyLogin offers the account's passkeys in the email field's autofill
// (conditional mediation) and behind a button.
async function passkeyLogin(f, loggedIn) {
  if (!window.PublicKeyCredential?.parseRequestOptionsFromJSON) return;
  f.querySelector("[name=email]").autocomplete = "username webauthn";
  let abort;
  const go = async (mediation) => {
    abort?.abort();
    abort = new AbortController();
    const b = await api("POST", "/auth/passkeys/login/begin", {});
    if (!b.ok) return;
    try {
      const c = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(b.data), mediation, signal: abort.signal });
      const r = await api("POST", "/auth/passkeys/login/finish", c.toJSON());
      r.ok ? loggedIn(r.data) : f.querySelector(".alert").replaceChildren(r.message);
    } catch { /* dismissed, or replaced by the other way */ }
  };
  const b = button(t("app.log_in_with_a_passkey"), () => go("optional"));
  b.id = "passkey-login";
  f.after(b);
  if (await PublicKeyCredential.isConditionalMediationAvailable?.()) go("conditional");
}

// secondStep: a code from the authenticator app, or a recovery code.
function secondStep(v, token, loggedIn) {
  return card(form({
    id: "login-mfa", submit: t("app.continue"),
    fields: [{ name: "code", label: t("app.code_from_app_or_recovery"), autocomplete: "one-time-code", required: true }],
    onSubmit: async (vals) => {
      const c = vals.code.trim();
      const r = await api("POST", "/auth/login/mfa", /^[0-9 ]+$/.test(c) ? { mfa_token: token, code: c } : { mfa_token: token, recovery_code: c });
      if (r.ok) return loggedIn(r.data);
      if (r.errors?.recovery_code) r.errors = { code: r.errors.recovery_code };
      return r;
    },
  }));
}

// resendButton sends a fresh verification link to email.
function resendButton(email) {
  const out = el("div", { class: "resend" });
  const b = button(t("app.send_a_new_verification_link"), async () => {
    const r = await api("POST", "/auth/resend-verification", { email });
    out.replaceChildren(el("p", {}, r.message));
    if (!r.ok && r.retryAfter) out.append(el("p", {}, t("app.try_again_in_seconds", { n: r.retryAfter }, r.retryAfter)));
  });
  out.append(b);
  return out;
}

// resendCard asks for an email address and sends a new verification link.
function resendCard() {
  const f = form({
    id: "resend",
    submit: t("app.send_a_new_link"),
    fields: [{ name: "email", label: t("app.email_address"), type: "email", autocomplete: "email", required: true, value: state.email }],
    onSubmit: async (vals) => {
      const r = await api("POST", "/auth/resend-verification", vals);
      // The answer is the same for every address, so the form stays.
      if (r.ok) succeed(f, r.message);
      return r;
    },
  });
  return el("section", { class: "card narrow", "aria-labelledby": "resend-h" },
    el("h2", { id: "resend-h" }, t("app.get_a_new_verification_link")),
    el("p", {}, t("app.enter_the_email_address_you_registered")), f);
}

function register(v) {
  v.heading(t("app.create_an_account"), t("app.save_addresses_at_site", { site }));
  const f = form({
    id: "register",
    submit: t("app.create_account"),
    cls: "grid",
    fields: [
      { name: "first_name", label: t("app.first_name"), autocomplete: "given-name", required: true },
      { name: "last_name", label: t("app.last_name"), autocomplete: "family-name", required: true },
      { name: "email", label: t("app.email_address"), type: "email", autocomplete: "email", required: true, wide: true },
      { name: "password", label: t("app.password"), type: "password", autocomplete: "new-password", required: true, wide: true,
        hint: t("app.at_least_8_characters_a_few") },
      { name: "phone", label: t("app.phone"), type: "tel", autocomplete: "tel", optional: true, hint: t("app.with_the_country_code_e_g") },
      { name: "company_name", label: t("app.company"), autocomplete: "organization", optional: true },
    ],
    onSubmit: async (vals) => {
      const r = await api("POST", "/auth/register", { ...vals, language: lang });
      if (!r.ok) return r;
      state.email = vals.email.trim();
      v.root.replaceChildren();
      v.heading(t("app.check_your_inbox"));
      v.root.append(notice("ok", r.message),
        el("p", {}, t("app.we_sent_the_link_to"), el("strong", {}, state.email), t("app.open_it_to_activate")),
        el("p", {}, t("app.no_mail_after_a_few_minutes")),
        resendButton(state.email),
        devMail ? el("p", { class: "dev" }, t("app.development"), link("/dev/mail", t("app.open_the_captured_mail"))) : "");
    },
  });
  v.root.append(card(f, providerButtons("")), el("p", { class: "links" }, t("app.already_have_an_account"), link("/login", t("app.log_in"))));
}

// tokenPost posts a link's token and hands the answer to onOk or onFail;
// rate limits, a busy server and network trouble offer another try.
async function tokenPost(v, path, body, onOk, onFail) {
  const area = el("div", { class: "token-result" });
  v.root.append(area);
  const attempt = async () => {
    area.replaceChildren(el("p", { class: "muted" }, t("app.checking_your_link")));
    const r = await api("POST", path, body);
    if (r.ok) return onOk(r, area);
    if (r.status === 429 || r.status === 0 || r.status >= 500) {
      const again = button(t("app.try_again"), attempt, "btn");
      area.replaceChildren(notice("error", r.message), actions(again));
      if (r.retryAfter) wait(again, r.retryAfter);
      return;
    }
    onFail(r, area);
  };
  await attempt();
}

const noToken = t("app.this_link_is_incomplete_please_open");

async function verifyEmail(v) {
  v.heading(t("app.verify_your_email_address"));
  if (!v.token) {
    v.root.append(notice("error", noToken), resendCard());
    return;
  }
  await tokenPost(v, "/auth/verify-email", { token: v.token }, (r, area) => {
    state.email = r.data?.email || state.email;
    // The address was registered more than once before it was verified:
    // no password chosen then is trusted, so the owner chooses one now.
    if (r.data?.password_required && r.data?.set_password_token) {
      area.replaceChildren(notice("ok", r.message), passwordForm(r.data.set_password_token, t("app.choose_your_password")));
      return;
    }
    area.replaceChildren(notice("ok", r.message),
      actions(state.user ? link("/account", t("app.go_to_your_account"), "btn") : link("/login", t("app.log_in"), "btn")));
  }, (r, area) => {
    area.replaceChildren(notice("error", r.message), resendCard());
  });
}

function forgotPassword(v) {
  v.heading(t("app.forgot_your_password"), t("app.enter_the_email_address_of_your"));
  const f = form({
    id: "forgot",
    submit: t("app.send_link"),
    fields: [{ name: "email", label: t("app.email_address"), type: "email", autocomplete: "email", required: true, value: state.email }],
    onSubmit: async (vals) => {
      const r = await api("POST", "/auth/password-reset/request", vals);
      if (!r.ok) return r;
      f.closest("section").replaceWith(card(notice("ok", r.message),
        el("p", {}, t("app.the_link_is_valid_for_a")),
        actions(link("/login", t("app.back_to_log_in"), "btn secondary"))));
    },
  });
  v.root.append(card(f), el("p", { class: "links" }, link("/login", t("app.back_to_log_in"))));
}

function resetPassword(v) {
  v.heading(t("app.choose_a_new_password"));
  if (!v.token) {
    v.root.append(notice("error", noToken), actions(link("/forgot-password", t("app.ask_for_a_new_link"))));
    return;
  }
  v.root.append(passwordForm(v.token, t("app.save_new_password")));
}

// passwordForm sets a password with a reset token: the reset link's, or
// the one a verification hands over when it could trust no password.
function passwordForm(token, submit) {
  const again = () => link("/forgot-password", t("app.ask_for_a_new_link"));
  const f = form({
    id: "reset",
    submit,
    fields: [{ name: "password", label: t("app.new_password"), type: "password", autocomplete: "new-password", required: true,
      hint: t("app.at_least_8_characters_use_one") }],
    onSubmit: async (vals) => {
      const r = await api("POST", "/auth/password-reset/confirm", { token, password: vals.password });
      if (r.code === "invalid_token") r.extra = el("p", {}, again());
      if (!r.ok) return r;
      state.user = null;
      renderNav(location.pathname);
      f.closest("section").replaceWith(card(notice("ok", r.message),
        el("p", {}, t("app.for_your_safety_you_have_been")),
        actions(link("/login", t("app.log_in"), "btn"))));
    },
  });
  return card(f);
}

async function confirmEmailChange(v) {
  v.heading(t("app.confirm_your_new_email_address"));
  const toSecurity = () => el("p", {}, t("app.you_can_ask_for_a_new"), link("/account/security#email", t("app.security_page")), t("app.of_your_account"));
  if (!v.token) {
    v.root.append(notice("error", noToken), toSecurity());
    return;
  }
  await tokenPost(v, "/auth/email-change/confirm", { token: v.token }, (r, area) => {
    const email = r.data?.email || "";
    if (state.user && state.user.id === r.data?.id) v.setUser(r.data);
    else state.email = email;
    area.replaceChildren(notice("ok", r.message, " ", t("app.from_now_on_log_in_with", { email })),
      actions(state.user ? link("/account", t("app.go_to_your_account"), "btn") : link("/login", t("app.log_in"), "btn")));
  }, (r, area) => {
    area.replaceChildren(notice("error", r.message), toSecurity());
  });
}

// undo answers the "This wasn't me" link of a security notice. Opening the
// link spends nothing (mail scanners follow links): only the button does.
function undo(v) {
  v.heading(t("app.secure_your_account"), t("app.you_opened_the_this_wasn_t"));
  const reset = () => link("/forgot-password", t("app.choose_a_new_password"), "btn");
  if (!v.token) {
    v.root.append(notice("error", noToken), actions(reset()));
    return;
  }
  const token = v.token;
  const box = card(
    el("p", {}, t("app.if_someone_else_changed_your_account")),
    el("p", {}, t("app.nothing_happens_until_you_press_the")),
    actions(button(t("app.sign_out_everywhere_and_lock_my"), async () => {
      v.root.querySelector("h1").focus(); // the button goes away
      box.remove();
      await tokenPost(v, "/auth/security/undo", { token }, (r, area) => {
        state.user = null;
        renderNav(v.path);
        // A locked account (after an email change) waits for the shop: a
        // reset link would not be sent.
        if (r.data?.frozen) return area.replaceChildren(notice("ok", r.message));
        area.replaceChildren(notice("ok", r.message),
          el("p", {}, t("app.choose_a_new_password_now_we")), actions(reset()));
      }, (r, area) => {
        area.replaceChildren(notice("error", r.message), el("p", {}, t("app.you_can_still_choose_a_new")), actions(reset()));
      });
    }, "btn danger")));
  v.root.append(box);
}

function notAllowed(v) {
  v.heading(t("app.not_allowed"));
  v.root.append(el("p", {}, t("app.this_page_is_for_the_shop")),
    actions(link("/account", t("app.go_to_your_account"), "btn secondary")));
}

function notFound(v) {
  v.heading(t("app.page_not_found"));
  v.root.append(el("p", {}, t("app.there_is_nothing_at_this_address")), actions(link("/", t("app.go_to_the_start_page"), "btn secondary")));
}

// --- start ---

document.addEventListener("click", (ev) => {
  const a = ev.target.closest?.("a[href]");
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  if (a.target || a.hasAttribute("download")) return;
  const u = new URL(a.href, location.href);
  if (u.origin !== location.origin) return;
  if (u.pathname === location.pathname && u.search === location.search && u.hash) return; // in-page link
  if (!routes[normalize(u.pathname)]) return;
  ev.preventDefault();
  go(u.pathname + u.search + u.hash);
});
window.addEventListener("popstate", () => render());

if (routes[normalize(location.pathname)]?.token) pendingToken = takeToken();
const me = await api("GET", "/auth/profile");
state.user = me.ok ? me.data : null;
if (!pendingToken) followAccount(state.user); // the account's language wins over this browser's (a token page keeps its token)
if (!me.ok && me.status !== 401) state.flash = t("app.could_not_check_login", { message: me.message });
render();
