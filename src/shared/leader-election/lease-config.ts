import { readFileSync } from 'node:fs';

const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

/**
 * Makes a lock name or identity usable as a Lease name and holder identity
 * the way csi-lib-utils does, so TS and Go replicas of one sidecar compete
 * for the same Lease: every character outside [a-zA-Z0-9-] becomes '-', and
 * a trailing '-' gets an 'X' appended.
 */
export function sanitizeLeaseName(name: string): string {
  const replaced = name.replace(/[^a-zA-Z0-9-]/g, '-');
  return replaced.endsWith('-') ? `${replaced}X` : replaced;
}

export interface NamespaceSources {
  env?: NodeJS.ProcessEnv;
  /** Returns the file's text, or undefined when it cannot be read. */
  readFile?: (path: string) => string | undefined;
}

/**
 * The Lease namespace: the --leader-election-namespace value, else
 * POD_NAMESPACE, else the service account's namespace file, else "default".
 */
export function leaseNamespace(flagValue: string, sources: NamespaceSources = {}): string {
  if (flagValue !== '') return flagValue;
  const env = sources.env ?? process.env;
  const fromEnv = env.POD_NAMESPACE;
  if (fromEnv) return fromEnv;
  const readFile = sources.readFile ?? readTextFile;
  const fromFile = readFile(SERVICE_ACCOUNT_NAMESPACE_FILE)?.trim();
  if (fromFile) return fromFile;
  return 'default';
}

function readTextFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Parses --leader-election-labels ("k:v,k2:v2"). Like csi-lib-utils, every
 * comma-separated item must split into exactly two parts at ':'; nothing is
 * trimmed. An empty value means no labels (Go rejects an explicit empty value;
 * here the default and an empty flag look the same).
 */
export function parseLeaderElectionLabels(value: string): Record<string, string> {
  const labels: Record<string, string> = {};
  if (value === '') return labels;
  for (const item of value.split(',')) {
    const parts = item.split(':');
    if (parts.length !== 2) throw new Error(`malformed item in list of labels: ${item}`);
    labels[parts[0]] = parts[1];
  }
  return labels;
}
