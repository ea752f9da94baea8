import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  isAlreadyExists,
  isConflict,
  isForbidden,
  isGone,
  isNotFound,
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
    const err = new KubeApiError(409, status(409, 'Conflict', 'the object has been modified'), 'PUT /x');
    expect(statusCode(err)).toBe(409);
    expect(statusReason(err)).toBe('Conflict');
    expect(statusMessage(err)).toBe('the object has been modified');
    expect(isConflict(err)).toBe(true);
    expect(err.message).toContain('PUT /x: 409 Conflict: the object has been modified');
  });

  it('tell AlreadyExists from Conflict although both are 409', () => {
    const exists = new KubeApiError(409, status(409, 'AlreadyExists'), 'POST /x');
    const conflict = new KubeApiError(409, status(409, 'Conflict'), 'PUT /x');
    expect([isAlreadyExists(exists), isConflict(exists)]).toEqual([true, false]);
    expect([isAlreadyExists(conflict), isConflict(conflict)]).toEqual([false, true]);
  });

  it('fall back to the status code when the body has no known reason', () => {
    expect(isNotFound(apiException(404, '<html>not found</html>'))).toBe(true);
    expect(isForbidden(apiException(403, ''))).toBe(true);
    expect(isConflict(new KubeApiError(409, undefined, 'PUT /x'))).toBe(true);
    expect(statusReason(apiException(404, 'not json'))).toBeUndefined();
  });

  it('let a known reason win over the status code', () => {
    // A 404 answer whose Status says something else is not a NotFound.
    expect(isNotFound(new KubeApiError(404, status(404, 'Forbidden'), 'GET /x'))).toBe(false);
    expect(isForbidden(new KubeApiError(500, status(500, 'Forbidden'), 'GET /x'))).toBe(true);
  });

  it('classify both 410 reasons (Gone and Expired) as gone', () => {
    expect(isGone(new KubeApiError(410, status(410, 'Expired'), 'watch'))).toBe(true);
    expect(isGone(new KubeApiError(410, status(410, 'Gone'), 'watch'))).toBe(true);
    expect(isGone(apiException(410, ''))).toBe(true);
    expect(isGone(new KubeApiError(500, status(500, 'InternalError'), 'watch'))).toBe(false);
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
});
