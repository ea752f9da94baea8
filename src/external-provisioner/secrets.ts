// Secret references in StorageClass parameters: which keys name which secret,
// how their templates expand, and the validation upstream applies. The error
// texts end up in ProvisioningFailed events, so they match upstream's wording.

import { goQuote } from '../shared/text/go-format.js';

/**
 * StorageClass parameters under this prefix are for the provisioner, never for
 * the driver. Defined here rather than in parameters.ts so the two modules do
 * not import each other.
 */
export const CSI_PARAMETER_PREFIX = 'csi.storage.k8s.io/';

export interface SecretReference {
  name: string;
  namespace: string;
}

/** The parts of a claim that templates may use; absent when no claim is known (some delete paths). */
export interface TemplateClaim {
  name: string;
  namespace: string;
  annotations?: Readonly<Record<string, string>>;
}

interface SecretKeys {
  /** Upstream's label for the secret type, used in error messages. */
  label: string;
  nameKey: string;
  namespaceKey: string;
  /** Pre-prefix keys still honoured (with a warning) for the four oldest secret types. */
  deprecatedNameKey?: string;
  deprecatedNamespaceKey?: string;
}

function prefixed(label: string, stem: string, deprecatedStem?: string): SecretKeys {
  return {
    label,
    nameKey: `${CSI_PARAMETER_PREFIX}${stem}-secret-name`,
    namespaceKey: `${CSI_PARAMETER_PREFIX}${stem}-secret-namespace`,
    ...(deprecatedStem !== undefined && {
      deprecatedNameKey: `csi${deprecatedStem}SecretName`,
      deprecatedNamespaceKey: `csi${deprecatedStem}SecretNamespace`,
    }),
  };
}

/** Secret types a StorageClass can reference, in the order upstream resolves them. */
export const secretTypes = {
  provisioner: prefixed('Provisioner', 'provisioner', 'Provisioner'),
  controllerPublish: prefixed('ControllerPublish', 'controller-publish', 'ControllerPublish'),
  nodeStage: prefixed('NodeStage', 'node-stage', 'NodeStage'),
  nodePublish: prefixed('NodePublish', 'node-publish', 'NodePublish'),
  controllerExpand: prefixed('ControllerExpand', 'controller-expand'),
  nodeExpand: prefixed('NodeExpand', 'node-expand'),
  controllerModify: prefixed('ControllerModify', 'controller-modify'),
} as const satisfies Record<string, SecretKeys>;

export type SecretType = keyof typeof secretTypes;

/** `csi.storage.k8s.io/secret-name` / `-namespace`: used for every type that has no keys of its own. */
export const defaultSecretKeys: SecretKeys = {
  label: 'Default',
  nameKey: `${CSI_PARAMETER_PREFIX}secret-name`,
  namespaceKey: `${CSI_PARAMETER_PREFIX}secret-namespace`,
};

/** Every reserved key that names a secret (the default pair included). */
export const reservedSecretKeys: readonly string[] = [
  ...Object.values(secretTypes).flatMap((k) => [k.nameKey, k.namespaceKey]),
  defaultSecretKeys.nameKey,
  defaultSecretKeys.namespaceKey,
];

/** Pre-prefix secret keys; they are honoured but, unlike the prefixed keys, still passed to CreateVolume. */
export const deprecatedSecretKeys: readonly string[] = Object.values(secretTypes).flatMap((k: SecretKeys) =>
  k.deprecatedNameKey !== undefined && k.deprecatedNamespaceKey !== undefined
    ? [k.deprecatedNameKey, k.deprecatedNamespaceKey]
    : [],
);

export type Warn = (message: string) => void;

export function deprecationWarning(deprecatedKey: string, replacement: string): string {
  return `"${deprecatedKey}" is deprecated and will be removed in a future release, please use "${replacement}" instead`;
}

interface Templates {
  name: string;
  namespace: string;
}

