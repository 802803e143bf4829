// The public API through the gateway (same origin): the session cookie authenticates every
// request, so nothing here ever holds the API key after sign-in.

/** An RFC 9457 problem document (the services' and the gateway's errors). */
export interface Problem {
  type?: string;
  title?: string;
  status: number;
  detail?: string;
  request_id?: string;
  errors?: Array<Record<string, unknown>>;
  [extra: string]: unknown;
}

export class ApiError extends Error {
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.detail || problem.title || `HTTP ${problem.status}`);
    this.problem = problem;
  }
  get status(): number {
    return this.problem.status;
  }
}

async function problemOf(res: Response): Promise<Problem> {
  const text = await res.text();
  try {
    const body = JSON.parse(text);
    if (body && typeof body === "object") return { status: res.status, ...body };
  } catch {
    /* not JSON: fall through */
  }
  return { status: res.status, title: res.statusText, detail: text.slice(0, 500) };
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  form?: FormData;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** Called on any 401, so the app can show the sign-in page (the session expired or was revoked). */
let onUnauthorized: () => void = () => {};
export function setUnauthorizedHandler(fn: () => void): void {
  onUnauthorized = fn;
}

export async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json", ...opts.headers };
  let body: BodyInit | undefined;
  if (opts.form) body = opts.form;
  else if (opts.body !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.body);
  }
  const res = await fetch(`/api/v1${path}`, {
    method: opts.method ?? (body ? "POST" : "GET"),
    headers,
    body,
    credentials: "same-origin",
    signal: opts.signal,
  });
  if (!res.ok) {
    const problem = await problemOf(res);
    if (res.status === 401 && !path.startsWith("/auth/")) onUnauthorized();
    throw new ApiError(problem);
  }
  if (res.status === 204) return undefined as T;
  const type = res.headers.get("content-type") ?? "";
  if (type.includes("json")) return (await res.json()) as T;
  return (await res.text()) as unknown as T;
}

export const get = <T>(path: string, signal?: AbortSignal) => request<T>(path, { signal });
export const post = <T>(path: string, body?: unknown) =>
  request<T>(path, { method: "POST", body: body ?? {} });

/** A page of a list endpoint (cursor pagination). */
export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
  [extra: string]: unknown;
}

export function qs(params: Record<string, string | number | undefined | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}
