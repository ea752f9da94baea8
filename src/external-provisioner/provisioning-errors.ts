import { status } from '@grpc/grpc-js';
import { grpcCode } from '../shared/csi/status.js';

/**
 * What a failed provisioning attempt leaves behind (the lib's ProvisioningState). It decides the in-flight
 * bookkeeping, not whether the claim is retried: every failure is retried while the claim exists.
 */
export const ProvisioningState = {
  /** Nothing runs on the driver any more. */
  Finished: 'Finished',
  /** CreateVolume may still be running on the driver; the claim must be retried until a final answer. */
  InBackground: 'InBackground',
  /** Failed before CreateVolume was called: whatever was in flight before still is. */
  NoChange: 'NoChange',
  /** The selected node cannot host the volume: the scheduler must pick another one. */
  Reschedule: 'Reschedule',
} as const;
export type ProvisioningState = (typeof ProvisioningState)[keyof typeof ProvisioningState];

/** A failed attempt; the message is written for the ProvisioningFailed event. */
export class ProvisioningError extends Error {
  override readonly name = 'ProvisioningError';
  readonly state: ProvisioningState;
  /** InvalidArgument from CreateVolume: retries are slowed down (upstream #1369). */
  readonly infeasible: boolean;

  constructor(options: { message: string; state: ProvisioningState; infeasible?: boolean; cause?: unknown }) {
    super(options.message, { cause: options.cause });
    this.state = options.state;
    this.infeasible = options.infeasible ?? false;
  }
}

/** Codes after which the driver may still be creating the volume (the call, not the operation, ended). */
const IN_BACKGROUND_CODES: ReadonlySet<number> = new Set([
  status.CANCELLED,
  status.DEADLINE_EXCEEDED,
  status.UNAVAILABLE,
  status.ABORTED,
]);

/** Upstream `checkError`: the state a CreateVolume error leaves the operation in. */
export function createVolumeErrorState(options: { error: unknown; mayReschedule: boolean }): ProvisioningState {
  const code = grpcCode(options.error);
  // Not a gRPC status (e.g. a broken connection before an answer): assume the driver may have started.
  if (code === undefined || IN_BACKGROUND_CODES.has(code)) return ProvisioningState.InBackground;
  if (code === status.RESOURCE_EXHAUSTED && options.mayReschedule) return ProvisioningState.Reschedule;
  return ProvisioningState.Finished;
}

/** Prefix of the ProvisioningFailed message for InvalidArgument, as upstream writes it. */
export const INFEASIBLE_MESSAGE_PREFIX = 'Volume provisioning failed with infeasible error. Retries will be delayed.';

export function isInfeasible(error: unknown): boolean {
  return grpcCode(error) === status.INVALID_ARGUMENT;
}
