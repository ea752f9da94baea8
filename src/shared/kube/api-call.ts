import { fromApiException } from './errors.js';

/** One typed API call, named for its error ("get VolumeSnapshot ns/snap") and for client-go's texts (the target). */
export interface ApiCall {
  verb: keyof typeof HTTP_METHODS;
  kind: string;
  group: string;
  resource: string;
  namespace?: string;
  name: string;
}

const HTTP_METHODS = { create: 'POST', update: 'PUT', get: 'GET', patch: 'PATCH', delete: 'DELETE' } as const;

/** Runs a typed client-node call; its ApiException becomes a one-line KubeApiError naming the call. */
export async function annotate<T>(what: ApiCall, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const { verb, kind, group, resource, namespace, name } = what;
    const context = `${verb} ${kind} ${namespace === undefined ? '' : `${namespace}/`}${name}`;
    const method = HTTP_METHODS[verb];
    // client-go names no object for a create.
    throw fromApiException(err, context, { method, group, resource, name: verb === 'create' ? '' : name });
  }
}
