import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  isAlreadyExists,
  isConflict,
  isForbidden,
  isGone,
  isNotFound,
  isTooLargeResourceVersion,
  KubeApiError,
  statusCode,
  statusMessage,
  statusReason,
} from './errors.js';
import type { KubeStatus } from './errors.js';

function status(code: number, reason: string, message = 'm'): KubeStatus {
  return { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message };
}

/** client-node keeps the error body as the raw JSON text. */
function apiException(code: number, body: string): ApiException<string> {
  return new ApiException(code, 'Unknown API Status Code!', body, {});
}

describe('API error helpers', () => {
  it('read code, reason and message from a client-node ApiException whose body is JSON text', () => {
    const err = apiException(404, JSON.stringify(status(404, 'NotFound', 'pods "p" not found')));
    expect(statusCode(err)).toBe(404);
    expect(statusReason(err)).toBe('NotFound');
    expect(statusMessage(err)).toBe('pods "p" not found');
    expect(isNotFound(err)).toBe(true);
  });

  it('read the same from a KubeApiError of a raw request', () => {
    const err = new KubeApiError({
      code: 409,
      status: status(409, 'Conflict', 'the object has been modified'),
      context: 'PUT /x',
    });
    expect(statusCode(err)).toBe(409);
    expect(statusReason(err)).toBe('Conflict');
    expect(statusMessage(err)).toBe('the object has been modified');
    expect(isConflict(err)).toBe(true);
    expect(err.message).toContain('PUT /x: 409 Conflict: the object has been modified');
  });

  it('tell AlreadyExists from Conflict although both are 409', () => {
    const exists = new KubeApiError({ code: 409, status: status(409, 'AlreadyExists'), context: 'POST /x' });
    const conflict = new KubeApiError({ code: 409, status: status(409, 'Conflict'), context: 'PUT /x' });
    expect([isAlreadyExists(exists), isConflict(exists)]).toEqual([true, false]);
    expect([isAlreadyExists(conflict), isConflict(conflict)]).toEqual([false, true]);
  });

  it('fall back to the status code when the body has no known reason', () => {
    expect(isNotFound(apiException(404, '<html>not found</html>'))).toBe(true);
    expect(isForbidden(apiException(403, ''))).toBe(true);
    expect(isConflict(new KubeApiError({ code: 409, context: 'PUT /x' }))).toBe(true);
    expect(statusReason(apiException(404, 'not json'))).toBeUndefined();
  });

  it('let a known reason win over the status code', () => {
    // A 404 answer whose Status says something else is not a NotFound.
    expect(isNotFound(new KubeApiError({ code: 404, status: status(404, 'Forbidden'), context: 'GET /x' }))).toBe(
      false,
    );
    expect(isForbidden(new KubeApiError({ code: 500, status: status(500, 'Forbidden'), context: 'GET /x' }))).toBe(
      true,
    );
  });

  it('classify both 410 reasons (Gone and Expired) as gone', () => {
    expect(isGone(new KubeApiError({ code: 410, status: status(410, 'Expired'), context: 'watch' }))).toBe(true);
    expect(isGone(new KubeApiError({ code: 410, status: status(410, 'Gone'), context: 'watch' }))).toBe(true);
    expect(isGone(apiException(410, ''))).toBe(true);
    expect(isGone(new KubeApiError({ code: 500, status: status(500, 'InternalError'), context: 'watch' }))).toBe(false);
  });

  it('never classify by message text', () => {
    const err = new Error('404 NotFound Conflict AlreadyExists');
    expect([isNotFound(err), isConflict(err), isAlreadyExists(err), isGone(err), isForbidden(err)]).toEqual([
      false,
      false,
      false,
      false,
      false,
    ]);
    expect(statusCode(err)).toBeUndefined();
    expect(statusCode('nope')).toBeUndefined();
  });

  it('accept an ApiException whose body is already an object', () => {
    const err = new ApiException<KubeStatus>(404, 'm', status(404, 'NotFound', 'gone'), {});
    expect([isNotFound(err), statusMessage(err)]).toEqual([true, 'gone']);
  });

  it('classify any error object with a numeric code or status and a Status body, parsed or not', () => {
    const withCode = { code: 404, body: JSON.stringify(status(404, 'NotFound', 'lease "l" not found')) };
    expect([statusCode(withCode), isNotFound(withCode), statusMessage(withCode)]).toEqual([
      404,
      true,
      'lease "l" not found',
    ]);
    const withStatus = Object.assign(new Error('create failed'), { status: 409, body: status(409, 'AlreadyExists') });
    expect([statusCode(withStatus), isAlreadyExists(withStatus), isConflict(withStatus)]).toEqual([409, true, false]);
    // Only the code: classified by it alone.
    expect(isForbidden({ status: 403 })).toBe(true);
    expect(isGone({ code: 410, body: 'not json' })).toBe(true);
  });

  it('ignore codes that are not HTTP statuses (network errors, gRPC codes)', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    const grpcNotFound = Object.assign(new Error('5 NOT_FOUND'), { code: 5 });
    for (const err of [refused, grpcNotFound]) {
      expect([statusCode(err), isNotFound(err), isGone(err)]).toEqual([undefined, false, false]);
    }
  });

  it('recognize a resourceVersion the server has not reached yet by its Status cause', () => {
    const tooLarge = new KubeApiError({
      code: 504,
      status: {
        ...status(504, 'Timeout', 'Too large resource version: 2000, current: 1500'),
        details: { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }] },
      },
      context: 'GET /api/v1/pods',
    });
    expect(isTooLargeResourceVersion(tooLarge)).toBe(true);
    expect(
      isTooLargeResourceVersion(new KubeApiError({ code: 504, status: status(504, 'Timeout'), context: 'x' })),
    ).toBe(false);
    expect(isTooLargeResourceVersion(new Error('Too large resource version'))).toBe(false);
  });
});
