// The signed-in pages: the account (profile, addresses at a glance, account
// deletion), the address book, and security (password, email, sign-in
// methods, sessions, security activity, data export).
// Every view calls v.signedOut() on a 401, which sends the visitor to log in
// and back.
import { el, api, form, notice, button, link, when, countryName, succeed, device, eventLabel, save, t, placeLines, phoneText } from "./lib.js";
import { linkedProvidersCard } from "./providers.js";

const MAX_ADDRESSES = 10;

const fact = (label, ...value) => [el("dt", {}, label), el("dd", {}, value)];
const section = (id, title, ...children) =>
  el("section", { class: "card", "aria-labelledby": id }, el("h2", { id, tabindex: "-1" }, title), children);

// --- account ---

export async function accountView(v) {
  v.heading(t("account.your_account"));
  const [p, a] = await Promise.all([api("GET", "/auth/profile"), api("GET", "/auth/addresses")]);
  if (p.status === 401 || a.status === 401) return v.signedOut();
  if (!p.ok) {
    v.root.append(notice("error", p.message));
    return;
  }
  v.setUser(p.data);
  v.root.append(
    el("p", { class: "lead" }, p.data.first_name ? t("account.hello_name", { name: p.data.first_name }) : t("account.hello")),
    el("div", { class: "cols" }, profileCard(v, p.data), addressSummary(a)),
    deleteCard(v),
  );
}

function profileCard(v, user) {
  const body = el("div");
  const live = el("p", { class: "done", role: "status" });
  const sec = el("section", { class: "card", "aria-labelledby": "profile" }, body, live);
  const show = () => {
    const edit = button(t("account.edit_profile"), () => editing(), "btn secondary");
    edit.id = "edit-profile";
    body.replaceChildren(
      el("h2", { id: "profile", tabindex: "-1" }, t("account.profile")),
      el("dl", { class: "facts" },
        fact(t("account.name"), `${user.first_name} ${user.last_name}`),
        fact(t("account.email"), user.email, " ", link("/account/security#email", t("account.change"))),
        fact(t("app.phone"), phoneText(user.phone) || t("account.not_given")),
        fact(t("app.company"), user.company_name || t("account.not_given")),
        fact(t("account.customer_since"), when(user.date_joined, true))),
      el("div", { class: "actions" }, edit));
    return edit;
  };
  const editing = () => {
    live.textContent = "";
    const f = form({
      id: "profile-form",
      submit: t("account.save_profile"),
      cls: "grid",
      fields: [
        { name: "first_name", label: t("app.first_name"), autocomplete: "given-name", required: true, value: user.first_name },
        { name: "last_name", label: t("app.last_name"), autocomplete: "family-name", required: true, value: user.last_name },
        { name: "phone", label: t("app.phone"), type: "tel", autocomplete: "tel", optional: true, value: user.phone, hint: t("app.with_the_country_code_e_g") },
        { name: "company_name", label: t("app.company"), autocomplete: "organization", optional: true, value: user.company_name },
      ],
      onSubmit: async (vals) => {
        const r = await api("PATCH", "/auth/profile", vals);
        if (r.status === 401) return v.signedOut();
        if (!r.ok) return r;
        user = r.data;
        v.setUser(user);
        show().focus();
        live.textContent = r.message;
      },
    });
    f.querySelector(".actions").append(button(t("account.cancel"), () => show().focus()));
    body.replaceChildren(el("h2", { id: "profile", tabindex: "-1" }, t("account.edit_profile")), f);
    f.querySelector("input").focus();
  };
  show();
  return sec;
}

function addressSummary(r) {
  const list = r.ok ? r.data || [] : null;
  const primary = list?.find((a) => a.is_primary);
  return section("addresses-h", t("app.addresses"),
    !list ? notice("error", r.message)
      : !primary ? el("p", {}, t("account.you_have_no_saved_addresses_yet"))
        : [el("p", { class: "muted" }, t("account.primary_address")),
          el("address", {}, el("strong", { class: "line" }, primary.label), addressLines(primary).map((l) => el("span", { class: "line" }, l))),
          el("p", { class: "muted" }, t("account.saved_addresses", { n: list.length }, list.length))],
    el("div", { class: "actions" }, link("/account/addresses", list?.length ? t("account.manage_addresses") : t("account.add_an_address"), "btn secondary")));
}

