// The link pages post their token to the API, so that a mail scanner
// following a link spends nothing. The full account UI builds on this.
const view = document.getElementById("view");
const status = document.getElementById("status");
const title = document.getElementById("title");
const token = new URLSearchParams(location.search).get("token") || "";

async function api(method, path, body) {
  const res = await fetch("/api/v1" + path, {
    method,
    headers: body ? { "Content-Type": "application/json" } : {},
    body: body ? JSON.stringify(body) : undefined,
    credentials: "same-origin",
  });
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  return { ok: res.ok, status: res.status, data, retryAfter: res.headers.get("Retry-After") };
}

function say(text, cls) {
  status.textContent = text;
  status.className = cls || "";
}

function failure(r) {
  if (!r.data) return "The server did not answer. Please try again.";
  let text = r.data.message || "Something went wrong.";
  if (r.status === 429 && r.retryAfter) text += ` (try again in ${r.retryAfter} s)`;
  for (const [field, msgs] of Object.entries(r.data.errors || {})) text += ` ${field}: ${msgs.join(" ")}`;
  return text;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

async function postToken(path, heading) {
  title.textContent = heading;
  view.textContent = "";
  if (!token) { say("This link has no token. Please use the link from the mail.", "error"); return; }
  say("Working…");
  const r = await api("POST", path, { token });
  say(r.ok ? r.data.message : failure(r), r.ok ? "ok" : "error");
}

function resetForm() {
  title.textContent = "Choose a new password";
  const input = el("input", { id: "password", type: "password", autocomplete: "new-password", required: "" });
  const form = el("form", {}, el("label", { for: "password" }, "New password"), input, el("button", { type: "submit" }, "Set password"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const r = await api("POST", "/auth/password-reset/confirm", { token, password: input.value });
    say(r.ok ? r.data.message : failure(r), r.ok ? "ok" : "error");
    if (r.ok) form.remove();
  });
  view.replaceChildren(form);
}

switch (location.pathname.replace(/\/$/, "")) {
  case "/verify-email": postToken("/auth/verify-email", "Verify your email address"); break;
  case "/confirm-email-change": postToken("/auth/email-change/confirm", "Confirm your new email address"); break;
  case "/reset-password": resetForm(); break;
  default:
    view.replaceChildren(el("p", {}, "Your account pages are on their way. The API is at /api/v1."));
}
