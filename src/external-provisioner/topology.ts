/**
 * Topology for the provisioner: the CSI `accessibility_requirements` sent with CreateVolume and the PV node
 * affinity built from the `accessible_topology` the driver answers with.
 *
 * The module is pure: the caller hands in what its informers hold (Nodes, CSINodes), the StorageClass and the PVC,
 * plus the per-PVC retry record it keeps between attempts. Nothing here reads the API server.
 */
import type { V1NodeSelectorRequirement, V1NodeSelectorTerm, V1VolumeNodeAffinity } from '@kubernetes/client-node';
import type { Topology, TopologyRequirement } from '../gen/csi.js';

/** One `key = value` pair of a topology term. */
export type TopologySegment = readonly [key: string, value: string];

/**
 * A conjunction of segments, kept sorted by key (then value) so that terms compare and de-duplicate by value,
 * which is what makes the requisite list stable across retries.
 */
export type TopologyTerm = readonly TopologySegment[];

/** The Node fields used here; client-node's V1Node fits. */
export interface TopologyNode {
  metadata?: { name?: string; labels?: Record<string, string> };
}

/** The CSINode fields used here; client-node's V1CSINode fits. */
export interface TopologyCSINode {
  metadata?: { name?: string };
  spec: { drivers: readonly { name: string; topologyKeys?: readonly string[] }[] };
}

/** One `allowedTopologies` entry of a StorageClass; client-node's V1TopologySelectorTerm fits. */
export interface TopologySelectorTerm {
  matchLabelExpressions?: readonly { key: string; values: readonly string[] }[];
}

/**
 * The StorageClass fields used here; client-node's V1StorageClass fits. `volumeBindingMode` is deliberately not
 * read: like upstream, late binding is recognised by the presence of a selected node alone.
 */
export interface TopologyStorageClass {
  allowedTopologies?: readonly TopologySelectorTerm[];
}

/**
 * What one PVC's earlier attempts saw (upstream `pvcNodeStore`, since v6.0). Reusing it keeps a retried
 * CreateVolume on the same topology after the selected Node/CSINode went away or changed. The caller keeps one
 * object per PVC UID, passes it on every attempt (this module fills it in, also on failed attempts) and drops it on
 * success, on a final error and on reschedule.
 */
export interface TopologyRetryRecord {
  topologyKeys?: readonly string[];
  nodeLabels?: Readonly<Record<string, string>>;
  requisite?: readonly TopologyTerm[];
  preferred?: readonly TopologyTerm[];
}

export interface AccessibilityRequirementsOptions {
  driverName: string;
  /** The driver has VOLUME_ACCESSIBILITY_CONSTRAINTS (and the Topology feature gate is on). */
  supportsTopology: boolean;
  /** `--strict-topology`. */
  strictTopology: boolean;
  /** `--immediate-topology`. */
  immediateTopology: boolean;
  /** Name of the PVC: the StatefulSet ordinal in it spreads immediate-binding volumes. */
  pvcName: string;
  storageClass: TopologyStorageClass;
  /** The `volume.kubernetes.io/selected-node` annotation; empty or absent for immediate binding. */
  selectedNodeName?: string;
  /** All Nodes (informer contents). */
  nodes: readonly TopologyNode[];
  /** All CSINodes (informer contents). */
  csiNodes: readonly TopologyCSINode[];
  /** The PVC's retry record; without one, nothing is remembered between attempts. */
  retryRecord?: TopologyRetryRecord;
  /** Random source in [0, 1) for the choices upstream leaves to chance; defaults to Math.random. */
  random?: () => number;
}

/**
 * The selected node has no CSINode and no earlier attempt remembered its topology keys. Upstream returns the
 * lister's NotFound error here, wrapped, which makes the caller ask the scheduler for another node
 * (ProvisioningReschedule) with this text as the event.
 */
export class CSINodeNotFoundError extends Error {
  readonly nodeName: string;

  constructor(nodeName: string) {
    super(`failed to get selected CSINode ${nodeName}: csinode.storage.k8s.io "${nodeName}" not found`);
    this.name = 'CSINodeNotFoundError';
    this.nodeName = nodeName;
  }
}

/**
 * The CSI TopologyRequirement for CreateVolume, or undefined when none is to be sent (driver without topology,
 * immediate binding without allowedTopologies and `--immediate-topology=false`, or allowedTopologies that flatten to
 * nothing). Throws CSINodeNotFoundError (reschedule) or a plain Error (retry with backoff).
 */