function deleteCard(v) {
  const f = form({
    id: "delete-account",
    submit: t("account.delete_my_account"),
    username: v.user?.email,
    danger: true,
    fields: [{ name: "password", label: t("account.your_password"), type: "password", autocomplete: "current-password", required: true,
      hint: t("account.to_confirm_that_it_is_you") }],
    onSubmit: async (vals) => {
      const r = await api("DELETE", "/auth/account", vals);
      if (r.status === 401) return v.signedOut();
      if (!r.ok) return r;
      v.setUser(null);
      v.flash(r.message);
      v.go("/", { replace: true });
    },
  });
  f.hidden = true;
  const reveal = el("button", {
    type: "button", class: "btn secondary danger-text", id: "delete-reveal", "aria-expanded": "false", "aria-controls": "delete-account",
    onclick: () => {
      f.hidden = !f.hidden;
      reveal.setAttribute("aria-expanded", String(!f.hidden));
      if (!f.hidden) f.querySelector('input[type="password"]').focus();
    },
  }, t("account.delete_my_account2"));
  return el("section", { class: "card danger-zone", "aria-labelledby": "delete" },
    el("h2", { id: "delete", tabindex: "-1" }, t("account.delete_account")),
    el("p", {}, t("account.this_deletes_your_account_for_good")),
    reveal, f);
}

// --- addresses ---

export function addressLines(a) {
  return [
    `${a.first_name} ${a.last_name}`, a.company, a.street_address, a.street_address_2,
    ...placeLines(a), countryName(a.country), phoneText(a.phone),
  ].filter((s) => s && s.trim());
}

const COUNTRIES = ("AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ " +
  "CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR " +
  "GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP " +
  "KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ " +
  "NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW " +
  "SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ " +
  "UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW").split(" ");
let countryOptions;

function countries() {
  countryOptions ??= [["", t("account.choose_a_country")],
    ...COUNTRIES.map((c) => [c, countryName(c)]).sort((a, b) => a[1].localeCompare(b[1]))];
  return countryOptions;
}

