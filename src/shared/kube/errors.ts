import { ApiException } from '@kubernetes/client-node';
/** The metav1.Status object the apiserver sends with every error response and watch ERROR event. */
export interface KubeStatus {
  kind?: string;
  apiVersion?: string;
  status?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    uid?: string;
    causes?: { reason?: string; message?: string; field?: string }[];
    retryAfterSeconds?: number;
  };
}

export interface KubeApiErrorOptions {
  /** HTTP status code (for a watch ERROR event: the Status code). */
  code: number;
  /** The parsed Status body, when the server sent one. */
  status?: KubeStatus;
  /** What was being done, e.g. "GET /api/v1/pods"; the message starts with it. */
  context: string;
}

/** An error answer to a raw request (KubeClient.request/stream) or a watch ERROR event. */
export class KubeApiError extends Error {
  /** HTTP status code (for a watch ERROR event: the Status code). */
  readonly code: number;
  /** The parsed Status body, when the server sent one. */
  readonly status: KubeStatus | undefined;

  constructor(options: KubeApiErrorOptions) {
    const { code, status, context } = options;
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

/**
 * HTTP status of an API error: a client-node ApiException, a KubeApiError, or any error object with a
 * numeric code or status (so errors of other modules classify too). Undefined for other errors (network
 * errors carry string codes; numbers outside the HTTP range, such as gRPC codes, do not count).
 */
export function statusCode(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { code, status } = err as { code?: unknown; status?: unknown };
  for (const candidate of [code, status]) {
    if (typeof candidate === 'number' && Number.isInteger(candidate) && candidate >= 100 && candidate <= 599) {
      return candidate;
    }
  }
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

/**
 * The apiserver has not caught up with the requested resourceVersion yet (typically an apiserver whose
 * watch cache lags behind the one that handed the version out): a 504 whose Status names the cause.
 */
export function isTooLargeResourceVersion(err: unknown): boolean {
  return statusOf(err)?.details?.causes?.some((cause) => cause.reason === 'ResourceVersionTooLarge') ?? false;
}

/** client-go's rule: the reason decides when it is a known one; otherwise fall back to the status code. */
function matches(err: unknown, reason: string, code: number): boolean {
  const actual = statusReason(err);
  if (actual === reason) return true;
  if (actual !== undefined && KNOWN_REASONS.has(actual)) return false;
  return statusCode(err) === code;
}

/**
 * The Status an error carries: in body (client-node's ApiException keeps the response text there; an
 * already parsed object is accepted too) or as a status object (KubeApiError).
 */
function statusOf(err: unknown): KubeStatus | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { body, status } = err as { body?: unknown; status?: unknown };
  if (typeof body === 'string') {
    const parsed = parseStatus(body);
    if (parsed) return parsed;
  } else if (isStatus(body)) {
    return body;
  }
  return isStatus(status) ? status : undefined;
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

/**
 * client-node's ApiException message embeds the whole response body and all
 * headers, too noisy for a log line per retry; this turns it into a
 * KubeApiError with the parsed Status and a one-line message. Other errors
 * pass through unchanged.
 */
export function fromApiException(err: unknown, context: string): unknown {
  if (!(err instanceof ApiException)) return err;
  const body: unknown = err.body;
  return new KubeApiError({
    code: err.code,
    status: typeof body === 'string' ? parseStatus(body) : undefined,
    context,
  });
}
