import { ApiException } from '@kubernetes/client-node';
import { goQuote } from '../text/go-format.js';
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

/** The request an error answer belongs to, as client-go names it in the text it makes for an answer without a Status. */
export interface KubeRequestTarget {
  /** HTTP method: GET, POST, PUT, PATCH, DELETE. */
  method: string;
  /** API group; empty for the core group. */
  group: string;
  /** Plural resource (volumesnapshots); empty when the request names none. */
  resource: string;
  /** Object name; empty for a list or a create. */
  name?: string;
}

export interface KubeApiErrorOptions {
  /** HTTP status code (for a watch ERROR event: the Status code). */
  code: number;
  /** The parsed Status body, when the server sent one. */
  status?: KubeStatus;
  /** What was being done, e.g. "GET /api/v1/pods"; the message starts with it. */
  context: string;
  /** Without a Status: the request, named in client-go's text for the answer. */
  target?: KubeRequestTarget;
  /** Without a Status: the body, when the answer was text (client-go quotes it for some codes). */
  serverText?: string;
}

/**
 * An error answer to a request (KubeClient, a client-node API call) or a watch ERROR event. An answer without a
 * Status body (a 404 for a resource the server does not serve, a proxy's 503 page) gets the Status client-go makes
 * for it, so its message is the text client-go would log or put in an event.
 */
export class KubeApiError extends Error {
  /** HTTP status code (for a watch ERROR event: the Status code). */
  readonly code: number;
  /** The server's Status, or client-go's stand-in for an answer without one. */
  readonly status: KubeStatus;

  constructor(options: KubeApiErrorOptions) {
    const { code, context } = options;
    const status = options.status ?? genericServerStatus(code, options.target, options.serverText);
    const detail = status.message || status.reason || 'no message in status';
    super(`${context}: ${code} ${status.reason ?? ''}${status.reason ? ': ' : ''}${detail}`);
    this.name = 'KubeApiError';
    this.code = code;
    this.status = status;
  }
}

// client-go caps the body it quotes (rest.maxUnstructuredResponseTextBytes).
const MAX_QUOTED_BODY_BYTES = 2048;

/**
 * The Status client-go builds for an error answer without one (apimachinery's NewGenericServerResponse, as
 * client-go's rest.Request calls it): a reason and a message from the code, then "(verb resource.group name)".
 * serverText is the body of a text answer; client-go says "unknown" for any other body.
 */
export function genericServerStatus(code: number, target?: KubeRequestTarget, serverText?: string): KubeStatus {
  const serverMessage =
    serverText === undefined
      ? 'unknown'
      : Buffer.from(serverText).subarray(0, MAX_QUOTED_BODY_BYTES).toString('utf8').trim();
  const generic = genericReasonAndMessage(code, target?.method ?? '', serverMessage);
  let message = generic.message;
  const group = target?.group ?? '';
  const resource = target?.resource ?? '';
  const name = target?.name ?? '';
  if (group !== '' || resource !== '') {
    const qualified = group === '' ? resource : `${resource}.${group}`;
    const verb = (target?.method ?? '').toLowerCase();
    message = name === '' ? `${message} (${verb} ${qualified})` : `${message} (${verb} ${qualified} ${name})`;
  }
  return {
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    code,
    reason: generic.reason,
    message,
    details: { group, kind: resource, name, causes: [{ reason: 'UnexpectedServerResponse', message: serverMessage }] },
  };
}

function genericReasonAndMessage(
  code: number,
  method: string,
  serverMessage: string,
): { reason: string; message: string } {
  switch (code) {
    case 409:
      return { reason: method === 'POST' ? 'AlreadyExists' : 'Conflict', message: 'the server reported a conflict' };
    case 404:
      return { reason: 'NotFound', message: 'the server could not find the requested resource' };
    case 400:
      return { reason: 'BadRequest', message: 'the server rejected our request for an unknown reason' };
    case 401:
      return { reason: 'Unauthorized', message: 'the server has asked for the client to provide credentials' };
    case 403:
      // The server's text says who may not do what.
      return { reason: 'Forbidden', message: serverMessage };
    case 406:
      return {
        reason: 'NotAcceptable',
        message:
          serverMessage === '' || serverMessage === 'unknown'
            ? 'the server was unable to respond with a content type that the client supports'
            : serverMessage,
      };
    case 415:
      return { reason: 'UnsupportedMediaType', message: serverMessage };
    case 405:
      return { reason: 'MethodNotAllowed', message: 'the server does not allow this method on the requested resource' };
    case 422:
      return { reason: 'Invalid', message: 'the server rejected our request due to an error in our request' };
    case 503:
      return { reason: 'ServiceUnavailable', message: 'the server is currently unable to handle the request' };
    case 504:
      return {
        reason: 'Timeout',
        message:
          'the server was unable to return a response in the time allotted, but may still be processing the request',
      };
    case 429:
      return {
        reason: 'TooManyRequests',
        message: 'the server has received too many requests and has asked us to try again later',
      };
    default:
      if (code >= 500) {
        return {
          reason: 'InternalError',
          message: `an error on the server (${goQuote(serverMessage)}) has prevented the request from succeeding`,
        };
      }
      return {
        reason: '',
        message: `the server responded with the status code ${code} but did not return more information`,
      };
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

/**
 * Parses an error answer's body as a Status; undefined when it is not one (HTML error pages, empty bodies, JSON of
 * another kind), which client-go too treats as no Status.
 */
export function parseStatus(text: string): KubeStatus | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    return isStatus(parsed) && parsed.kind === 'Status' && parsed.status === 'Failure' ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export function isStatus(value: unknown): value is KubeStatus {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** client-go's test of an error answer's Content-Type: its body is quoted only when it is text (or untyped). */
export function isTextContentType(contentType: string | undefined): boolean {
  if (contentType === undefined || contentType === '') return true;
  return contentType.split(';')[0].trim().toLowerCase().startsWith('text/');
}

/**
 * client-node's ApiException message embeds the whole response body and all headers, too noisy for a log line
 * per retry; this turns it into a KubeApiError with the parsed Status (or client-go's stand-in, which names the
 * target) and a one-line message. Other errors pass through unchanged.
 */
export function fromApiException(err: unknown, context: string, target?: KubeRequestTarget): unknown {
  if (!(err instanceof ApiException)) return err;
  const body: unknown = err.body;
  const text = typeof body === 'string' ? body : undefined;
  const headers = (err.headers ?? {}) as Record<string, string | undefined>;
  const contentType = Object.entries(headers).find(([name]) => name.toLowerCase() === 'content-type')?.[1];
  return new KubeApiError({
    code: err.code,
    status: text === undefined ? undefined : parseStatus(text),
    context,
    target,
    serverText: text !== undefined && isTextContentType(contentType) ? text : undefined,
  });
}