export async function addressesView(v) {
  v.heading(t("app.addresses"), t("account.your_primary_address_is_the_one"));
  const live = el("p", { class: "done", role: "status" });
  const toolbar = el("div", { class: "toolbar" });
  const panel = el("div");
  const listEl = el("ul", { class: "addresses", role: "list" });
  v.root.append(live, toolbar, panel, listEl);
  let list = [];

  const load = async () => {
    const r = await api("GET", "/auth/addresses");
    if (r.status === 401) return v.signedOut();
    if (!r.ok) {
      listEl.replaceChildren(el("li", {}, notice("error", r.message)));
      return;
    }
    list = r.data || [];
    draw();
  };

  const focus = (id) => document.getElementById(id)?.focus();

  const draw = () => {
    const full = list.length >= MAX_ADDRESSES;
    const add = el("button", {
      type: "button", class: "btn", id: "add-address",
      "aria-disabled": full ? "true" : null, "aria-describedby": full ? "limit-note" : null,
      onclick: () => { if (!full) openForm(null); },
    }, t("account.add_an_address"));
    toolbar.replaceChildren(
      el("p", { class: "count" }, t("account.n_of_max_addresses", { n: list.length, max: MAX_ADDRESSES })), add,
      full ? el("p", { class: "notice info", id: "limit-note" },
        t("account.address_limit_reached", { max: MAX_ADDRESSES })) : "");
    listEl.replaceChildren(...list.map(card));
    if (!list.length) listEl.append(el("li", { class: "empty" }, t("account.you_have_no_saved_addresses_yet")));
  };

  const card = (a) => {
    const hid = "addr-" + a.id;
    const acts = el("div", { class: "actions" },
      el("button", { type: "button", class: "btn secondary small", "aria-describedby": hid, onclick: () => openForm(a) }, t("account.edit")),
      a.is_primary ? null : el("button", { type: "button", class: "btn secondary small", "aria-describedby": hid, onclick: () => makePrimary(a) }, t("account.make_primary")),
      el("button", { type: "button", class: "btn secondary small danger-text", "aria-describedby": hid, onclick: () => confirmDelete(a, acts) }, t("account.delete")));
    return el("li", { class: "card address" + (a.is_primary ? " primary" : ""), "data-label": a.label },
      el("h2", { id: hid, tabindex: "-1" }, el("span", { class: "label" }, a.label), a.is_primary ? el("span", { class: "badge" }, t("account.primary")) : null),
      el("address", {}, addressLines(a).map((l) => el("span", { class: "line" }, l))),
      acts);
  };

  const makePrimary = async (a) => {
    const r = await api("PATCH", `/auth/addresses/${encodeURIComponent(a.id)}/set-primary`);
    if (r.status === 401) return v.signedOut();
    live.textContent = r.ok ? t("account.now_primary", { label: a.label }) : r.message;
    await load();
    focus("addr-" + a.id);
  };

  const confirmDelete = (a, acts) => {
    const msg = el("p", {}, t("account.confirm_delete_address", { label: a.label }));
    const yes = button(t("account.delete_address"), async () => {
      const r = await api("DELETE", `/auth/addresses/${encodeURIComponent(a.id)}`);
      if (r.status === 401) return v.signedOut();
      if (!r.ok) {
        msg.textContent = r.message;
        return;
      }
      live.textContent = t("account.address_deleted", { label: a.label });
      await load();
      focus("add-address");
    }, "btn danger");
    const box = el("div", { class: "confirm", role: "group", "aria-label": t("account.confirm_deletion") }, msg,
      el("div", { class: "actions" }, yes, button(t("account.cancel"), () => {
        box.replaceWith(acts);
        acts.querySelector("button").focus();
      })));
    acts.replaceWith(box);
    yes.focus();
  };

  const close = () => panel.replaceChildren();

  const openForm = (a) => {
    live.textContent = "";
    const me = v.user || {};
    const val = (k, d = "") => (a ? a[k] : d) ?? "";
    const fields = [
      { name: "label", label: t("account.label"), required: true, wide: true, autocomplete: "off", value: val("label"), hint: t("account.a_name_for_this_address_such") },
      { name: "first_name", label: t("app.first_name"), autocomplete: "given-name", required: true, value: val("first_name", me.first_name) },
      { name: "last_name", label: t("app.last_name"), autocomplete: "family-name", required: true, value: val("last_name", me.last_name) },
      { name: "company", label: t("app.company"), autocomplete: "organization", optional: true, wide: true, value: val("company") },
      { name: "street_address", label: t("account.street_and_house_number"), autocomplete: "address-line1", required: true, wide: true, value: val("street_address") },
      { name: "street_address_2", label: t("account.address_line_2"), autocomplete: "address-line2", optional: true, wide: true, value: val("street_address_2") },
      { name: "postal_code", label: t("account.postal_code"), autocomplete: "postal-code", required: true, value: val("postal_code") },
      { name: "city", label: t("account.city"), autocomplete: "address-level2", required: true, value: val("city") },
      { name: "region", label: t("account.state_or_region"), autocomplete: "address-level1", optional: true, value: val("region") },
      { name: "country", label: t("account.country"), autocomplete: "country", required: true, options: countries(), value: val("country", list[0]?.country || "") },
      { name: "phone", label: t("app.phone"), type: "tel", autocomplete: "tel", optional: true, wide: true, value: val("phone"), hint: t("account.for_the_delivery_service_with_the") },
    ];
    if (list.length && !a?.is_primary) fields.push({ name: "is_primary", type: "checkbox", label: t("account.use_as_my_primary_address"), wide: true });
    const f = form({
      id: "address-form",
      submit: t("account.save_address"),
      cls: "grid",
      fields,
      extra: list.length ? null : el("p", { class: "hint" }, t("account.your_first_address_becomes_your_primary")),
      onSubmit: async (vals) => {
        const r = a
          ? await api("PUT", `/auth/addresses/${encodeURIComponent(a.id)}`, vals)
          : await api("POST", "/auth/addresses", vals);
        if (r.status === 401) return v.signedOut();
        if (!r.ok) return r;
        close();
        live.textContent = `${r.message} (“${r.data.label}”)`;
        await load();
        focus("addr-" + r.data.id);
      },
    });
    f.querySelector(".actions").append(button(t("account.cancel"), () => {
      close();
      focus(a ? "addr-" + a.id : "add-address");
    }));
    panel.replaceChildren(el("section", { class: "card", "aria-labelledby": "address-form-h" },
      el("h2", { id: "address-form-h" }, a ? t("account.edit_label", { label: a.label }) : t("account.add_an_address")), f));
    f.querySelector("input").focus();
  };

  await load();
}

