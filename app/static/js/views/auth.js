// Sign in and sign up: one form each, labelled fields, errors said in words and linked to the form.

import { describeError } from "../api.js";
import { h } from "../dom.js";

function field(id, label, attrs) {
  return h("div", { class: "field" }, h("label", { for: id, text: label }), h("input", { id, name: id, required: true, ...attrs }));
}

export const SSO_PENDING_KEY = "huddle.sso.pending";
export const SSO_KEY = "huddle.sso";

/** The identity providers (OIDC_PROVIDERS), fetched once per page load. */
let providers = null;
export function loadProviders() {
  providers ??= fetch("/api/v1/auth/oidc/providers", { headers: { Accept: "application/json" }, credentials: "omit" })
    .then((response) => (response.ok ? response.json() : { providers: [], password_signup: true }))
    .catch(() => {
      providers = null; // offline: try again next time
      return { providers: [], password_signup: true };
    });
  return providers;
}

/** "Sign in with <name>" links: a full navigation to the provider, back to where the user was going. */
function providerButtons(app, box, switcher, signup) {
  loadProviders().then((found) => {
    const back = app.afterSignIn || "/";
    const links = found.providers.map((provider) => {
      const link = h("a", {
        class: "button secondary wide sso",
        href: `${provider.login_url}?return_to=${encodeURIComponent(back)}`,
        text: `Sign in with ${provider.name}`,
      });
      // Remembered for signing out of the provider too (main.js); kept once the sign-in completes.
      link.addEventListener("click", () => sessionStorage.setItem(SSO_PENDING_KEY, JSON.stringify({ key: provider.key, name: provider.name })));
      return link;
    });
    if (links.length) box.replaceChildren(h("p", { class: "or", text: "or" }), ...links);
    if (!found.password_signup) {
      if (signup) box.replaceChildren(h("p", { class: "notice", text: "Accounts here are created by signing in with your organisation's identity provider." }), ...links);
      switcher.hidden = true;
    }
  });
}

export function authView(app, mode, notice) {
  const signup = mode === "signup";
  const sso = h("div", { class: "sso-list" });
  const error = h("p", { class: "form-error", id: "auth-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "primary wide", text: signup ? "Create account" : "Sign in" });
  const form = h(
    "form",
    { class: "card auth", aria: { labelledby: "auth-title", describedby: "auth-error" }, novalidate: true },
    h("h1", { id: "auth-title", tabIndex: -1, text: signup ? "Create your Huddle account" : "Sign in to Huddle" }),
    notice ? h("p", { class: "notice", role: "status", text: notice }) : null,
    app.providerLogout
      ? h("p", { class: "notice" }, `You are still signed in at ${app.providerLogout.name}. `, h("a", { href: app.providerLogout.url, text: `Sign out of ${app.providerLogout.name} too` }))
      : null,
    signup ? field("name", "Name", { type: "text", autocomplete: "name", maxLength: 100 }) : null,
    field("email", "Email", { type: "email", autocomplete: "email", inputMode: "email" }),
    field("password", "Password", {
      type: "password",
      autocomplete: signup ? "new-password" : "current-password",
      minLength: signup ? 8 : undefined,
      aria: { describedby: signup ? "password-hint" : undefined },
    }),
    signup ? h("p", { class: "hint", id: "password-hint", text: "At least 8 characters." }) : null,
    error,
    submit,
    sso,
    h(
      "p",
      { class: "switch" },
      signup ? "Already have an account? " : "New here? ",
      h("a", { href: signup ? "/signin" : "/signup", data: { nav: "" }, text: signup ? "Sign in" : "Create an account" }),
    ),
  );

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const email = String(data.get("email") || "").trim();
    const password = String(data.get("password") || "");
    const name = String(data.get("name") || "").trim();
    const missing = [];
    if (signup && !name) missing.push(["name", "Enter your name."]);
    if (!email.includes("@")) missing.push(["email", "Enter your email address."]);
    if (signup ? password.length < 8 : !password) missing.push(["password", signup ? "Choose a password of at least 8 characters." : "Enter your password."]);
    for (const input of form.querySelectorAll("input")) input.removeAttribute("aria-invalid");
    if (missing.length) {
      error.textContent = missing.map(([, text]) => text).join(" ");
      for (const [id] of missing) form.querySelector(`#${id}`).setAttribute("aria-invalid", "true");
      form.querySelector(`#${missing[0][0]}`).focus();
      return;
    }
    error.textContent = "";
    submit.disabled = true;
    submit.textContent = signup ? "Creating account…" : "Signing in…";
    try {
      if (signup) await app.session.register(email, name, password);
      else await app.session.signIn(email, password);
      app.signedIn();
    } catch (failure) {
      error.textContent = describeError(failure);
      const first = form.querySelector(signup ? "#name" : "#email");
      if (failure?.status === 401) form.querySelector("#password").select();
      else first?.focus();
      submit.disabled = false;
      submit.textContent = signup ? "Create account" : "Sign in";
    }
  });

  providerButtons(app, sso, form.querySelector(".switch"), signup);
  const view = h("main", { id: "main", class: "auth-page", tabIndex: -1 }, h("div", { class: "brand-large", text: "Huddle" }), form);
  view.focusTarget = () => form.querySelector(signup ? "#name" : "#email");
  return view;
}
