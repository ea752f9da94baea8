import { ApiException } from '@kubernetes/client-node';

/** The metav1.Status object the apiserver sends with every error response and watch ERROR event. */
export interface KubeStatus {
  kind?: string;
  apiVersion?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { name?: string; group?: string; kind?: string; uid?: string; retryAfterSeconds?: number };
}

/** An error answer to a raw request (KubeClient.request/stream) or a watch ERROR event. */
export class KubeApiError extends Error {
  /** HTTP status code (for a watch ERROR event: the Status code). */
  readonly code: number;
  /** The parsed Status body, when the server sent one. */
  readonly status: KubeStatus | undefined;

  constructor(code: number, status: KubeStatus | undefined, context: string) {
    const detail = status?.message ?? status?.reason ?? 'no status in response';
    super(`${context}: ${code} ${status?.reason ?? ''}${status?.reason ? ': ' : ''}${detail}`);
    this.name = 'KubeApiError';
    this.code = code;
    this.status = status;
  }
}

// metav1.StatusReason values: when the server names one of these, the code alone must not decide
// (e.g. 409 with AlreadyExists is not a Conflict).
const KNOWN_REASONS = new Set([
  'Unauthorized',
  'Forbidden',
  'NotFound',
  'AlreadyExists',
  'Conflict',
  'Gone',
  'Invalid',
  'ServerTimeout',
  'StoreReadError',
  'Timeout',
  'TooManyRequests',
  'BadRequest',
  'MethodNotAllowed',
  'NotAcceptable',
  'RequestEntityTooLarge',
  'UnsupportedMediaType',
  'InternalError',
  'Expired',
  'ServiceUnavailable',
]);

/** HTTP status of a client-node ApiException or a KubeApiError; undefined for other errors (e.g. network). */
export function statusCode(err: unknown): number | undefined {
  if (err instanceof KubeApiError || err instanceof ApiException) return err.code;
  return undefined;
}

/** metav1.Status reason (NotFound, Conflict, Expired, ...) of an API error, if the server sent one. */
export function statusReason(err: unknown): string | undefined {
  return statusOf(err)?.reason || undefined;
}

/** The human-readable message of the server's Status, if any. */
export function statusMessage(err: unknown): string | undefined {
  return statusOf(err)?.message || undefined;
}

export function isNotFound(err: unknown): boolean {
  return matches(err, 'NotFound', 404);
}

export function isConflict(err: unknown): boolean {
  return matches(err, 'Conflict', 409);
}

/** Only the reason counts: a 409 can also be a Conflict. */
export function isAlreadyExists(err: unknown): boolean {
  return statusReason(err) === 'AlreadyExists';
}

/** 410: the requested resourceVersion or continue token is no longer available (reason Gone or Expired). */
export function isGone(err: unknown): boolean {
  const reason = statusReason(err);
  return reason === 'Gone' || reason === 'Expired' || matches(err, 'Gone', 410);
}

export function isForbidden(err: unknown): boolean {
  return matches(err, 'Forbidden', 403);
}

/** client-go's rule: the reason decides when it is a known one; otherwise fall back to the status code. */
function matches(err: unknown, reason: string, code: number): boolean {
  const actual = statusReason(err);
  if (actual === reason) return true;
  if (actual !== undefined && KNOWN_REASONS.has(actual)) return false;
  return statusCode(err) === code;
}

function statusOf(err: unknown): KubeStatus | undefined {
  if (err instanceof KubeApiError) return err.status;
  if (!(err instanceof ApiException)) return undefined;
  // client-node keeps the response body as text; tolerate an already parsed object too.
  const body: unknown = err.body;
  if (typeof body === 'string') return parseStatus(body);
  return isStatus(body) ? body : undefined;
}

/** Parses a response body as a Status; undefined when it is not one (HTML error pages, empty bodies). */
export function parseStatus(text: string): KubeStatus | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return isStatus(parsed) ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function isStatus(value: unknown): value is KubeStatus {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