/**
 * The name and namespace templates of one secret type, or undefined when the
 * StorageClass sets neither. A key that is present counts even when its value
 * is empty, so "name given, namespace empty" reports the empty value.
 */
function secretTemplates(
  keys: SecretKeys,
  parameters: Readonly<Record<string, string>>,
  warn: Warn,
): Templates | undefined {
  const names: string[] = [];
  const namespaces: string[] = [];
  const has = (key: string | undefined): key is string => key !== undefined && Object.hasOwn(parameters, key);
  if (has(keys.deprecatedNameKey)) {
    names.push(parameters[keys.deprecatedNameKey]);
    warn(deprecationWarning(keys.deprecatedNameKey, keys.nameKey));
  }
  if (has(keys.deprecatedNamespaceKey)) {
    namespaces.push(parameters[keys.deprecatedNamespaceKey]);
    warn(deprecationWarning(keys.deprecatedNamespaceKey, keys.namespaceKey));
  }
  if (has(keys.nameKey)) names.push(parameters[keys.nameKey]);
  if (has(keys.namespaceKey)) namespaces.push(parameters[keys.namespaceKey]);

  if (names.length > 1 || namespaces.length > 1) {
    throw new Error(`${keys.label} secrets specified in parameters with both "csi" and "${CSI_PARAMETER_PREFIX}" keys`);
  }
  if (names.length !== namespaces.length) {
    throw new Error(`either name and namespace for ${keys.label} secrets specified, Both must be specified`);
  }
  if (names.length === 0) return undefined;
  if (names[0] === '' || namespaces[0] === '') {
    throw new Error(`${keys.label} secrets specified in parameters but value of either namespace or name is empty`);
  }
  return { name: names[0], namespace: namespaces[0] };
}

const shellSpecial = new Set('*#$@!?-0123456789');
const isAlphaNum = (c: string) => /^[A-Za-z0-9_]$/.test(c);

/**
 * Reads the variable name after a `$` like Go's os.Expand: `${anything}`, a
 * single shell-special character, or a run of [A-Za-z0-9_]. Returns the name
 * ('' for bad syntax or a bare `$`) and how many characters it spans.
 */
function shellName(s: string): { name: string; width: number } {
  if (s[0] === '{') {
    if (s.length > 2 && shellSpecial.has(s[1]) && s[2] === '}') return { name: s[1], width: 3 };
    const close = s.indexOf('}', 1);
    if (close === 1) return { name: '', width: 2 };
    if (close < 0) return { name: '', width: 1 };
    return { name: s.slice(1, close), width: close + 1 };
  }
  if (shellSpecial.has(s[0])) return { name: s[0], width: 1 };
  let i = 0;
  while (i < s.length && isAlphaNum(s[i])) i++;
  return { name: s.slice(0, i), width: i };
}

/** Go's os.Expand: the exact substitution rules upstream's templates rely on. */
function goExpand(template: string, lookup: (name: string) => string): string {
  let out = '';
  let i = 0;
  for (let j = 0; j < template.length; j++) {
    if (template[j] !== '$' || j + 1 >= template.length) continue;
    out += template.slice(i, j);
    const { name, width } = shellName(template.slice(j + 1));
    if (name !== '') out += lookup(name);
    // A `$` followed by no name at all (e.g. "$/") is kept as written; bad `${` syntax is dropped.
    else if (width === 0) out += '$';
    j += width;
    i = j + 1;
  }
  return out + template.slice(i);
}

/**
 * Expands `${token}` / `$token` references from params. Unknown tokens are an
 * error listing all of them, sorted, as upstream's `invalid tokens: [...]`.
 */
export function resolveTemplate(template: string, params: Readonly<Record<string, string>>): string {
  const missing = new Set<string>();
  const resolved = goExpand(template, (name) => {
    if (Object.hasOwn(params, name)) return params[name];
    missing.add(name);
    return '';
  });
  if (missing.size > 0) {
    throw new Error(`invalid tokens: [${[...missing].sort().map(goQuote).join(' ')}]`);
  }
  return resolved;
}

