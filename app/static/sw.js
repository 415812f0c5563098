// Huddle's service worker: shows Web Push notifications (the server sends them only when no tab has
// a realtime connection) and opens the chat at the message when one is clicked. Payloads:
// {group_id, seq, title, body, url, mentioned} (app/domain/notifications/push.py).

self.addEventListener("push", (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = {};
  }
  event.waitUntil(
    self.registration.showNotification(data.title || "Huddle", {
      body: data.body || "New message",
      tag: data.group_id ? `huddle-${data.group_id}-${data.seq}` : "huddle",
      icon: "/static/favicon.svg",
      data: { url: typeof data.url === "string" && data.url.startsWith("/") ? data.url : "/" },
    }),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const url = event.notification.data?.url || "/";
  event.waitUntil(
    (async () => {
      const tabs = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      const tab = tabs.find((client) => new URL(client.url).origin === self.location.origin);
      if (tab) {
        await tab.focus();
        tab.postMessage({ type: "open", url });
        return;
      }
      await self.clients.openWindow(url);
    })(),
  );
});
