import type { Metadata } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';

/**
 * Go's `codes.Code.String()` names by numeric code. Metrics labels and
 * user-facing error texts use these, not grpc-js's `DEADLINE_EXCEEDED` style.
 */
const GO_CODE_NAMES: readonly string[] = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
];

/** The Go name of a gRPC status code; unknown numbers render as Go does (`Code(42)`). */
export function goCodeName(code: number): string {
  return GO_CODE_NAMES[code] ?? `Code(${code})`;
}

/** The fields of a grpc-js ServiceError (or a CsiRpcError) that callers classify on. */
export interface GrpcErrorLike {
  code: number;
  details: string;
  metadata?: Metadata;
}

/** True for errors that carry a gRPC status (numeric code plus details), false for e.g. Node system errors. */
export function isGrpcError(err: unknown): err is GrpcErrorLike {
  if (typeof err !== 'object' || err === null) return false;
  const { code, details } = err as { code?: unknown; details?: unknown };
  return typeof code === 'number' && Number.isInteger(code) && code >= 0 && typeof details === 'string';
}

/** The gRPC status code of err, or undefined when err is not a gRPC error. */
export function grpcCode(err: unknown): number | undefined {
  return isGrpcError(err) ? err.code : undefined;
}

/** Go's `status.Error(...).Error()` text: `rpc error: code = NotFound desc = volume not found`. */
export function formatGrpcError(code: number, details: string): string {
  return `rpc error: code = ${goCodeName(code)} desc = ${details}`;
}

/**
 * Client-side deadlines and cancellations get Go's context texts so that
 * messages copied into Kubernetes events read as they do with the Go sidecars.
 * The raw grpc-js details stay on the error.
 */
function goDescription(code: number, details: string): string {
  if (code === status.DEADLINE_EXCEEDED && details.startsWith('Deadline exceeded after')) {
    return 'context deadline exceeded';
  }
  if (code === status.CANCELLED && details === 'Cancelled on client') return 'context canceled';
  return details;
}

export interface CsiRpcErrorOptions {
  /** Full gRPC method, e.g. `/csi.v1.Controller/CreateVolume`. */
  method: string;
  code: number;
  details: string;
  metadata?: Metadata;
  cause?: unknown;
}

/**
 * A failed CSI call. The message is Go's text (`rpc error: code = … desc = …`)
 * so sidecars can surface it unchanged; method, code, details and the
 * server's metadata stay available for classification and logs.
 */
export class CsiRpcError extends Error implements GrpcErrorLike {
  readonly method: string;
  readonly code: number;
  readonly details: string;
  readonly metadata: Metadata | undefined;

  constructor(options: CsiRpcErrorOptions) {
    super(formatGrpcError(options.code, goDescription(options.code, options.details)), { cause: options.cause });
    this.name = 'CsiRpcError';
    this.method = options.method;
    this.code = options.code;
    this.details = options.details;
    this.metadata = options.metadata;
  }

  /** The Go name of the code, e.g. `DeadlineExceeded`. */
  get codeName(): string {
    return goCodeName(this.code);
  }
}
