export { Backoff } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export { objectKey, splitKey, stripManagedFields } from './cache.js';
export type { CacheReader, IndexFunc, KubeObject } from './cache.js';
export { createKubeClient } from './client.js';
export type {
  ApiConstructor,
  HttpVerb,
  KubeClient,
  KubeClientOptions,
  KubeRequest,
  KubeResponse,
  KubeStreamResponse,
} from './client.js';
export {
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
export type { KubeApiErrorOptions, KubeStatus } from './errors.js';
export { Informer } from './informer.js';
export type { InformerHandlers, InformerOptions, InformerStats } from './informer.js';
export { loadKubeConfig } from './kubeconfig.js';
export type { LoadKubeConfigOptions } from './kubeconfig.js';
export type { ListWatchTransport } from './list-watch.js';
export {
  createMergePatch,
  jsonPatchOptions,
  jsonPointerSegment,
  mergePatchOptions,
  strategicMergePatchOptions,
} from './patch.js';
export type { JsonPatchOperation, PatchOptions } from './patch.js';
export { DEFAULT_BURST, DEFAULT_QPS, TokenBucket } from './token-bucket.js';
export type { TokenBucketOptions } from './token-bucket.js';
