// Calls to the therapist API: the session cookie travels by itself; every change carries the
// CSRF token from sign-in. Errors carry the server's {status, detail, errors} body.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || (status ? `The server answered ${status}` : "The server cannot be reached"));
    this.status = status;
    this.body = body;
  }
}

const session = { csrf: null, onSignedOut: null };

/** Remember the CSRF token of the signed-in session (null when signed out). */
export function setCsrf(token) {
  session.csrf = token;
}

/** Called when any call answers 401: the session ended (expired or signed out elsewhere). */
export function onSignedOut(fn) {
  session.onSignedOut = fn;
}

export async function api(path, { method = "GET", body, quiet401 = false } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && session.csrf) headers["X-CSRF-Token"] = session.csrf;
  let res;
  try {
    res = await fetch(`/api/v1${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, null);
  }
  const data = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    if (res.status === 401 && !quiet401 && session.onSignedOut) session.onSignedOut();
    throw new ApiError(res.status, data);
  }
  return data;
}

/** Like api(), but a 404 answers null (an optional resource: no plan yet, no reminders module). */
export async function maybe(path) {
  try {
    return await api(path);
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}