const dns1123LabelRe = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123SubdomainRe = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Namespace names: lower-case alphanumerics and '-', at most 63 characters. */
export function isDns1123Label(value: string): boolean {
  return value.length <= 63 && dns1123LabelRe.test(value);
}

/** Secret names: dot-separated DNS-1123 labels, at most 253 characters. */
export function isDns1123Subdomain(value: string): boolean {
  return value.length <= 253 && dns1123SubdomainRe.test(value);
}

function namespaceTokens(pvName: string, claim: TemplateClaim | undefined): Record<string, string> {
  // Only values the claim's author cannot choose freely may pick the namespace.
  return { 'pv.name': pvName, ...(claim && { 'pvc.namespace': claim.namespace }) };
}

function nameTokens(pvName: string, claim: TemplateClaim | undefined): Record<string, string> {
  const tokens: Record<string, string> = { 'pv.name': pvName };
  if (claim) {
    tokens['pvc.name'] = claim.name;
    tokens['pvc.namespace'] = claim.namespace;
    for (const [key, value] of Object.entries(claim.annotations ?? {})) {
      tokens[`pvc.annotations['${key}']`] = value;
    }
  }
  return tokens;
}

function resolveChecked(
  template: string,
  tokens: Record<string, string>,
  valid: (v: string) => boolean,
  what: string,
): string {
  let resolved: string;
  try {
    resolved = resolveTemplate(template, tokens);
  } catch (err) {
    throw new Error(`error resolving value ${goQuote(template)}: ${(err as Error).message}`);
  }
  if (valid(resolved)) return resolved;
  if (resolved !== template) {
    throw new Error(`${goQuote(template)} resolved to ${goQuote(resolved)} which is not a valid ${what}`);
  }
  throw new Error(`${goQuote(template)} is not a valid ${what}`);
}

export interface SecretReferenceOptions {
  type: SecretType;
  parameters: Readonly<Record<string, string>> | undefined;
  /** Name of the PV being provisioned or deleted (`${pv.name}`). */
  pvName: string;
  /** Claim for the `${pvc.*}` tokens; without it those tokens are unknown. */
  claim?: TemplateClaim;
  /** Receives deprecation warnings for the pre-prefix keys. */
  warn?: Warn;
}

/**
 * The secret of one type a StorageClass references, with templates resolved,
 * or undefined when neither its own keys nor the default pair are set. No
 * secret is read; it may or may not exist.
 */
export function getSecretReference(options: SecretReferenceOptions): SecretReference | undefined {
  const parameters = options.parameters ?? {};
  const warn = options.warn ?? (() => {});
  let templates: Templates | undefined;
  try {
    templates = secretTemplates(secretTypes[options.type], parameters, warn);
  } catch (err) {
    throw new Error(`failed to get name and namespace template from params: ${(err as Error).message}`);
  }
  if (templates === undefined) {
    try {
      templates = secretTemplates(defaultSecretKeys, parameters, warn);
    } catch (err) {
      throw new Error(`failed to get default name and namespace template from params: ${(err as Error).message}`);
    }
  }
  if (templates === undefined) return undefined;

  const namespace = resolveChecked(
    templates.namespace,
    namespaceTokens(options.pvName, options.claim),
    isDns1123Label,
    'namespace name',
  );
  const name = resolveChecked(
    templates.name,
    nameTokens(options.pvName, options.claim),
    isDns1123Subdomain,
    'secret name',
  );
  return { name, namespace };
}

export type SecretReferences = Record<SecretType, SecretReference | undefined>;

/**
 * All secret references of a StorageClass for one volume, resolved in
 * upstream's order so the first error reported is the one upstream reports.
 */
export function getSecretReferences(options: Omit<SecretReferenceOptions, 'type'>): SecretReferences {
  const refs = {} as SecretReferences;
  for (const type of Object.keys(secretTypes) as SecretType[]) {
    refs[type] = getSecretReference({ ...options, type });
  }
  return refs;
}
