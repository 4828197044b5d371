/**
 * Talking to the API from the browser: same-origin requests with the session cookie,
 * the CSRF token on every state-changing request, and the API's one error shape
 * (`{"error": {"code", "message", "details"}}`) turned into `ApiError`.
 */

export interface ErrorDetail {
  loc?: string;
  message?: string;
  line?: number;
  column?: string;
  error?: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: ErrorDetail[];
  /** the whole answer (extra fields such as `problems` or an import summary) */
  readonly body: Record<string, unknown>;

  constructor(status: number, body: unknown) {
    const record = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
    const error = (record.error && typeof record.error === 'object' ? record.error : {}) as Record<string, unknown>;
    super(typeof error.message === 'string' ? error.message : `the server answered ${status}`);
    this.status = status;
    this.code = typeof error.code === 'string' ? error.code : 'http_error';
    this.details = Array.isArray(error.details) ? (error.details as ErrorDetail[]) : [];
    this.body = record;
  }
}

let csrfToken: string | null = null;
const unauthorizedListeners = new Set<() => void>();

/** Kept in memory only: after a reload `GET /v1/session` gives it again. */
export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export function csrfHeaders(): Record<string, string> {
  return csrfToken ? { 'X-CSRF-Token': csrfToken } : {};
}

/** Called when the API says the session is gone (401), e.g. it expired. */
export function onUnauthorized(listener: () => void): () => void {
  unauthorizedListeners.add(listener);
  return () => unauthorizedListeners.delete(listener);
}

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface RequestOptions {
  method?: string;
  body?: unknown;
  signal?: AbortSignal;
  /** do not report a 401 as a lost session (the session check itself) */
  quiet401?: boolean;
}

export async function parseBody(text: string): Promise<unknown> {
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { error: { code: 'bad_response', message: text.slice(0, 200) } };
  }
}

export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = (options.method ?? 'GET').toUpperCase();
  const headers: Record<string, string> = { Accept: 'application/json' };
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  if (!SAFE.has(method)) Object.assign(headers, csrfHeaders());
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      credentials: 'same-origin',
      signal: options.signal,
    });
  } catch (exc) {
    if (exc instanceof DOMException && exc.name === 'AbortError') throw exc;
    throw new ApiError(0, { error: { code: 'network', message: 'the server cannot be reached; is switchback running?' } });
  }
  const body = await parseBody(await response.text());
  if (!response.ok) {
    if (response.status === 401 && !options.quiet401) unauthorizedListeners.forEach((listener) => listener());
    throw new ApiError(response.status, body);
  }
  return body as T;
}

/** `encodeURIComponent` for one path segment. */
export const seg = (value: string | number) => encodeURIComponent(String(value));

/** A short human sentence for any error thrown by `api`. */
export function errorText(error: unknown): string {
  if (error instanceof ApiError) {
    const first = error.details.find((d) => d.message);
    return first && first.loc ? `${error.message} (${first.loc}: ${first.message})` : error.message;
  }
  return error instanceof Error ? error.message : String(error);
}
