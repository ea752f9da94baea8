import { Metadata, status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { CsiRpcError, formatGrpcError, goCodeName, grpcCode, isGrpcError } from './status.js';

describe('goCodeName', () => {
  it('maps every grpc-js status to the Go codes.Code name', () => {
    const expected: Record<number, string> = {
      [status.OK]: 'OK',
      [status.CANCELLED]: 'Canceled',
      [status.UNKNOWN]: 'Unknown',
      [status.INVALID_ARGUMENT]: 'InvalidArgument',
      [status.DEADLINE_EXCEEDED]: 'DeadlineExceeded',
      [status.NOT_FOUND]: 'NotFound',
      [status.ALREADY_EXISTS]: 'AlreadyExists',
      [status.PERMISSION_DENIED]: 'PermissionDenied',
      [status.RESOURCE_EXHAUSTED]: 'ResourceExhausted',
      [status.FAILED_PRECONDITION]: 'FailedPrecondition',
      [status.ABORTED]: 'Aborted',
      [status.OUT_OF_RANGE]: 'OutOfRange',
      [status.UNIMPLEMENTED]: 'Unimplemented',
      [status.INTERNAL]: 'Internal',
      [status.UNAVAILABLE]: 'Unavailable',
      [status.DATA_LOSS]: 'DataLoss',
      [status.UNAUTHENTICATED]: 'Unauthenticated',
    };
    expect(Object.keys(expected)).toHaveLength(17);
    for (const [code, name] of Object.entries(expected)) expect(goCodeName(Number(code))).toBe(name);
  });

  it('renders unknown codes like Go', () => {
    expect(goCodeName(42)).toBe('Code(42)');
  });
});

describe('isGrpcError / grpcCode', () => {
  it('recognises grpc-js service errors', () => {
    const err = Object.assign(new Error('5 NOT_FOUND: gone'), {
      code: status.NOT_FOUND,
      details: 'gone',
      metadata: new Metadata(),
    });
    expect(isGrpcError(err)).toBe(true);
    expect(grpcCode(err)).toBe(status.NOT_FOUND);
  });

  it('returns undefined for errors without a gRPC status', () => {
    const enoent = Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    for (const err of [new Error('plain'), enoent, 'text', undefined, null, { code: 3 }]) {
      expect(isGrpcError(err)).toBe(false);
      expect(grpcCode(err)).toBeUndefined();
    }
  });
});

describe('CsiRpcError', () => {
  it('reads like a Go status error and keeps method, code, details and metadata', () => {
    const metadata = new Metadata();
    metadata.set('x-driver', 'yes');
    const cause = new Error('raw');
    const err = new CsiRpcError({
      method: '/csi.v1.Node/NodeGetInfo',
      code: status.FAILED_PRECONDITION,
      details: 'not yet',
      metadata,
      cause,
    });
    expect(err.message).toBe('rpc error: code = FailedPrecondition desc = not yet');
    expect(err).toMatchObject({ method: '/csi.v1.Node/NodeGetInfo', code: 9, details: 'not yet', cause });
    expect(err.metadata?.get('x-driver')).toEqual(['yes']);
    expect(err.codeName).toBe('FailedPrecondition');
    expect(isGrpcError(err)).toBe(true);
    expect(grpcCode(err)).toBe(status.FAILED_PRECONDITION);
  });

  it("uses Go's context texts for client-side deadlines and cancellations", () => {
    const deadline = new CsiRpcError({
      method: '/m',
      code: status.DEADLINE_EXCEEDED,
      details: 'Deadline exceeded after 0.301s,remote_addr=/tmp/x',
    });
    expect(deadline.message).toBe('rpc error: code = DeadlineExceeded desc = context deadline exceeded');
    expect(deadline.details).toBe('Deadline exceeded after 0.301s,remote_addr=/tmp/x');
    const cancelled = new CsiRpcError({ method: '/m', code: status.CANCELLED, details: 'Cancelled on client' });
    expect(cancelled.message).toBe('rpc error: code = Canceled desc = context canceled');
    const fromDriver = new CsiRpcError({ method: '/m', code: status.DEADLINE_EXCEEDED, details: 'backend slow' });
    expect(fromDriver.message).toBe('rpc error: code = DeadlineExceeded desc = backend slow');
  });

  it('formats like status.Error', () => {
    expect(formatGrpcError(status.ALREADY_EXISTS, 'dup')).toBe('rpc error: code = AlreadyExists desc = dup');
  });
});
