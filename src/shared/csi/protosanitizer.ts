import {
  BlockMetadataType,
  ControllerServiceCapability_RPC_Type,
  GroupControllerServiceCapability_RPC_Type,
  NodeServiceCapability_RPC_Type,
  PluginCapability_Service_Type,
  PluginCapability_VolumeExpansion_Type,
  VolumeCapability_AccessMode_Mode,
  VolumeUsage_Unit,
} from '../../gen/csi.js';

/*
 * Renders ts-proto CSI messages like csi-lib-utils' protosanitizer: one-line
 * JSON, proto field names, keys sorted (Go marshals maps sorted), only set
 * fields (proto3 defaults omitted, set sub-messages kept even when empty),
 * oneofs as their member field, int64 as JSON numbers, and every `secrets`
 * field replaced by "***stripped***".
 *
 * ts-proto keeps no descriptors at run time, so the few places that need the
 * schema are listed here from csi.proto v1.12:
 * - secrets: all 19 csi_secret fields are named `secrets` (scripts/generate.mjs
 *   fails the build otherwise); redaction by name applies at any depth.
 * - map fields: their keys are data and are kept verbatim.
 * - wrapper fields (BoolValue/Int64Value) render as `{"value":…}` like Go does.
 * - enums render by value name when the field can be identified from its
 *   parent field; `rpc.type` needs the root message name (`…GetCapabilitiesResponse`)
 *   to pick the service, otherwise it stays numeric. Unknown values stay numeric.
 * Limits: a plain object that is not a map field is treated as a message (its
 * keys are converted to snake_case); bytes fields render as base64 as in Go.
 */

const STRIPPED = '***stripped***';
const SECRET_FIELD = 'secrets';

const MAP_FIELDS = new Set([
  'manifest',
  'mutable_parameters',
  'parameters',
  'publish_context',
  'segments',
  'volume_context',
]);

const WRAPPER_FIELDS = new Set(['ready', 'maximum_volume_size', 'minimum_volume_size']);

type EnumNames = ReadonlyMap<number, string>;

function enumNames(values: Readonly<Record<string, number>>): EnumNames {
  const names = new Map<number, string>();
  for (const [name, value] of Object.entries(values)) if (value >= 0) names.set(value, name);
  return names;
}

/** Enum fields keyed by `<parent field>.<field>`, or by the field alone when its name is unique. */
const ENUM_FIELDS = new Map<string, EnumNames>([
  ['service.type', enumNames(PluginCapability_Service_Type)],
  ['volume_expansion.type', enumNames(PluginCapability_VolumeExpansion_Type)],
  ['access_mode.mode', enumNames(VolumeCapability_AccessMode_Mode)],
  ['usage.unit', enumNames(VolumeUsage_Unit)],
  ['block_metadata_type', enumNames(BlockMetadataType)],
]);

/** `rpc.type` by the root message's service prefix (GroupController before Controller). */
const RPC_TYPES: readonly (readonly [string, EnumNames])[] = [
  ['GroupController', enumNames(GroupControllerServiceCapability_RPC_Type)],
  ['Controller', enumNames(ControllerServiceCapability_RPC_Type)],
  ['Node', enumNames(NodeServiceCapability_RPC_Type)],
];

export interface StripSecretsOptions {
  /** Root message type, e.g. `NodeGetCapabilitiesResponse`; resolves `rpc.type` enum names. */
  messageName?: string;
}

interface Context {
  readonly rpcTypes: EnumNames | undefined;
  readonly seen: Set<object>;
}

/** One-line JSON of a CSI message (or any value) with every secret replaced. */
export function stripSecrets(message: unknown, options: StripSecretsOptions = {}): string {
  const root = options.messageName ?? '';
  const ctx: Context = {
    rpcTypes: RPC_TYPES.find(([prefix]) => root.startsWith(prefix))?.[1],
    seen: new Set(),
  };
  if (message === undefined || message === null) return 'null';
  if (isRecord(message)) return JSON.stringify(renderMessage(message, '', ctx));
  if (Array.isArray(message)) return JSON.stringify(message.map((m) => renderElement(m, '', '', ctx)));
  return JSON.stringify(renderScalar(message, '', '', ctx) ?? null);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function isOneof(value: unknown): value is { $case: string; value: unknown } {
  return isRecord(value) && typeof value.$case === 'string' && 'value' in value;
}

function snakeCase(name: string): string {
  return name.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}

function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === '' || value === 0 || value === false || value === 0n) {
    return true;
  }
  if (Array.isArray(value) || value instanceof Uint8Array) return value.length === 0;
  return false;
}

function sorted(entries: [string, unknown][]): Record<string, unknown> {
  entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(entries);
}

/** parent: proto name of the field holding this message ('' at the root). */
function renderMessage(message: Record<string, unknown>, parent: string, ctx: Context): unknown {
  if (ctx.seen.has(message)) return '[Circular]';
  ctx.seen.add(message);
  const out: [string, unknown][] = [];
  for (const [key, raw] of Object.entries(message)) {
    // A set oneof member is rendered as its own field, even with a default value.
    const [name, value, always] = isOneof(raw) ? [snakeCase(raw.$case), raw.value, true] : [snakeCase(key), raw, false];
    const rendered = renderField(name, value, parent, always, ctx);
    if (rendered !== undefined) out.push([name, rendered]);
  }
  ctx.seen.delete(message);
  return sorted(out);
}

/** Returns undefined when the field is unset and must be left out. */
function renderField(name: string, value: unknown, parent: string, always: boolean, ctx: Context): unknown {
  if (value === undefined || value === null) return undefined;
  if (name === SECRET_FIELD) {
    if (isRecord(value)) return Object.keys(value).length > 0 ? STRIPPED : undefined;
    return always || !isEmpty(value) ? STRIPPED : undefined;
  }
  if (WRAPPER_FIELDS.has(name) && !isRecord(value)) {
    return isEmpty(value) ? {} : { value: renderScalar(value, name, parent, ctx) };
  }
  if (MAP_FIELDS.has(name) && isRecord(value)) {
    const entries = Object.entries(value).map(([k, v]): [string, unknown] => [k, renderElement(v, name, parent, ctx)]);
    return entries.length > 0 ? sorted(entries) : undefined;
  }
  if (Array.isArray(value)) {
    return value.length > 0 ? value.map((v) => renderElement(v, name, parent, ctx)) : undefined;
  }
  if (isRecord(value)) return renderMessage(value, name, ctx);
  if (!always && isEmpty(value)) return undefined;
  return renderScalar(value, name, parent, ctx);
}

/** A list element or map value: messages recurse, scalars render without the default check. */
function renderElement(value: unknown, name: string, parent: string, ctx: Context): unknown {
  if (isRecord(value)) return renderMessage(value, name, ctx);
  if (Array.isArray(value)) return value.map((v) => renderElement(v, name, parent, ctx));
  return renderScalar(value, name, parent, ctx) ?? null;
}

function renderScalar(value: unknown, name: string, parent: string, ctx: Context): unknown {
  if (typeof value === 'bigint') return JSON.rawJSON(value.toString());
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (typeof value === 'number') {
    const names = ENUM_FIELDS.get(name) ?? ENUM_FIELDS.get(`${parent}.${name}`);
    const enumType = names ?? (parent === 'rpc' && name === 'type' ? ctx.rpcTypes : undefined);
    return enumType?.get(value) ?? value;
  }
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'function' || typeof value === 'symbol') return undefined;
  return String(value);
}