// --- security ---

export async function securityView(v) {
  v.heading(t("app.security"), t("account.your_password_your_email_address_the"));
  const p = await api("GET", "/auth/profile");
  if (p.status === 401) return v.signedOut();
  if (!p.ok) {
    v.root.append(notice("error", p.message));
    return;
  }
  v.setUser(p.data);
  // One answer holds the sessions and the activity, so they always agree.
  const reload = async () => {
    const r = await api("GET", "/auth/security/activity");
    if (r.status === 401) return v.signedOut();
    sessions.show(r);
    activity.show(r);
  };
  const sessions = sessionsCard(v, reload);
  const activity = activityCard();
  const methods = signInMethodsCard(v, p.data, reload);
  v.root.append(el("div", { class: "cols" }, passwordCard(v, reload), emailCard(v, p.data)),
    methods.node,
    el("div", { class: "cols" }, el("div", {}, sessions.node, exportCard(v)), activity.node),
    linkedProvidersCard(v, v.query));
  await Promise.all([reload(), methods.load()]);
}

// --- sign-in methods (mfa.go): each change asks for the password ---

function signInMethodsCard(v, user, reload) {
  const body = el("div");
  const node = section("sign-in-methods", t("account.mfa.title"),
    el("p", { class: "muted" }, t("account.mfa.intro")), body);
  const call = async (m, path, vals, then) => {
    const r = await api(m, path, vals);
    if (r.status === 401) return v.signedOut();
    if (!r.ok) return r;
    await then(r);
  };
  const pw = { name: "password", label: t("account.mfa.your_password"), type: "password", autocomplete: "current-password", required: true };
  const code = (label) => ({ name: "code", label, autocomplete: "one-time-code", required: true });
  const load = async (msg) => {
    const r = await api("GET", "/auth/mfa");
    if (r.status === 401) return v.signedOut();
    body.replaceChildren(!r.ok ? notice("error", r.message) : r.data.totp ? enrolled(r.data) : setup(), r.ok ? passkeys(r.data.passkeys) : null);
    if (msg) body.prepend(notice("ok", msg));
  };
  const passkeys = (list) => {
    const pick = { name: "id", label: t("account.mfa.passkey"), options: list.map((p) => [p.id, p.name]) };
    const add = button(t("account.mfa.add_passkey"), async () => {
      const b = await api("POST", "/auth/passkeys/register/begin", {});
      let r = b;
      if (b.ok) {
        try {
          const c = await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(b.data) });
          r = await api("POST", "/auth/passkeys/register/finish", { ...c.toJSON(), name: device(navigator.userAgent) });
        } catch (e) { r = { message: e.message }; }
      }
      r.ok ? load(r.message) : add.after(notice("error", r.message));
    });
    add.id = "passkey-add";
    return el("div", { id: "passkeys" }, el("h3", {}, t("account.mfa.passkeys")),
      el("ul", {}, list.map((p) => el("li", {}, el("strong", {}, p.name), " " + (p.last_used_at ? t("account.mfa.passkey_used", { added: when(p.created_at), used: when(p.last_used_at) }) : t("account.mfa.passkey_unused", { added: when(p.created_at) }))))),
      el("div", { class: "actions" }, add),
      list.length ? el("div", { class: "cols" },
        form({ id: "passkey-rename-form", submit: t("account.mfa.rename"), fields: [pick, { name: "name", label: t("account.mfa.new_name"), required: true }],
          onSubmit: (vals) => call("PATCH", `/auth/passkeys/${vals.id}`, { name: vals.name }, (r) => load(r.message)) }),
        form({ id: "passkey-remove-form", submit: t("account.mfa.remove"), danger: true, username: user.email, fields: [pick, pw],
          onSubmit: (vals) => call("DELETE", `/auth/passkeys/${vals.id}`, { password: vals.password }, async (r) => { await load(r.message); await reload(); }) })) : null);
  };
  const codes = (r) => body.replaceChildren(notice("ok", r.message),
    el("ol", { class: "codes", id: "recovery-codes" }, r.data.recovery_codes.map((c) => el("li", {}, el("code", {}, c)))),
    el("div", { class: "actions" }, button(t("account.mfa.saved_them"), () => load(), "btn")));
  const setup = () => form({
    id: "totp-setup-form", submit: t("account.mfa.set_up_app"), username: user.email, fields: [pw],
    onSubmit: (vals) => call("POST", "/auth/mfa/totp/setup", vals, (r) => body.replaceChildren(
      el("p", {}, t("account.mfa.scan")),
      el("div", { class: "qr", id: "totp-qr" }, svgOf(r.data.qr_svg)),
      el("p", {}, t("account.mfa.key") + " ", el("code", { id: "totp-secret" }, r.data.secret)),
      form({
        id: "totp-confirm-form", submit: t("account.mfa.confirm"), fields: [code(t("account.mfa.six_digit"))],
        onSubmit: (c) => call("POST", "/auth/mfa/totp/confirm", c, async (r) => { codes(r); await reload(); }),
      }))),
  });
  const enrolled = (st) => el("div", {},
    el("p", {}, el("strong", {}, t("account.mfa.app_on")), " " + t("account.mfa.app_since", { when: when(st.totp_enabled_at), left: st.recovery_codes_left })),
    el("div", { class: "cols" },
      form({ id: "recovery-form", submit: t("account.mfa.new_codes"), username: user.email, fields: [pw],
        onSubmit: (vals) => call("POST", "/auth/mfa/recovery-codes", vals, async (r) => { codes(r); await reload(); }) }),
      form({ id: "totp-remove-form", submit: t("account.mfa.remove_app"), danger: true, username: user.email,
        fields: [pw, code(t("account.mfa.code_or_recovery"))],
        onSubmit: (vals) => call("DELETE", "/auth/mfa/totp", vals, async (r) => { await load(r.message); await reload(); }) })));
  return { node, load };
}

