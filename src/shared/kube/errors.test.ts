import { ApiException } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  fromApiException,
  genericServerStatus,
  isAlreadyExists,
  isConflict,
  isForbidden,
  isGone,
  isNotFound,
  isTextContentType,
  isTooLargeResourceVersion,
  KubeApiError,
  parseStatus,
  statusCode,
  statusMessage,
  statusReason,
} from './errors.js';
import type { KubeRequestTarget, KubeStatus } from './errors.js';

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

describe("client-go's texts for an error answer without a Status", () => {
  const snapshot: KubeRequestTarget = {
    method: 'GET',
    group: 'snapshot.storage.k8s.io',
    resource: 'volumesnapshots',
    name: 'snap',
  };

  // apimachinery's NewGenericServerResponse, as client-go's rest.Request calls it for each code.
  it.each([
    [404, 'NotFound', 'the server could not find the requested resource'],
    [400, 'BadRequest', 'the server rejected our request for an unknown reason'],
    [401, 'Unauthorized', 'the server has asked for the client to provide credentials'],
    [403, 'Forbidden', 'access denied by the proxy'],
    [405, 'MethodNotAllowed', 'the server does not allow this method on the requested resource'],
    [406, 'NotAcceptable', 'access denied by the proxy'],
    [409, 'Conflict', 'the server reported a conflict'],
    [415, 'UnsupportedMediaType', 'access denied by the proxy'],
    [422, 'Invalid', 'the server rejected our request due to an error in our request'],
    [429, 'TooManyRequests', 'the server has received too many requests and has asked us to try again later'],
    [
      500,
      'InternalError',
      'an error on the server ("access denied by the proxy") has prevented the request from succeeding',
    ],
    [
      502,
      'InternalError',
      'an error on the server ("access denied by the proxy") has prevented the request from succeeding',
    ],
    [503, 'ServiceUnavailable', 'the server is currently unable to handle the request'],
    [
      504,
      'Timeout',
      'the server was unable to return a response in the time allotted, but may still be processing the request',
    ],
    [418, '', 'the server responded with the status code 418 but did not return more information'],
  ])('%i: reason %j and the message client-go makes', (code, reason, message) => {
    const err = new KubeApiError({
      code,
      context: 'get VolumeSnapshot ns/snap',
      target: snapshot,
      serverText: ' access denied by the proxy\n',
    });
    expect(statusReason(err)).toBe(reason || undefined);
    expect(statusMessage(err)).toBe(`${message} (get volumesnapshots.snapshot.storage.k8s.io snap)`);
    expect(err.status.details?.causes).toEqual([
      { reason: 'UnexpectedServerResponse', message: 'access denied by the proxy' },
    ]);
  });

  it('say "unknown" for a body that is not text, and the 406 default then', () => {
    expect(genericServerStatus(500, snapshot).message).toBe(
      'an error on the server ("unknown") has prevented the request from succeeding (get volumesnapshots.snapshot.storage.k8s.io snap)',
    );
    expect(genericServerStatus(406, snapshot, '').message).toBe(
      'the server was unable to respond with a content type that the client supports (get volumesnapshots.snapshot.storage.k8s.io snap)',
    );
  });

  it('name the resource as client-go does: core group, no name, a create, no resource', () => {
    const core = { method: 'GET', group: '', resource: 'persistentvolumes' };
    expect(genericServerStatus(404, { ...core, name: 'pv1' }).message).toMatch(/ \(get persistentvolumes pv1\)$/);
    expect(genericServerStatus(404, core).message).toMatch(/resource \(get persistentvolumes\)$/);
    expect(genericServerStatus(409, { ...core, method: 'POST' })).toMatchObject({
      reason: 'AlreadyExists',
      message: 'the server reported a conflict (post persistentvolumes)',
    });
    expect(genericServerStatus(404).message).toBe('the server could not find the requested resource');
    expect(genericServerStatus(404, { method: 'GET', group: '', resource: '' }).message).toBe(
      'the server could not find the requested resource',
    );
  });

  it('quote at most 2048 bytes of the body', () => {
    const message = genericServerStatus(500, undefined, 'x'.repeat(5000)).message ?? '';
    expect(message).toBe(`an error on the server ("${'x'.repeat(2048)}") has prevented the request from succeeding`);
  });

  it('turn a client-node ApiException with a text body into the same text, and classify it', () => {
    const headers = { 'content-type': 'text/plain; charset=utf-8' };
    const raw = new ApiException(404, 'Unknown API Status Code!', '404 page not found\n', headers);
    const err = fromApiException(raw, 'get VolumeSnapshot ns/snap', snapshot);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(statusMessage(err)).toBe(
      'the server could not find the requested resource (get volumesnapshots.snapshot.storage.k8s.io snap)',
    );
    expect(isNotFound(err)).toBe(true);
    expect((err as Error).message).toBe(
      'get VolumeSnapshot ns/snap: 404 NotFound: the server could not find the requested resource (get volumesnapshots.snapshot.storage.k8s.io snap)',
    );
    const html = new ApiException(502, 'Unknown API Status Code!', '<html>bad gateway</html>', {
      'Content-Type': 'text/html',
    });
    expect(statusMessage(fromApiException(html, 'x', snapshot))).toContain('("<html>bad gateway</html>")');
    const json = new ApiException(502, 'Unknown API Status Code!', '{"error":"x"}', {
      'content-type': 'application/json',
    });
    expect(statusMessage(fromApiException(json, 'x', snapshot))).toContain('("unknown")');
  });

  it("keep the server's Status when there is one, and take only a Failure Status as one", () => {
    const withStatus = new ApiException(404, 'Unknown', JSON.stringify(status(404, 'NotFound', 'x "y" not found')), {});
    expect(statusMessage(fromApiException(withStatus, 'c', snapshot))).toBe('x "y" not found');
    expect(parseStatus(JSON.stringify(status(404, 'NotFound')))).toBeDefined();
    expect(parseStatus('{"error":"not a Status"}')).toBeUndefined();
    expect(parseStatus(JSON.stringify({ ...status(200, ''), status: 'Success' }))).toBeUndefined();
  });

  it("use client-go's test of a textual content type", () => {
    expect([undefined, '', 'text/plain', 'text/html; charset=utf-8', 'TEXT/plain'].map(isTextContentType)).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(['application/json', 'application/vnd.kubernetes.protobuf'].map(isTextContentType)).toEqual([false, false]);
  });
});