export function generateAccessibilityRequirements(
  options: AccessibilityRequirementsOptions,
): TopologyRequirement | undefined {
  if (!options.supportsTopology) return undefined;
  const record = options.retryRecord ?? {};
  const random = options.random ?? Math.random;
  const selectedNodeName = options.selectedNodeName ?? '';
  const allowed = options.storageClass.allowedTopologies ?? [];

  const selected = selectedNodeName === '' ? undefined : selectedNodeTopology(options, selectedNodeName, record);
  let requisite: TopologyTerm[];
  if (selected !== undefined && options.strictTopology) {
    requireAllowed(selectedNodeName, selected.term, allowed);
    requisite = [selected.term];
  } else if (allowed.length > 0) {
    requisite = flattenAllowedTopologies(allowed);
  } else if (selected === undefined && !options.immediateTopology) {
    // Neither the class nor the claim restricts placement and the driver does not want the cluster's topology.
    return undefined;
  } else {
    requisite = aggregateTopologies(options, selected?.keys, record, random);
    if (requisite.length === 0) throw new Error('no available topology found');
  }
  // An allowedTopologies whose expressions have no values flattens to nothing: upstream then sends no requirement.
  if (requisite.length === 0) return undefined;

  requisite = sortAndCompact(requisite);
  const preferred = preferredTerms(options, selectedNodeName, selected?.term, requisite, record, random);
  return { requisite: toCSITopology(requisite), preferred: toCSITopology(preferred) };
}

interface SelectedTopology {
  keys: readonly string[];
  term: TopologyTerm;
}

/** Late binding: the driver's keys on the selected node's CSINode and that node's values for them. */
function selectedNodeTopology(
  options: AccessibilityRequirementsOptions,
  nodeName: string,
  record: TopologyRetryRecord,
): SelectedTopology {
  const keys = selectedNodeKeys(options, nodeName, record);
  if (keys.length === 0) {
    // The node plugin is not deployed there or has not registered yet; a retry (or another node) may do better.
    throw new Error(`no topology key found for node ${nodeName}`);
  }
  const labels = selectedNodeLabels(options, nodeName, record);
  const term = labels === undefined ? undefined : termFromLabels(labels, keys);
  if (term === undefined) {
    // Upstream prints the labels it gave up on, which are always nil at that point.
    throw new Error(
      `topology labels from selected node map[] does not match topology keys from CSINode ${goList(keys)}`,
    );
  }
  return { keys, term };
}

/*
 * As upstream, what an earlier attempt of this claim read wins over the caches: a node plugin re-registering (its
 * CSINode entry briefly gone) or relabelled nodes between retries must not change the request of a CreateVolume
 * that may still be running. Only non-empty values are remembered.
 */
function selectedNodeKeys(
  options: AccessibilityRequirementsOptions,
  nodeName: string,
  record: TopologyRetryRecord,
): readonly string[] {
  if (record.topologyKeys !== undefined && record.topologyKeys.length > 0) return record.topologyKeys;
  const csiNode = options.csiNodes.find((c) => c.metadata?.name === nodeName);
  if (csiNode === undefined) throw new CSINodeNotFoundError(nodeName);
  const keys = driverTopologyKeys(csiNode, options.driverName) ?? [];
  if (keys.length > 0) record.topologyKeys = keys;
  return keys;
}

function selectedNodeLabels(
  options: AccessibilityRequirementsOptions,
  nodeName: string,
  record: TopologyRetryRecord,
): Readonly<Record<string, string>> | undefined {
  if (record.nodeLabels !== undefined && Object.keys(record.nodeLabels).length > 0) return record.nodeLabels;
  const labels = options.nodes.find((n) => n.metadata?.name === nodeName)?.metadata?.labels;
  if (labels !== undefined && Object.keys(labels).length > 0) record.nodeLabels = labels;
  return labels;
}

function driverTopologyKeys(csiNode: TopologyCSINode, driverName: string): readonly string[] | undefined {
  return csiNode.spec.drivers.find((d) => d.name === driverName)?.topologyKeys;
}

/** The node's term for these keys, or undefined when a key is not among its labels. */
function termFromLabels(labels: Readonly<Record<string, string>>, keys: readonly string[]): TopologyTerm | undefined {
  const term: TopologySegment[] = [];
  for (const key of keys) {
    if (!Object.hasOwn(labels, key)) return undefined;
    term.push([key, labels[key]]);
  }
  return sortTerm(term);
}

