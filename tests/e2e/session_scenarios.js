// Scenarios for the token Session (app/static/js/session.js), run in Chromium by test_spa.py
// against a routed /api/v1/auth/refresh that rotates tokens (and refuses after three refreshes).
async () => {
    const { Session } = await import("/static/js/session.js");
    sessionStorage.clear();
    const session = new Session();
    let ended = null;
    session.addEventListener("ended", (event) => { ended = event.detail.reason; });
    const user = { id: 1, email: "a@example.com", name: "A" };
    session.adopt({ access_token: "a0", refresh_token: "r0", expires_in: 1, refresh_expires_in: 60, user });
    const results = { storedFirst: sessionStorage.getItem("huddle.refresh") };
    // expires_in 1 s: the timer refreshes before expiry, again and again, each time with the newest token.
    await new Promise((resolve) => setTimeout(resolve, 2400));
    results.storedLater = sessionStorage.getItem("huddle.refresh");
    results.inLocalStorage = localStorage.length;
    // Concurrent callers share one refresh.
    const [t1, t2] = await Promise.all([session.accessToken(), session.accessToken()]);
    results.shared = t1 === t2;
    // The server refuses: the session ends, nothing stays stored.
    try {
        await session.refresh();
        await session.refresh();
    } catch (error) {
        results.refusal = error.status;
    }
    results.ended = ended;
    results.storedAfterEnd = sessionStorage.getItem("huddle.refresh");
    results.signedIn = session.signedIn;
    return results;
}
