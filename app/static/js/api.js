// HTTP: one fetch wrapper that adds the bearer token, refreshes it once on a 401, and turns the API's
// error shape {status_code, code, detail, extra?} into an ApiError with a readable message.

export class ApiError extends Error {
  constructor(status, code, detail, extra = null, retryAfter = null) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.extra = extra;
    this.retryAfter = retryAfter;
  }
}

export class NetworkError extends Error {
  constructor(cause) {
    super("Cannot reach the server. Check your connection and try again.");
    this.cause = cause;
  }
}

const FIELD_NAMES = { email: "Email", name: "Name", password: "Password", text: "Message", role: "Role" };

/** A sentence a person can act on, for any error thrown by the API layer. */
export function describeError(error) {
  if (error instanceof NetworkError) return error.message;
  if (!(error instanceof ApiError)) return error?.message || "Something went wrong.";
  if (error.status === 429) {
    const wait = error.retryAfter ? ` Try again in ${waitText(error.retryAfter)}.` : " Try again shortly.";
    return `Too many attempts.${wait}`;
  }
  if (error.status === 503) return "The server is busy or restarting. Try again in a moment.";
  if (error.status >= 500) return "The server had a problem. Try again in a moment.";
  if (Array.isArray(error.extra) && error.extra.length) {
    // The server words each field's error as a sentence ("Email must be an email address, …").
    const fields = error.extra.map((item) => (item.reason ? item.message : `${FIELD_NAMES[item.key] || item.key || "Input"}: ${humanize(item.message)}`));
    return fields.join(" ");
  }
  return error.detail || "The request failed.";
}

/** Seconds as a person says them: "40 s", "9 min". */
export function waitText(seconds) {
  return seconds < 90 ? `${seconds} s` : `${Math.ceil(seconds / 60)} min`;
}

function humanize(message) {
  const text = String(message || "is invalid");
  let match = text.match(/length >= (\d+)/);
  if (match) return `must be at least ${match[1]} characters.`;
  match = text.match(/length <= (\d+)/);
  if (match) return `must be at most ${match[1]} characters.`;
  if (/match pattern/.test(text)) return "is not valid.";
  return text.endsWith(".") ? text : `${text}.`;
}

export class Api {
  /** @param {import("./session.js").Session} session */
  constructor(session) {
    this.session = session;
  }

  get(path, query) {
    return this.request("GET", path, { query });
  }
  post(path, body) {
    return this.request("POST", path, { body });
  }
  patch(path, body) {
    return this.request("PATCH", path, { body });
  }
  put(path, body) {
    return this.request("PUT", path, { body });
  }
  delete(path, body) {
    return this.request("DELETE", path, { body });
  }

  /** A file as the raw request body (`file` is a Blob), e.g. a subtitle track. */
  upload(path, file, query) {
    return this.request("POST", path, { query, raw: file });
  }

  async request(method, path, { body, query, raw, auth = true, retry = true, signal } = {}) {
    const url = new URL(path, location.origin);
    for (const [key, value] of Object.entries(query || {})) {
      if (value !== undefined && value !== null) url.searchParams.set(key, String(value));
    }
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (raw !== undefined) headers["Content-Type"] = raw.type || "application/octet-stream";
    if (auth) headers.Authorization = `Bearer ${await this.session.accessToken()}`;
    let response;
    try {
      response = await fetch(url, {
        method,
        headers,
        body: raw !== undefined ? raw : body === undefined ? undefined : JSON.stringify(body),
        credentials: "omit",
        cache: "no-store",
        signal,
      });
    } catch (error) {
      if (error?.name === "AbortError") throw error;
      throw new NetworkError(error);
    }
    if (response.status === 401 && auth && retry) {
      await this.session.refresh(); // throws (and signs out) when the session is over
      return this.request(method, path, { body, query, raw, auth, retry: false, signal });
    }
    return parse(response);
  }
}

export async function parse(response) {
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const retryAfter = response.headers.get("Retry-After");
    throw new ApiError(
      response.status,
      data?.code || `http_${response.status}`,
      data?.detail || response.statusText,
      data?.extra ?? null,
      retryAfter ? Number(retryAfter) : null,
    );
  }
  return data;
}

/** Calls that need no token (sign-in, registration, refresh). */
export async function publicPost(path, body) {
  let response;
  try {
    response = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
      cache: "no-store",
    });
  } catch (error) {
    throw new NetworkError(error);
  }
  return parse(response);
}