/** Strict topology: the selected node must lie inside one of the allowed terms. */
function requireAllowed(nodeName: string, term: TopologyTerm, allowed: readonly TopologySelectorTerm[]): void {
  if (allowed.length === 0) return;
  const flattened = flattenAllowedTopologies(allowed);
  if (flattened.some((t) => isSubset(t, term))) return;
  throw new Error(
    `selected node '"${nodeName}"' topology '${goTerm(term)}' is not in allowed topologies: ${goList(flattened.map(goTerm))}`,
  );
}

/**
 * allowedTopologies is an OR of terms, each an AND of keys, each an OR of values; CSI wants an OR of ANDs. Each
 * term's value lists are multiplied out into the cartesian product, e.g. zone in {1,2} AND rack in {A,B} gives
 * (1,A) (2,A) (1,B) (2,B). Upstream's order of the product and its quirk are kept: an expression without values
 * drops what was built so far, so the next expression starts the product afresh.
 */
function flattenAllowedTopologies(allowed: readonly TopologySelectorTerm[]): TopologyTerm[] {
  const result: TopologyTerm[] = [];
  for (const selectorTerm of allowed) {
    let partial: TopologyTerm[] = [];
    for (const { key, values } of selectorTerm.matchLabelExpressions ?? []) {
      partial = values.flatMap((value): TopologyTerm[] => {
        const segment: TopologySegment = [key, value];
        return partial.length === 0 ? [[segment]] : partial.map((term) => [...term, segment]);
      });
    }
    result.push(...partial.map(sortTerm));
  }
  return result;
}

/**
 * Every distinct term that Nodes carrying all the topology keys have. The keys come from the selected node or, for
 * immediate binding, from a random CSINode that has keys for this driver.
 */
function aggregateTopologies(
  options: AccessibilityRequirementsOptions,
  selectedKeys: readonly string[] | undefined,
  record: TopologyRetryRecord,
  random: () => number,
): TopologyTerm[] {
  const keys = selectedKeys ?? keysFromAnyCSINode(options, record, random);
  if (keys.length === 0) return [];
  if (record.requisite !== undefined && record.requisite.length > 0) return [...record.requisite];

  const terms = options.nodes.flatMap((node) => {
    const term = termFromLabels(node.metadata?.labels ?? {}, keys);
    return term === undefined ? [] : [term];
  });
  if (terms.length === 0) throw new Error(`topologyKeys ${goList(keys)} were not found on any nodes`);
  record.requisite = terms;
  return terms;
}

function keysFromAnyCSINode(
  options: AccessibilityRequirementsOptions,
  record: TopologyRetryRecord,
  random: () => number,
): readonly string[] {
  if (record.topologyKeys !== undefined && record.topologyKeys.length > 0) return record.topologyKeys;
  // Upstream shuffles before taking the first CSINode with keys, so mixed key sets are chosen at random.
  for (const csiNode of shuffled(options.csiNodes, random)) {
    const keys = driverTopologyKeys(csiNode, options.driverName) ?? [];
    if (keys.length > 0) {
      record.topologyKeys = keys;
      return keys;
    }
  }
  return [];
}

function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const copy = [...items];
  for (let i = copy.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy;
}

/** The requisite list, rotated so the term the driver should try first leads. */
function preferredTerms(
  options: AccessibilityRequirementsOptions,
  selectedNodeName: string,
  selectedTerm: TopologyTerm | undefined,
  requisite: TopologyTerm[],
  record: TopologyRetryRecord,
  random: () => number,
): readonly TopologyTerm[] {
  if (selectedTerm === undefined) {
    // Immediate binding: spread StatefulSet replicas over the terms, one step per ordinal.
    const { hash, index } = pvcNameHashAndIndex(options.pvcName, random);
    return rotate(requisite, ((hash + index) >>> 0) % requisite.length);
  }
  if (options.strictTopology) return requisite;
  if (record.preferred !== undefined && record.preferred.length > 0) return record.preferred;
  const first = requisite.findIndex((term) => isSubset(term, selectedTerm));
  if (first < 0) {
    // Not reachable in practice: the scheduler honours allowedTopologies and aggregation includes the node itself.
    throw new Error(
      `topology ${goTerm(selectedTerm)} from selected node "${selectedNodeName}" is not in requisite: ${goList(requisite.map(goTerm))}`,
    );
  }
  const preferred = rotate(requisite, first);
  record.preferred = preferred;
  return preferred;
}

function rotate<T>(items: readonly T[], start: number): T[] {
  return [...items.slice(start), ...items.slice(0, start)];
}

/**
 * The in-tree spreading heuristic (kubernetes pkg/volume/util): StatefulSet claims are named
 * `<claim>-<set>-<ordinal>`; hashing only `<set>` and adding the ordinal puts the replicas of one set on
 * consecutive terms while the claims of one replica stay together. Names without an ordinal hash whole.
 */
