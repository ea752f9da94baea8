import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { ConfigurationOptions, ObservableMiddleware } from '@kubernetes/client-node';

/** Per-call options for the typed patch* methods. */
export type PatchOptions = ConfigurationOptions<ObservableMiddleware>;

// client-node's patch methods default to JSON Patch whatever the body is, so every patch call must
// name its content type. setHeaderOptions appends to the client's middleware (token bucket, shared
// connection pool, User-Agent) instead of replacing it, which a hand-built options object would do.

/** RFC 7386 merge patch (createMergePatch output, or a hand-built partial object). */
export function mergePatchOptions(): PatchOptions {
  return setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
}

/** RFC 6902 JSON Patch (an array of JsonPatchOperation). */
export function jsonPatchOptions(): PatchOptions {
  return setHeaderOptions('Content-Type', PatchStrategy.JsonPatch);
}

/** Kubernetes strategic merge patch (built-in types only; lists merge by their patch keys). */
export function strategicMergePatchOptions(): PatchOptions {
  return setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);
}

export type JsonPatchOperation =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'move' | 'copy'; from: string; path: string };

/** Escapes a key (e.g. an annotation name with '/') for use as one JSON Pointer segment. */
export function jsonPointerSegment(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/**
 * The RFC 7386 merge patch that turns original into modified (what Go's jsonpatch.CreateMergePatch
 * produces): changed and added keys carry their new value, removed keys are null, nested objects are
 * diffed key by key, arrays and scalars are replaced whole. An empty object means "no change".
 * Properties whose value is undefined count as absent, as they do in JSON.
 */
export function createMergePatch(original: object, modified: object): Record<string, unknown> {
  return diffObjects(toJson(original) as JsonObject, toJson(modified) as JsonObject);
}

type JsonObject = Record<string, unknown>;

function diffObjects(original: JsonObject, modified: JsonObject): JsonObject {
  const patch: JsonObject = {};
  for (const [key, value] of Object.entries(modified)) {
    const before = original[key];
    if (!(key in original)) {
      patch[key] = value;
    } else if (isObject(before) && isObject(value)) {
      const nested = diffObjects(before, value);
      if (Object.keys(nested).length > 0) patch[key] = nested;
    } else if (!deepEqual(before, value)) {
      patch[key] = value;
    }
  }
  for (const key of Object.keys(original)) {
    if (!(key in modified)) patch[key] = null;
  }
  return patch;
}

/** The JSON view of a value (drops undefined properties, turns Dates into strings, copies). */
function toJson(value: object): unknown {
  return JSON.parse(JSON.stringify(value));
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((item, i) => deepEqual(item, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && deepEqual(a[k], b[k]));
  }
  return false;
}
