export { runWorkers } from './controller.js';
export type { RunWorkersOptions } from './controller.js';
export { WorkQueueMetricsFactory } from './metrics.js';
export type { QueueMetrics } from './metrics.js';
export {
  BucketRateLimiter,
  ItemExponentialRateLimiter,
  MaxOfRateLimiter,
  defaultControllerRateLimiter,
} from './rate-limiter.js';
export type {
  BucketRateLimiterOptions,
  ItemExponentialRateLimiterOptions,
  MaxOfRateLimiterOptions,
  RateLimiter,
} from './rate-limiter.js';
export { TerminalError, isTerminalError, reconcileKey } from './reconcile.js';
export type { ReconcileKeyOptions, SyncContext, SyncFunction, SyncResult } from './reconcile.js';
export { WorkQueue } from './work-queue.js';
export type { GetResult, WorkQueueOptions } from './work-queue.js';