function pvcNameHashAndIndex(pvcName: string, random: () => number): { hash: number; index: number } {
  if (pvcName === '') return { hash: Math.floor(random() * 2 ** 32), index: 0 };
  const lastDash = pvcName.lastIndexOf('-');
  const ordinal = lastDash < 0 ? undefined : parseUint32(pvcName.slice(lastDash + 1));
  if (ordinal === undefined) return { hash: fnv1Hash32(pvcName), index: 0 };
  const prefix = pvcName.slice(0, lastDash);
  return { hash: fnv1Hash32(prefix.slice(prefix.lastIndexOf('-') + 1)), index: ordinal };
}

/** Go's strconv.ParseUint(s, 10, 32): decimal digits only, at most 2^32-1. */
function parseUint32(text: string): number | undefined {
  if (!/^[0-9]+$/.test(text)) return undefined;
  const value = Number(text);
  return value <= 0xffff_ffff ? value : undefined;
}

/** 32-bit FNV-1 (multiply, then xor) over the UTF-8 bytes, as Go's hash/fnv New32. */
function fnv1Hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(text)) {
    hash = Math.imul(hash, 0x01000193) ^ byte;
  }
  return hash >>> 0;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortTerm(term: readonly TopologySegment[]): TopologyTerm {
  return [...term].sort((a, b) => compareStrings(a[0], b[0]) || compareStrings(a[1], b[1]));
}

/** Shorter terms first, then segment by segment; the order upstream sorts requisite terms in. */
function compareTerms(a: TopologyTerm, b: TopologyTerm): number {
  if (a.length !== b.length) return a.length - b.length;
  for (let i = 0; i < a.length; i++) {
    const order = compareStrings(a[i][0], b[i][0]) || compareStrings(a[i][1], b[i][1]);
    if (order !== 0) return order;
  }
  return 0;
}

function sortAndCompact(terms: readonly TopologyTerm[]): TopologyTerm[] {
  const sorted = [...terms].sort(compareTerms);
  return sorted.filter((term, i) => i === 0 || compareTerms(term, sorted[i - 1]) !== 0);
}

/**
 * Whether every segment of `sub` is in `of` (both sorted), e.g. an allowed term {zone} within a node's
 * {rack, zone}. Walks both lists once like upstream, so a key repeated in `sub` never matches.
 */
function isSubset(sub: TopologyTerm, of: TopologyTerm): boolean {
  if (sub.length === 0) return true;
  let matched = 0;
  for (const [key, value] of of) {
    const [wantedKey, wantedValue] = sub[matched];
    if (key !== wantedKey) continue;
    if (value !== wantedValue) return false;
    matched++;
    if (matched === sub.length) return true;
  }
  return false;
}

function toCSITopology(terms: readonly TopologyTerm[]): Topology[] {
  return terms.filter((term) => term.length > 0).map((term) => ({ segments: Object.fromEntries(term) }));
}

/** Go's %v of a []string, for error messages worded like upstream's. */
function goList(items: readonly string[]): string {
  return `[${items.join(' ')}]`;
}

/** Go's %v of a topologyTerm. */
function goTerm(term: TopologyTerm): string {
  return goList(term.map(([key, value]) => `{${key} ${value}}`));
}

/**
 * The PV's node affinity for the topologies the driver reports the volume accessible from: one node selector term
 * per topology (OR), one `In` expression per segment (AND), expressions sorted by key because upstream's order
 * follows Go map iteration and is therefore random. Topologies without segments are skipped.
 *
 * Deliberate difference: when every topology is empty upstream still returns an affinity with no terms, which the
 * API server rejects; undefined (no affinity) is returned instead.
 */
export function nodeAffinityFromAccessibleTopology(options: {
  accessibleTopology: readonly Topology[] | undefined;
}): V1VolumeNodeAffinity | undefined {
  const terms = (options.accessibleTopology ?? [])
    .map((topology) => Object.entries(topology.segments))
    .filter((segments) => segments.length > 0)
    .map((segments): V1NodeSelectorTerm => ({ matchExpressions: segments.sort(bySegmentKey).map(inExpression) }));
  if (terms.length === 0) return undefined;
  return { required: { nodeSelectorTerms: terms } };
}

function bySegmentKey(a: readonly [string, string], b: readonly [string, string]): number {
  return compareStrings(a[0], b[0]);
}

function inExpression([key, value]: readonly [string, string]): V1NodeSelectorRequirement {
  return { key, operator: 'In', values: [value] };
}
