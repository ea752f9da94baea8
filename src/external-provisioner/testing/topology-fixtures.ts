import type { Topology } from '../../gen/csi.js';
import type { AccessibilityRequirementsOptions, TopologyCSINode, TopologyNode } from '../topology.js';

export const driverName = 'com.example.csi/test-driver';
export const zone = 'com.example.csi/zone';
export const rack = 'com.example.csi/rack';
export const disk = 'com.example.csi/disk';

/** Nodes node-0, node-1, … with these labels; node-0 is the selected node where a case has one. */
export function buildNodes(labels: readonly Record<string, string>[]): TopologyNode[] {
  return labels.map((l, i) => ({ metadata: { name: `node-${i}`, labels: l } }));
}

/**
 * CSINodes node-0, node-1, … whose entry for the test driver has these keys (undefined: the driver is not
 * registered there). Every CSINode also lists another driver, whose keys must never be used.
 */
export function buildCSINodes(keys: readonly (readonly string[] | null | undefined)[]): TopologyCSINode[] {
  return keys.map((k, i) => ({
    metadata: { name: `node-${i}` },
    spec: {
      drivers: [
        { name: 'com.example.another', topologyKeys: ['com.example.another/zone'] },
        ...(k === undefined ? [] : [{ name: driverName, ...(k === null ? {} : { topologyKeys: k }) }]),
      ],
    },
  }));
}

export function topo(segments: Record<string, string>): Topology {
  return { segments };
}

export function zones(...values: string[]): Topology[] {
  return values.map((v) => topo({ [zone]: v }));
}

export function options(overrides: Partial<AccessibilityRequirementsOptions>): AccessibilityRequirementsOptions {
  return {
    driverName,
    supportsTopology: true,
    strictTopology: false,
    immediateTopology: true,
    pvcName: 'testpvc',
    storageClass: {},
    nodes: [],
    csiNodes: [],
    random: () => 0,
    ...overrides,
  };
}

export const withWithout = [true, false] as const;

/** Runs `check` once per combination of --strict-topology and --immediate-topology. */
export function forFlagCombinations(check: (strictTopology: boolean, immediateTopology: boolean) => void): void {
  for (const strictTopology of withWithout) {
    for (const immediateTopology of withWithout) {
      check(strictTopology, immediateTopology);
    }
  }
}

export function zoneKeysOf(count: number): string[][] {
  return Array.from({ length: count }, () => [zone]);
}

export function byZone(a: Topology, b: Topology): number {
  return (a.segments[zone] ?? '').localeCompare(b.segments[zone] ?? '');
}

/** Reference FNV-1 32 (Go hash/fnv New32) written independently of the module, for the edge-case names. */
export function referenceFnv1(text: string): bigint {
  let hash = 2166136261n;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash = ((hash * 16777619n) % 2n ** 32n) ^ BigInt(byte);
  }
  return hash;
}

export function rotateExpected(sorted: Topology[], hashed: string, index = 0): Topology[] {
  const start = Number(((referenceFnv1(hashed) + BigInt(index)) % 2n ** 32n) % BigInt(sorted.length));
  return [...sorted.slice(start), ...sorted.slice(0, start)];
}
