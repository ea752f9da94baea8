import * as csi from '../../gen/csi.js';
import type { DeepPartial } from '../../gen/csi.js';

/** The CSI services a sidecar talks to (SnapshotMetadata is streaming-only and left out). */
export const CSI_SERVICES = {
  Identity: csi.IdentityService,
  Controller: csi.ControllerService,
  Node: csi.NodeService,
  GroupController: csi.GroupControllerService,
} as const;

export type CsiServiceName = keyof typeof CSI_SERVICES;

type AllMethods = typeof csi.IdentityService &
  typeof csi.ControllerService &
  typeof csi.NodeService &
  typeof csi.GroupControllerService;

type UnaryKey = {
  [K in keyof AllMethods]: AllMethods[K] extends { requestStream: false; responseStream: false } ? K : never;
}[keyof AllMethods];

type MethodDefs = { [K in UnaryKey as Capitalize<K>]: AllMethods[K] };

/** A unary CSI method by its proto name, e.g. `CreateVolume` (unique across the services). */
export type CsiMethod = keyof MethodDefs;
export type CsiRequest<M extends CsiMethod> = Parameters<MethodDefs[M]['requestSerialize']>[0];
export type CsiResponse<M extends CsiMethod> = ReturnType<MethodDefs[M]['responseDeserialize']>;
/** What callers may pass: missing fields get their proto defaults. */
export type CsiRequestInit<M extends CsiMethod> = DeepPartial<CsiRequest<M>>;
export type CsiResponseInit<M extends CsiMethod> = DeepPartial<CsiResponse<M>>;

export interface CsiMethodInfo<M extends CsiMethod> {
  readonly name: M;
  readonly service: CsiServiceName;
  /** ts-proto's key in the service definition, e.g. `createVolume`. */
  readonly key: string;
  /** Full gRPC path, e.g. `/csi.v1.Controller/CreateVolume`. */
  readonly path: string;
  readonly serializeRequest: (value: CsiRequest<M>) => Buffer;
  readonly deserializeRequest: (value: Buffer) => CsiRequest<M>;
  readonly serializeResponse: (value: CsiResponse<M>) => Buffer;
  readonly deserializeResponse: (value: Buffer) => CsiResponse<M>;
  /** Fills in proto defaults (ts-proto's encoders expect every field present). */
  readonly requestFromPartial: (value: CsiRequestInit<M>) => CsiRequest<M>;
  readonly responseFromPartial: (value: CsiResponseInit<M>) => CsiResponse<M>;
}

interface UntypedDefinition {
  path: string;
  requestStream: boolean;
  responseStream: boolean;
  requestSerialize: (value: unknown) => Buffer;
  requestDeserialize: (value: Buffer) => unknown;
  responseSerialize: (value: unknown) => Buffer;
  responseDeserialize: (value: Buffer) => unknown;
}

interface UntypedMessageFns {
  fromPartial(value: unknown): unknown;
}

function messageFns(typeName: string): UntypedMessageFns {
  const fns: unknown = (csi as Record<string, unknown>)[typeName];
  if (typeof fns !== 'object' || fns === null || typeof (fns as UntypedMessageFns).fromPartial !== 'function') {
    throw new Error(`generated CSI bindings lack message type ${typeName}`);
  }
  return fns as UntypedMessageFns;
}

function buildMethodTable(): { readonly [M in CsiMethod]: CsiMethodInfo<M> } {
  const table: Record<string, unknown> = {};
  for (const [service, definition] of Object.entries(CSI_SERVICES)) {
    for (const [key, def] of Object.entries(definition as Record<string, UntypedDefinition>)) {
      if (def.requestStream || def.responseStream) continue;
      const name = key.charAt(0).toUpperCase() + key.slice(1);
      const request = messageFns(`${name}Request`);
      const response = messageFns(`${name}Response`);
      table[name] = {
        name,
        service,
        key,
        path: def.path,
        serializeRequest: def.requestSerialize,
        deserializeRequest: def.requestDeserialize,
        serializeResponse: def.responseSerialize,
        deserializeResponse: def.responseDeserialize,
        requestFromPartial: (v: unknown) => request.fromPartial(v),
        responseFromPartial: (v: unknown) => response.fromPartial(v),
      };
    }
  }
  // The mapped types above and this loop walk the same definitions.
  return table as { readonly [M in CsiMethod]: CsiMethodInfo<M> };
}

/** Every unary method of Identity, Controller, Node and GroupController. */
export const CSI_METHODS = buildMethodTable();

export function csiMethod<M extends CsiMethod>(name: M): CsiMethodInfo<M> {
  return CSI_METHODS[name] as CsiMethodInfo<M>;
}