// svgOf parses the server's QR code SVG into a node.
function svgOf(text) {
  const svg = new DOMParser().parseFromString(text, "image/svg+xml").documentElement;
  return svg.nodeName === "svg" ? document.importNode(svg, true) : el("p", {}, t("account.mfa.type_key"));
}

function passwordCard(v, reload) {
  const f = form({
    id: "password-form",
    submit: t("account.change_password"),
    username: v.user?.email,
    fields: [
      { name: "current_password", label: t("account.current_password"), type: "password", autocomplete: "current-password", required: true },
      { name: "new_password", label: t("app.new_password"), type: "password", autocomplete: "new-password", required: true,
        hint: t("account.at_least_8_characters_changing_it") },
    ],
    onSubmit: async (vals) => {
      const r = await api("POST", "/auth/password/change", vals);
      if (r.status === 401) return v.signedOut();
      if (!r.ok) return r;
      f.reset();
      succeed(f, r.message);
      await reload();
    },
  });
  return section("password", t("app.password"), f);
}

function emailCard(v, user) {
  const current = el("strong", {}, user.email);
  const f = form({
    id: "email-form",
    submit: t("account.send_confirmation_link"),
    username: user.email,
    fields: [
      { name: "new_email", label: t("account.new_email_address"), type: "email", autocomplete: "email", required: true },
      { name: "password", label: t("account.your_password"), type: "password", autocomplete: "current-password", required: true, hint: t("account.to_confirm_that_it_is_you2") },
    ],
    onSubmit: async (vals) => {
      const r = await api("POST", "/auth/email-change/request", vals);
      if (r.status === 401) return v.signedOut();
      if (!r.ok) return r;
      f.reset();
      succeed(f, r.message + " " + t("account.email_change_sent", { to: vals.new_email.trim(), email: user.email }));
    },
  });
  return section("email", t("app.email_address"),
    el("p", {}, t("account.you_log_in_with"), current, t("account.to_change_it")), f);
}

