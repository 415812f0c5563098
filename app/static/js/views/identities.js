// "Sign-in methods" on the home page: the identity providers linked to the account, linking one
// (a full navigation to the provider, started from this signed-in session) and unlinking.

import { describeError } from "../api.js";
import { h, replaceChildren, toast } from "../dom.js";
import { loadProviders } from "./auth.js";

export function identitiesSection(app) {
  const list = h("ul", { class: "identities" });
  const section = h("section", { class: "identities-card", aria: { labelledby: "identities-title" }, hidden: true }, h("h2", { id: "identities-title", text: "Sign-in methods" }), list);

  async function render() {
    const found = await loadProviders();
    if (!found.providers.length) return;
    let mine;
    try {
      mine = await app.api.get("/api/v1/users/me/identities");
    } catch {
      return; // the home page works without it
    }
    const items = [h("li", { text: mine.has_password ? "Password: set" : "Password: none yet (you sign in with a provider)" })];
    for (const provider of found.providers) {
      const linked = mine.identities.filter((identity) => identity.provider === provider.key);
      for (const identity of linked) {
        const unlink = h("button", { type: "button", class: "link", text: `Unlink ${provider.name}` });
        unlink.addEventListener("click", async () => {
          try {
            await app.api.delete(`/api/v1/users/me/identities/${identity.id}`);
            toast(`${provider.name} is no longer linked.`, "info");
            render();
          } catch (error) {
            toast(describeError(error));
          }
        });
        items.push(h("li", {}, `${provider.name}: linked${identity.email ? ` (${identity.email})` : ""} `, unlink));
      }
      if (!linked.length) {
        const link = h("button", { type: "button", class: "secondary", text: `Link ${provider.name}` });
        link.addEventListener("click", () => startLink(app, provider, link));
        items.push(h("li", {}, link));
      }
    }
    replaceChildren(list, ...items);
    section.hidden = false;
  }

  render();
  return section;
}

async function startLink(app, provider, button) {
  button.disabled = true;
  try {
    const token = await app.session.accessToken();
    // same-origin credentials: the response sets the flow's cookie, which the callback needs
    const response = await fetch(`/api/v1/auth/oidc/${provider.key}/link`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json", Authorization: `Bearer ${token}` },
      body: JSON.stringify({ return_to: location.pathname }),
      credentials: "same-origin",
      cache: "no-store",
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.detail || "Linking failed.");
    location.assign(body.authorization_url);
  } catch (error) {
    toast(describeError(error));
    button.disabled = false;
  }
}