function sessionsCard(v, reload) {
  const body = el("div");
  const live = el("p", { class: "done", role: "status" });
  const node = section("sessions", t("account.where_you_are_logged_in"),
    el("p", { class: "muted" }, t("account.if_you_see_a_device_you")), body, live);

  const revoke = async (list) => {
    let ended = 0;
    for (const s of list) {
      const r = await api("DELETE", `/auth/sessions/${encodeURIComponent(s.id)}`);
      if (r.status === 401) return v.signedOut();
      if (r.ok || r.status === 404) ended++;
      else live.textContent = r.message;
    }
    if (ended) live.textContent = ended === 1 ? t("account.the_session_is_ended") : t("account.sessions_ended", { n: ended }, ended);
    await reload();
    document.getElementById("sessions")?.focus();
  };

  const show = (r) => {
    if (!r.ok) {
      body.replaceChildren(notice("error", r.message));
      return;
    }
    const list = r.data.sessions || [];
    const others = list.filter((s) => !s.current);
    body.replaceChildren(
      el("ul", { class: "sessions", role: "list" }, list.map((s) => el("li", { class: "session" + (s.current ? " current" : "") },
        el("h3", { id: "session-" + s.id }, device(s.user_agent), s.current ? el("span", { class: "badge" }, t("account.this_device")) : null,
          s.kind === "token" ? el("span", { class: "badge" }, t("account.app")) : null),
        el("p", { class: "muted" }, t("account.session_meta", { ip: s.ip || t("account.unknown"), created: when(s.created_at), seen: when(s.last_seen_at) })),
        s.current ? null : el("button", { type: "button", class: "btn secondary small", "aria-describedby": "session-" + s.id, onclick: () => revoke([s]) }, t("account.end_session"))))),
      others.length
        ? el("div", { class: "actions" }, button(others.length === 1 ? t("account.end_the_other_session") : t("account.end_all_other_sessions", { n: others.length }), () => revoke(others)))
        : el("p", { class: "muted" }, t("account.you_are_not_logged_in_anywhere")));
  };
  return { node, show };
}

// activityCard lists the account's last 50 security events, newest first.
function activityCard() {
  const body = el("div");
  const node = section("activity", t("account.security_activity"),
    el("p", { class: "muted" }, t("account.the_last_50_events_on_your")), body);
  const show = (r) => {
    if (!r.ok) return body.replaceChildren(notice("error", r.message));
    const list = r.data.events || [];
    body.replaceChildren(list.length
      ? el("ol", { class: "activity", role: "list" }, list.map((e) => el("li", {},
        el("strong", {}, eventLabel(e.event)), " ", el("time", { datetime: e.at }, when(e.at)),
        el("span", { class: "meta" }, t("account.event_meta", { ip: e.ip || t("account.unknown"), device: device(e.user_agent) })))))
      : el("p", {}, t("account.nothing_yet")));
  };
  return { node, show };
}

// exportCard saves everything stored about the account as a JSON file.
function exportCard(v) {
  const live = el("p", { class: "done", role: "status" });
  const out = el("div");
  const b = button(t("account.download_my_data"), async () => {
    if (b.getAttribute("aria-disabled") === "true") return;
    b.setAttribute("aria-disabled", "true");
    live.textContent = "";
    out.replaceChildren();
    const r = await api("GET", "/auth/export");
    b.removeAttribute("aria-disabled");
    if (r.status === 401) return v.signedOut();
    if (!r.ok) return out.replaceChildren(notice("error", r.message));
    const name = /filename="([^"]+)"/.exec(r.headers.get("Content-Disposition") || "")?.[1] || "account-export.json";
    save(new Blob([JSON.stringify(r.data, null, 2) + "\n"], { type: "application/json" }), name);
    live.textContent = t("account.data_saved_as", { name });
  });
  b.id = "export";
  return section("export-h", t("account.your_data"),
    el("p", {}, t("account.everything_we_store_about_your_account")),
    el("div", { class: "actions" }, b), out, live);
}
