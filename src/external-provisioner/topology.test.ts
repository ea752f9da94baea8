import type { V1CSINode, V1Node, V1StorageClass } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Topology } from '../gen/csi.js';
import type {
  AccessibilityRequirementsOptions,
  TopologyCSINode,
  TopologyNode,
  TopologyRetryRecord,
  TopologySelectorTerm,
} from './topology.js';
import {
  CSINodeNotFoundError,
  generateAccessibilityRequirements,
  nodeAffinityFromAccessibleTopology,
} from './topology.js';

const driverName = 'com.example.csi/test-driver';
const zone = 'com.example.csi/zone';
const rack = 'com.example.csi/rack';
const disk = 'com.example.csi/disk';

/** Nodes node-0, node-1, … with these labels; node-0 is the selected node where a case has one. */
function buildNodes(labels: readonly Record<string, string>[]): TopologyNode[] {
  return labels.map((l, i) => ({ metadata: { name: `node-${i}`, labels: l } }));
}

/**
 * CSINodes node-0, node-1, … whose entry for the test driver has these keys (undefined: the driver is not
 * registered there). Every CSINode also lists another driver, whose keys must never be used.
 */
function buildCSINodes(keys: readonly (readonly string[] | null | undefined)[]): TopologyCSINode[] {
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

function topo(segments: Record<string, string>): Topology {
  return { segments };
}

function zones(...values: string[]): Topology[] {
  return values.map((v) => topo({ [zone]: v }));
}

function options(overrides: Partial<AccessibilityRequirementsOptions>): AccessibilityRequirementsOptions {
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

const withWithout = [true, false] as const;

/** Runs `check` once per combination of --strict-topology and --immediate-topology. */
function forFlagCombinations(check: (strictTopology: boolean, immediateTopology: boolean) => void): void {
  for (const strictTopology of withWithout) {
    for (const immediateTopology of withWithout) {
      check(strictTopology, immediateTopology);
    }
  }
}

describe('nodeAffinityFromAccessibleTopology', () => {
  const cases: Record<string, { accessible: Topology[] | undefined; expected: unknown }> = {
    'nil topology': { accessible: undefined, expected: undefined },
    'empty topology list': { accessible: [], expected: undefined },
    'only empty segments (upstream would send an invalid empty term list)': {
      accessible: [topo({}), topo({})],
      expected: undefined,
    },
    'single segment': {
      accessible: zones('zone1'),
      expected: {
        required: { nodeSelectorTerms: [{ matchExpressions: [{ key: zone, operator: 'In', values: ['zone1'] }] }] },
      },
    },
    'multiple segments, expressions sorted by key': {
      accessible: [topo({ [zone]: 'zone1', [rack]: 'rack2' })],
      expected: {
        required: {
          nodeSelectorTerms: [
            {
              matchExpressions: [
                { key: rack, operator: 'In', values: ['rack2'] },
                { key: zone, operator: 'In', values: ['zone1'] },
              ],
            },
          ],
        },
      },
    },
    'multiple topologies keep their order, one term each': {
      accessible: zones('zone2', 'zone1'),
      expected: {
        required: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: zone, operator: 'In', values: ['zone2'] }] },
            { matchExpressions: [{ key: zone, operator: 'In', values: ['zone1'] }] },
          ],
        },
      },
    },
    'topology without segments is skipped': {
      accessible: [topo({}), ...zones('zone1')],
      expected: {
        required: { nodeSelectorTerms: [{ matchExpressions: [{ key: zone, operator: 'In', values: ['zone1'] }] }] },
      },
    },
  };
  for (const [name, tc] of Object.entries(cases)) {
    it(name, () => {
      expect(nodeAffinityFromAccessibleTopology({ accessibleTopology: tc.accessible })).toEqual(tc.expected);
    });
  }
});

describe('allowedTopologies flattening (immediate binding)', () => {
  function term(...expressions: [string, string[]][]): TopologySelectorTerm {
    return { matchLabelExpressions: expressions.map(([key, values]) => ({ key, values })) };
  }
  const zr = (z: string, r: string): Topology => topo({ [zone]: z, [rack]: r });
  // Expected lists are in the sorted order sent to the driver: shorter terms first, then by key and value.
  const cases: Record<string, { allowed: TopologySelectorTerm[]; expected: Topology[] | undefined }> = {
    'single expression, single value': { allowed: [term([zone, ['zone1']])], expected: zones('zone1') },
    'single expression, multiple values': {
      allowed: [term([zone, ['zone1', 'zone2']])],
      expected: zones('zone1', 'zone2'),
    },
    'multiple expressions, single value': {
      allowed: [term([zone, ['zone1']], [rack, ['rackA']])],
      expected: [zr('zone1', 'rackA')],
    },
    'multiple expressions, 1 single value, 1 multiple values': {
      allowed: [term([zone, ['zone1']], [rack, ['rackA', 'rackB']])],
      expected: [zr('zone1', 'rackA'), zr('zone1', 'rackB')],
    },
    'multiple expressions, both multiple values': {
      allowed: [term([zone, ['zone1', 'zone2']], [rack, ['rackA', 'rackB']])],
      expected: [zr('zone1', 'rackA'), zr('zone2', 'rackA'), zr('zone1', 'rackB'), zr('zone2', 'rackB')],
    },
    'multiple terms: single expression, single values': {
      allowed: [term([zone, ['zone1']]), term([rack, ['rackA']])],
      expected: [topo({ [rack]: 'rackA' }), topo({ [zone]: 'zone1' })],
    },
    'multiple terms: single expression, overlapping keys, distinct values': {
      allowed: [term([zone, ['zone1']]), term([zone, ['zone2']])],
      expected: zones('zone1', 'zone2'),
    },
    'multiple terms: single expression, overlapping keys, overlapping values': {
      allowed: [term([zone, ['zone1', 'zone2']]), term([zone, ['zone2', 'zone3']])],
      expected: zones('zone1', 'zone2', 'zone3'),
    },
    'multiple terms: 1 single expression, 1 multiple expressions; contains a subset duplicate (kept)': {
      allowed: [term([zone, ['zone1']]), term([zone, ['zone1', 'zone2']], [rack, ['rackA', 'rackB']])],
      expected: [
        topo({ [zone]: 'zone1' }),
        zr('zone1', 'rackA'),
        zr('zone2', 'rackA'),
        zr('zone1', 'rackB'),
        zr('zone2', 'rackB'),
      ],
    },
    'multiple terms: both contain multiple expressions; an identical duplicate is removed': {
      allowed: [
        term([zone, ['zone1']], [rack, ['rackB']]),
        term([zone, ['zone1', 'zone2']], [rack, ['rackA', 'rackB']]),
      ],
      expected: [zr('zone1', 'rackA'), zr('zone2', 'rackA'), zr('zone1', 'rackB'), zr('zone2', 'rackB')],
    },
    'expression without values restarts the product (upstream quirk)': {
      allowed: [term([zone, ['zone1']], [disk, []], [rack, ['rackA']])],
      expected: [topo({ [rack]: 'rackA' })],
    },
    'terms that flatten to nothing: no requirement at all': {
      allowed: [term(), term([zone, []])],
      expected: undefined,
    },
  };
  for (const [name, tc] of Object.entries(cases)) {
    it(name, () => {
      forFlagCombinations((strictTopology, immediateTopology) => {
        const requirement = generateAccessibilityRequirements(
          options({ storageClass: { allowedTopologies: tc.allowed }, strictTopology, immediateTopology }),
        );
        expect(requirement?.requisite).toEqual(tc.expected);
      });
    });
  }
});

describe('topology aggregation', () => {
  interface AggregationCase {
    nodeLabels: Record<string, string>[];
    topologyKeys: (string[] | null | undefined)[];
    hasSelectedNode?: boolean;
    expectedRequisite?: Topology[];
    expectedStrictRequisite?: Topology[];
    expectedError?: string | typeof CSINodeNotFoundError;
  }
  const zoneKeys = [[zone], [zone], [zone]];
  const cases: Record<string, AggregationCase> = {
    'same keys and values across cluster': {
      nodeLabels: [{ [zone]: 'zone1' }, { [zone]: 'zone1' }, { [zone]: 'zone1' }],
      topologyKeys: zoneKeys,
      expectedRequisite: zones('zone1'),
    },
    'selected node; same keys and values across cluster': {
      hasSelectedNode: true,
      nodeLabels: [{ [zone]: 'zone1' }, { [zone]: 'zone1' }, { [zone]: 'zone1' }],
      topologyKeys: zoneKeys,
      expectedRequisite: zones('zone1'),
    },
    'different values across cluster': {
      nodeLabels: [{ [zone]: 'zone1' }, { [zone]: 'zone2' }, { [zone]: 'zone2' }],
      topologyKeys: zoneKeys,
      expectedRequisite: zones('zone1', 'zone2'),
    },
    'selected node; different values across cluster': {
      hasSelectedNode: true,
      nodeLabels: [{ [zone]: 'zone2' }, { [zone]: 'zone1' }, { [zone]: 'zone2' }],
      topologyKeys: zoneKeys,
      expectedRequisite: zones('zone1', 'zone2'),
      expectedStrictRequisite: zones('zone2'),
    },
    'selected node: different keys across cluster (the selected node decides the keys)': {
      hasSelectedNode: true,
      nodeLabels: [{ [zone]: 'zone1' }, { [zone]: 'zone1', [rack]: 'rackA' }, { [zone]: 'zone1', [rack]: 'rackA' }],
      topologyKeys: [[zone], [zone, rack], [zone, rack]],
      expectedRequisite: zones('zone1'),
    },
    'random node: no nodes': {
      nodeLabels: [],
      topologyKeys: zoneKeys,
      expectedError: `topologyKeys [${zone}] were not found on any nodes`,
    },
    'random node: missing matching node info': {
      nodeLabels: [{ 'com.example.csi/foo': 'bar' }],
      topologyKeys: zoneKeys,
      expectedError: `topologyKeys [${zone}] were not found on any nodes`,
    },
    'random node: no CSINodes': {
      nodeLabels: [{ [zone]: 'zone1' }, { [zone]: 'zone2' }, { [zone]: 'zone2' }],
      topologyKeys: [],
      expectedError: 'no available topology found',
    },
    'random node: driver registered without keys': {
      nodeLabels: [{ [zone]: 'zone1' }, { [zone]: 'zone2' }, { [zone]: 'zone2' }],
      topologyKeys: [null, null, null],
      expectedError: 'no available topology found',
    },
    'random node: driver not registered on any CSINode': {
      nodeLabels: [{ [zone]: 'zone1' }],
      topologyKeys: [undefined, undefined],
      expectedError: 'no available topology found',
    },
    'random node: one node has been upgraded': {
      nodeLabels: [
        { 'com.example.another/zone': 'zone1' },
        { 'com.example.another/zone': 'zone2' },
        { [zone]: 'zone3' },
      ],
      topologyKeys: [null, null, [zone]],
      expectedRequisite: zones('zone3'),
    },
    'random node: node labels already exist without CSINode (all labelled nodes count)': {
      nodeLabels: [{ [zone]: 'zone1' }, { [zone]: 'zone2' }, { [zone]: 'zone3' }],
      topologyKeys: [null, null, [zone]],
      expectedRequisite: zones('zone1', 'zone2', 'zone3'),
    },
    'random node: nodes missing one of several keys are left out': {
      nodeLabels: [{ [zone]: 'zone1', [rack]: 'rackA' }, { [zone]: 'zone2' }, { [rack]: 'rackC' }],
      topologyKeys: [
        [zone, rack],
        [zone, rack],
        [zone, rack],
      ],
      expectedRequisite: [topo({ [zone]: 'zone1', [rack]: 'rackA' })],
    },
    'selected node: missing matching node info': {
      hasSelectedNode: true,
      nodeLabels: [{ 'com.example.csi/foo': 'bar' }],
      topologyKeys: zoneKeys,
      expectedError: `topology labels from selected node map[] does not match topology keys from CSINode [${zone}]`,
    },
    'selected node: no CSINode info (reschedule)': {
      hasSelectedNode: true,
      nodeLabels: [{ [zone]: 'zone1' }, { [zone]: 'zone2' }, { [zone]: 'zone2' }],
      topologyKeys: [],
      expectedError: CSINodeNotFoundError,
    },
    'selected node is missing keys': {
      hasSelectedNode: true,
      nodeLabels: [{ [zone]: 'zone1' }, { [zone]: 'zone2' }, { [zone]: 'zone2' }],
      topologyKeys: [null, null, null],
      expectedError: 'no topology key found for node node-0',
    },
    'selected node without the driver': {
      hasSelectedNode: true,
      nodeLabels: [{ [zone]: 'zone1' }, { [zone]: 'zone2' }],
      topologyKeys: [undefined, [zone]],
      expectedError: 'no topology key found for node node-0',
    },
  };

  for (const [name, tc] of Object.entries(cases)) {
    it(name, () => {
      forFlagCombinations((strictTopology, immediateTopology) => {
        const generate = () =>
          generateAccessibilityRequirements(
            options({
              nodes: buildNodes(tc.nodeLabels),
              csiNodes: buildCSINodes(tc.topologyKeys),
              selectedNodeName: tc.hasSelectedNode ? 'node-0' : undefined,
              strictTopology,
              immediateTopology,
            }),
          );
        if (!immediateTopology && !tc.hasSelectedNode) {
          // Immediate binding without allowedTopologies and --immediate-topology=false: nothing is looked at.
          expect(generate()).toBeUndefined();
          return;
        }
        if (tc.expectedError !== undefined) {
          expect(generate).toThrow(tc.expectedError);
          return;
        }
        const expected = strictTopology ? (tc.expectedStrictRequisite ?? tc.expectedRequisite) : tc.expectedRequisite;
        expect(generate()?.requisite).toEqual(expected);
      });
    });
  }
});

describe('preferred topologies with a selected node (delayed binding)', () => {
  interface PreferredCase {
    allowedTopologies?: TopologySelectorTerm[];
    nodeLabels: Record<string, string>[];
    topologyKeys: (string[] | null | undefined)[];
    expectedPreferred?: Topology[];
    expectedStrictPreferred?: Topology[];
    expectedError?: string | RegExp | typeof CSINodeNotFoundError;
    expectedStrictError?: string;
  }
  const zoneRackAllowed: TopologySelectorTerm[] = [
    {
      matchLabelExpressions: [
        { key: zone, values: ['zone1', 'zone2'] },
        { key: rack, values: ['rackA', 'rackB'] },
      ],
    },
  ];
  const zoneRackNodes = [
    { [zone]: 'zone2', [rack]: 'rackA' },
    { [zone]: 'zone1', [rack]: 'rackA' },
    { [zone]: 'zone1', [rack]: 'rackB' },
  ];
  const zoneRackKeys = [
    [zone, rack],
    [zone, rack],
    [zone, rack],
  ];
  const zr = (z: string, r: string): Topology => topo({ [zone]: z, [rack]: r });
  const cases: Record<string, PreferredCase> = {
    'allowedTopologies specified': {
      allowedTopologies: zoneRackAllowed,
      nodeLabels: zoneRackNodes,
      topologyKeys: zoneRackKeys,
      expectedPreferred: [zr('zone2', 'rackA'), zr('zone1', 'rackB'), zr('zone2', 'rackB'), zr('zone1', 'rackA')],
      expectedStrictPreferred: [zr('zone2', 'rackA')],
    },
    'allowedTopologies specified: no CSINode': {
      allowedTopologies: zoneRackAllowed,
      nodeLabels: zoneRackNodes,
      topologyKeys: [],
      expectedError: CSINodeNotFoundError,
    },
    'allowedTopologies specified: mismatched key': {
      allowedTopologies: zoneRackAllowed,
      nodeLabels: zoneRackNodes,
      topologyKeys: [
        ['com.example.csi/foo', rack],
        ['com.example.csi/foo', rack],
        ['com.example.csi/foo', rack],
      ],
      expectedError: 'topology labels from selected node map[] does not match topology keys from CSINode',
    },
    'topology aggregation': {
      nodeLabels: zoneRackNodes,
      topologyKeys: zoneRackKeys,
      expectedPreferred: [zr('zone2', 'rackA'), zr('zone1', 'rackB'), zr('zone1', 'rackA')],
      expectedStrictPreferred: [zr('zone2', 'rackA')],
    },
    'topology aggregation with no topology info': {
      nodeLabels: [{}, {}, {}],
      topologyKeys: [undefined, undefined, undefined],
      expectedError: 'no topology key found for node node-0',
    },
    'topology from selected node is not in allowedTopologies': {
      allowedTopologies: [{ matchLabelExpressions: [{ key: zone, values: ['zone1'] }] }],
      nodeLabels: [{ [zone]: 'zone2' }, { [zone]: 'zone1' }, { [zone]: 'zone1' }],
      topologyKeys: zoneKeysOf(3),
      expectedError: `topology [{${zone} zone2}] from selected node "node-0" is not in requisite: [[{${zone} zone1}]]`,
      expectedStrictError: `selected node '"node-0"' topology '[{${zone} zone2}]' is not in allowed topologies: [[{${zone} zone1}]]`,
    },
    "allowedTopologies is subset of selected node's topology": {
      allowedTopologies: [
        {
          matchLabelExpressions: [
            { key: disk, values: ['ssd'] },
            { key: zone, values: ['zone1'] },
          ],
        },
      ],
      nodeLabels: [
        { [zone]: 'zone1', [rack]: 'rack1', [disk]: 'ssd' },
        { [zone]: 'zone2', [rack]: 'rack2', [disk]: 'ssd' },
        { [zone]: 'zone2', [rack]: 'rack1', [disk]: 'nvme' },
      ],
      topologyKeys: [
        [zone, rack, disk],
        [zone, rack, disk],
        [zone, rack, disk],
      ],
      expectedPreferred: [topo({ [disk]: 'ssd', [zone]: 'zone1' })],
      expectedStrictPreferred: [topo({ [disk]: 'ssd', [rack]: 'rack1', [zone]: 'zone1' })],
    },
    "allowedTopologies is not the subset of selected node's topology": {
      allowedTopologies: [{ matchLabelExpressions: [{ key: zone, values: ['zone1'] }] }],
      nodeLabels: [
        { [zone]: 'zone10', [rack]: 'rack1' },
        { [zone]: 'zone11', [rack]: 'rack2' },
        { [zone]: 'zone12', [rack]: 'rack1' },
      ],
      topologyKeys: zoneRackKeys,
      expectedError: /is not in (requisite|allowed topologies)/,
    },
  };

  for (const [name, tc] of Object.entries(cases)) {
    it(name, () => {
      forFlagCombinations((strictTopology, immediateTopology) => {
        const generate = () =>
          generateAccessibilityRequirements(
            options({
              storageClass: { allowedTopologies: tc.allowedTopologies },
              nodes: buildNodes(tc.nodeLabels),
              csiNodes: buildCSINodes(tc.topologyKeys),
              selectedNodeName: 'node-0',
              strictTopology,
              immediateTopology,
            }),
          );
        const expectedError = strictTopology ? (tc.expectedStrictError ?? tc.expectedError) : tc.expectedError;
        if (expectedError !== undefined) {
          expect(generate).toThrow(expectedError);
          return;
        }
        const expected = strictTopology ? (tc.expectedStrictPreferred ?? tc.expectedPreferred) : tc.expectedPreferred;
        const requirement = generate();
        expect(requirement?.preferred).toEqual(expected);
        if (strictTopology) expect(requirement?.requisite).toEqual(expected);
      });
    });
  }
});

function zoneKeysOf(count: number): string[][] {
  return Array.from({ length: count }, () => [zone]);
}

describe('StatefulSet spreading (immediate binding)', () => {
  // The rotation comes from FNV-1 of the StatefulSet name ("testset") plus the ordinal; the claim part of
  // `<claim>-<set>-<ordinal>` does not matter. These orders are the ones upstream's tests pin.
  const nodeLabels = [
    { [zone]: 'zone1', [rack]: 'rackA' },
    { [zone]: 'zone2', [rack]: 'rackB' },
    { [zone]: 'zone3', [rack]: 'rackC' },
    { [zone]: 'zone4', [rack]: 'rackD' },
  ];
  const t1 = topo({ [rack]: 'rackA', [zone]: 'zone1' });
  const t2 = topo({ [rack]: 'rackB', [zone]: 'zone2' });
  const t3 = topo({ [rack]: 'rackC', [zone]: 'zone3' });
  const t4 = topo({ [rack]: 'rackD', [zone]: 'zone4' });
  const allowedPair: TopologySelectorTerm[] = [
    {
      matchLabelExpressions: [
        { key: zone, values: ['zone2'] },
        { key: rack, values: ['rackB'] },
      ],
    },
    {
      matchLabelExpressions: [
        { key: zone, values: ['zone1'] },
        { key: rack, values: ['rackA'] },
      ],
    },
  ];
  const cases: Record<string, { pvcName: string; allowedTopologies?: TopologySelectorTerm[]; expected: Topology[] }> = {
    'select index 0 among nodes for pvc with statefulset name:testset and id:1; ignore claimname:testpvcA': {
      pvcName: 'testpvcA-testset-1',
      expected: [t1, t2, t3, t4],
    },
    'select index 0 among nodes for pvc with statefulset name:testset and id:1; ignore claimname:testpvcB': {
      pvcName: 'testpvcB-testset-1',
      expected: [t1, t2, t3, t4],
    },
    'select index 0 among allowedTopologies with single term/multiple requirements': {
      pvcName: 'testpvcC-testset-1',
      allowedTopologies: [
        {
          matchLabelExpressions: [
            { key: zone, values: ['zone1'] },
            { key: rack, values: ['rackA'] },
          ],
        },
      ],
      expected: [t1],
    },
    'select index 1 among nodes for pvc with statefulset name:testset and id:2': {
      pvcName: 'testset-2',
      expected: [t2, t3, t4, t1],
    },
    'select index 1 among allowedTopologies with multiple terms/multiple requirements': {
      pvcName: 'testpvcB-testset-2',
      allowedTopologies: allowedPair,
      expected: [t2, t1],
    },
    'select index 2 among nodes with statefulset name:testset and id:3; ignore claimname:testpvc': {
      pvcName: 'testpvc-testset-3',
      expected: [t3, t4, t1, t2],
    },
    'select index 3 among nodes with statefulset name:testset and id:4; ignore claimname:testpvc': {
      pvcName: 'testpvc-testset-4',
      expected: [t4, t1, t2, t3],
    },
    'ordinal with leading zeros counts as a number': {
      pvcName: 'data-testset-004',
      expected: [t4, t1, t2, t3],
    },
    'ordinal above 2^32-1 is no ordinal: the whole name is hashed': {
      pvcName: 'testset-4294967296',
      expected: rotateExpected([t1, t2, t3, t4], 'testset-4294967296'),
    },
    'huge ordinal wraps like uint32 arithmetic': {
      pvcName: 'testset-4294967295',
      expected: rotateExpected([t1, t2, t3, t4], 'testset', 4294967295),
    },
  };

  for (const [name, tc] of Object.entries(cases)) {
    it(name, () => {
      forFlagCombinations((strictTopology, immediateTopology) => {
        const requirement = generateAccessibilityRequirements(
          options({
            pvcName: tc.pvcName,
            storageClass: { allowedTopologies: tc.allowedTopologies },
            nodes: buildNodes(nodeLabels),
            csiNodes: buildCSINodes(nodeLabels.map(() => [zone, rack])),
            strictTopology,
            immediateTopology,
          }),
        );
        if (!immediateTopology && tc.allowedTopologies === undefined) {
          expect(requirement).toBeUndefined();
          return;
        }
        expect(requirement?.preferred).toEqual(tc.expected);
        // The requisite list itself stays sorted; only the preferred list rotates.
        expect(requirement?.requisite).toEqual([...(requirement?.preferred ?? [])].sort(byZone));
      });
    });
  }

  it('replicas of one StatefulSet walk the terms one by one', () => {
    const firsts = [1, 2, 3, 4, 5].map(
      (ordinal) =>
        generateAccessibilityRequirements(
          options({
            pvcName: `www-web-${ordinal}`,
            nodes: buildNodes(nodeLabels),
            csiNodes: buildCSINodes(nodeLabels.map(() => [zone, rack])),
          }),
        )?.preferred[0]?.segments[zone],
    );
    const start = ['zone1', 'zone2', 'zone3', 'zone4'].indexOf(firsts[0] ?? '');
    expect(firsts).toEqual([0, 1, 2, 3, 4].map((i) => `zone${((start + i) % 4) + 1}`));
  });

  it('claims of one replica land on the same first term', () => {
    const first = (pvcName: string) =>
      generateAccessibilityRequirements(
        options({ pvcName, nodes: buildNodes(nodeLabels), csiNodes: buildCSINodes(nodeLabels.map(() => [zone])) }),
      )?.preferred[0];
    expect(first('data-web-3')).toEqual(first('logs-web-3'));
  });

  it('an empty claim name picks the starting point at random', () => {
    const preferred = (random: () => number) =>
      generateAccessibilityRequirements(
        options({
          pvcName: '',
          random,
          nodes: buildNodes(nodeLabels),
          csiNodes: buildCSINodes(nodeLabels.map(() => [zone, rack])),
        }),
      )?.preferred;
    expect(preferred(() => 0)).toEqual([t1, t2, t3, t4]);
    expect(preferred(() => 3 / 2 ** 32)).toEqual([t4, t1, t2, t3]);
  });
});

function byZone(a: Topology, b: Topology): number {
  return (a.segments[zone] ?? '').localeCompare(b.segments[zone] ?? '');
}

/** Reference FNV-1 32 (Go hash/fnv New32) written independently of the module, for the edge-case names. */
function referenceFnv1(text: string): bigint {
  let hash = 2166136261n;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash = ((hash * 16777619n) % 2n ** 32n) ^ BigInt(byte);
  }
  return hash;
}

function rotateExpected(sorted: Topology[], hashed: string, index = 0): Topology[] {
  const start = Number(((referenceFnv1(hashed) + BigInt(index)) % 2n ** 32n) % BigInt(sorted.length));
  return [...sorted.slice(start), ...sorted.slice(0, start)];
}

describe('flags and driver capability', () => {
  const nodes = buildNodes([{ [zone]: 'zone1' }, { [zone]: 'zone2' }]);
  const csiNodes = buildCSINodes([[zone], [zone]]);

  it('sends nothing when the driver does not support topology, whatever the inputs', () => {
    expect(
      generateAccessibilityRequirements(
        options({ supportsTopology: false, nodes, csiNodes, selectedNodeName: 'node-0', strictTopology: true }),
      ),
    ).toBeUndefined();
    expect(
      generateAccessibilityRequirements(
        options({ supportsTopology: false, selectedNodeName: 'no-such-node', csiNodes: [] }),
      ),
    ).toBeUndefined();
  });

  it('immediate binding, no allowedTopologies, --immediate-topology=false: nil requirement', () => {
    expect(generateAccessibilityRequirements(options({ immediateTopology: false, nodes, csiNodes }))).toBeUndefined();
  });

  it('immediate binding, no allowedTopologies, --immediate-topology=true: the cluster topology', () => {
    expect(generateAccessibilityRequirements(options({ nodes, csiNodes }))?.requisite).toEqual(zones('zone1', 'zone2'));
  });

  it('immediate binding with allowedTopologies ignores --immediate-topology and the nodes', () => {
    const allowedTopologies = [{ matchLabelExpressions: [{ key: zone, values: ['zone9'] }] }];
    for (const immediateTopology of withWithout) {
      expect(
        generateAccessibilityRequirements(
          options({ immediateTopology, storageClass: { allowedTopologies }, nodes: [] }),
        ),
      ).toEqual({ requisite: zones('zone9'), preferred: zones('zone9') });
    }
  });

  it('late binding ignores --immediate-topology=false', () => {
    const requirement = generateAccessibilityRequirements(
      options({ immediateTopology: false, nodes, csiNodes, selectedNodeName: 'node-1' }),
    );
    expect(requirement).toEqual({ requisite: zones('zone1', 'zone2'), preferred: zones('zone2', 'zone1') });
  });

  it('strict topology with a selected node sends only its segment, allowed or not restricted', () => {
    const requirement = generateAccessibilityRequirements(
      options({ strictTopology: true, nodes, csiNodes, selectedNodeName: 'node-1' }),
    );
    expect(requirement).toEqual({ requisite: zones('zone2'), preferred: zones('zone2') });
  });

  it('strict topology accepts a node inside a multi-valued allowed term', () => {
    const allowedTopologies = [{ matchLabelExpressions: [{ key: zone, values: ['zone1', 'zone2'] }] }];
    const requirement = generateAccessibilityRequirements(
      options({
        strictTopology: true,
        storageClass: { allowedTopologies },
        nodes,
        csiNodes,
        selectedNodeName: 'node-1',
      }),
    );
    expect(requirement).toEqual({ requisite: zones('zone2'), preferred: zones('zone2') });
  });

  it('a CSINode missing for the selected node is a CSINodeNotFoundError naming the node', () => {
    const generate = () => generateAccessibilityRequirements(options({ nodes, csiNodes, selectedNodeName: 'node-7' }));
    expect(generate).toThrow(CSINodeNotFoundError);
    expect(generate).toThrow('csinode.storage.k8s.io "node-7" not found');
  });

  it('a Node deleted while its CSINode remains is a plain error (no reschedule)', () => {
    const generate = () =>
      generateAccessibilityRequirements(options({ nodes: nodes.slice(1), csiNodes, selectedNodeName: 'node-0' }));
    expect(generate).toThrow(
      `topology labels from selected node map[] does not match topology keys from CSINode [${zone}]`,
    );
    try {
      generate();
    } catch (error) {
      expect(error).not.toBeInstanceOf(CSINodeNotFoundError);
    }
  });
});

describe('stable output across retries', () => {
  const labels = [
    { [zone]: 'zone3', [rack]: 'rackA' },
    { [zone]: 'zone1', [rack]: 'rackB' },
    { [zone]: 'zone2', [rack]: 'rackA' },
    { [zone]: 'zone1', [rack]: 'rackB' },
    { [zone]: 'zone1', [rack]: 'rackA' },
  ];

  it('the same cluster listed in any order gives the same, de-duplicated, sorted requirement', () => {
    const nodes = buildNodes(labels);
    const csiNodes = buildCSINodes(labels.map(() => [zone, rack]));
    const reference = generateAccessibilityRequirements(options({ nodes, csiNodes, selectedNodeName: 'node-2' }));
    expect(reference?.requisite).toEqual([
      topo({ [rack]: 'rackA', [zone]: 'zone1' }),
      topo({ [rack]: 'rackA', [zone]: 'zone2' }),
      topo({ [rack]: 'rackA', [zone]: 'zone3' }),
      topo({ [rack]: 'rackB', [zone]: 'zone1' }),
    ]);
    expect(reference?.preferred[0]).toEqual(topo({ [rack]: 'rackA', [zone]: 'zone2' }));
    for (const order of [
      [4, 3, 2, 1, 0],
      [2, 0, 4, 1, 3],
    ]) {
      const again = generateAccessibilityRequirements(
        options({
          nodes: order.map((i) => nodes[i]),
          csiNodes: order.map((i) => csiNodes[i]),
          selectedNodeName: 'node-2',
        }),
      );
      expect(again).toEqual(reference);
    }
  });

  it('immediate binding: the same claim name always gets the same rotation', () => {
    const generate = () =>
      generateAccessibilityRequirements(
        options({
          pvcName: 'data-db-2',
          nodes: buildNodes(labels),
          csiNodes: buildCSINodes(labels.map(() => [zone, rack])),
          random: Math.random,
        }),
      );
    const first = generate();
    for (let i = 0; i < 5; i++) expect(generate()).toEqual(first);
  });
});

describe('retry record (upstream pvcNodeStore)', () => {
  const nodeLabels = [
    { [zone]: 'zone1', [rack]: 'rackA' },
    { [zone]: 'zone2', [rack]: 'rackB' },
    { [zone]: 'zone3', [rack]: 'rackC' },
  ];
  const z1 = topo({ [zone]: 'zone1', [rack]: 'rackA' });
  const z2 = topo({ [zone]: 'zone2', [rack]: 'rackB' });
  const z3 = topo({ [zone]: 'zone3', [rack]: 'rackC' });
  const allowedTopologies: TopologySelectorTerm[] = [
    {
      matchLabelExpressions: [
        { key: zone, values: ['zone1'] },
        { key: rack, values: ['rackA'] },
      ],
    },
    {
      matchLabelExpressions: [
        { key: zone, values: ['zone2'] },
        { key: rack, values: ['rackB'] },
      ],
    },
  ];
  interface DeletedNodeCase {
    strictTopology: boolean;
    immediateTopology: boolean;
    allowedTopologies?: TopologySelectorTerm[];
    selectedNode: string;
    expectedRequisite: Topology[];
    expectedPreferred: Topology[];
  }
  const cases: Record<string, DeletedNodeCase> = {
    'delayed-binding, non-strict, without-allowed-topology': {
      strictTopology: false,
      immediateTopology: false,
      selectedNode: 'node-0',
      expectedRequisite: [z1, z2, z3],
      expectedPreferred: [z1, z2, z3],
    },
    'delayed-binding, non-strict, without-allowed-topology, different-order': {
      strictTopology: false,
      immediateTopology: false,
      selectedNode: 'node-1',
      expectedRequisite: [z1, z2, z3],
      expectedPreferred: [z2, z3, z1],
    },
    'delayed-binding, non-strict, with-allowed-topology': {
      strictTopology: false,
      immediateTopology: false,
      allowedTopologies,
      selectedNode: 'node-0',
      expectedRequisite: [z1, z2],
      expectedPreferred: [z1, z2],
    },
    'delayed-binding, strict, without-allowed-topology': {
      strictTopology: true,
      immediateTopology: false,
      selectedNode: 'node-0',
      expectedRequisite: [z1],
      expectedPreferred: [z1],
    },
    'delayed-binding, strict, with-allowed-topology': {
      strictTopology: true,
      immediateTopology: false,
      allowedTopologies,
      selectedNode: 'node-0',
      expectedRequisite: [z1],
      expectedPreferred: [z1],
    },
    'immediate-no-selected-node, non-strict, without-allowed-topology': {
      strictTopology: false,
      immediateTopology: true,
      selectedNode: '',
      expectedRequisite: [z1, z2, z3],
      expectedPreferred: [z3, z1, z2],
    },
    'immediate-no-selected-node, non-strict, with-allowed-topology': {
      strictTopology: false,
      immediateTopology: true,
      allowedTopologies,
      selectedNode: '',
      expectedRequisite: [z1, z2],
      expectedPreferred: [z1, z2],
    },
    'immediate-no-selected-node, strict, without-allowed-topology': {
      strictTopology: true,
      immediateTopology: true,
      selectedNode: '',
      expectedRequisite: [z1, z2, z3],
      expectedPreferred: [z3, z1, z2],
    },
    'immediate-no-selected-node, strict, with-allowed-topology': {
      strictTopology: true,
      immediateTopology: true,
      allowedTopologies,
      selectedNode: '',
      expectedRequisite: [z1, z2],
      expectedPreferred: [z1, z2],
    },
  };

  for (const [name, tc] of Object.entries(cases)) {
    it(`survives deletion of the node: ${name}`, () => {
      const retryRecord: TopologyRetryRecord = {};
      const nodes = buildNodes(nodeLabels);
      const csiNodes = buildCSINodes(nodeLabels.map(() => [zone, rack]));
      const attempt = (n: TopologyNode[], c: TopologyCSINode[]) =>
        generateAccessibilityRequirements(
          options({
            strictTopology: tc.strictTopology,
            immediateTopology: tc.immediateTopology,
            storageClass: { allowedTopologies: tc.allowedTopologies },
            selectedNodeName: tc.selectedNode,
            nodes: n,
            csiNodes: c,
            retryRecord,
          }),
        );
      const first = attempt(nodes, csiNodes);
      const deleted = tc.selectedNode === '' ? 'node-0' : tc.selectedNode;
      const second = attempt(
        nodes.filter((n) => n.metadata?.name !== deleted),
        csiNodes.filter((c) => c.metadata?.name !== deleted),
      );
      expect(second).toEqual(first);
      expect(second?.requisite).toEqual(tc.expectedRequisite);
      expect(second?.preferred).toEqual(tc.expectedPreferred);
    });
  }

  it('without a record the same retry is rescheduled', () => {
    const nodes = buildNodes(nodeLabels);
    const csiNodes = buildCSINodes(nodeLabels.map(() => [zone, rack]));
    expect(() =>
      generateAccessibilityRequirements(
        options({ selectedNodeName: 'node-0', nodes: nodes.slice(1), csiNodes: csiNodes.slice(1) }),
      ),
    ).toThrow(CSINodeNotFoundError);
  });

  it('a new zone appearing between attempts does not change the requirement', () => {
    const retryRecord: TopologyRetryRecord = {};
    const attempt = (labels: Record<string, string>[]) =>
      generateAccessibilityRequirements(
        options({
          selectedNodeName: 'node-0',
          nodes: buildNodes(labels),
          csiNodes: buildCSINodes(labels.map(() => [zone, rack])),
          retryRecord,
        }),
      );
    const first = attempt(nodeLabels);
    expect(attempt([...nodeLabels, { [zone]: 'zone4', [rack]: 'rackD' }])).toEqual(first);
    expect(retryRecord).toEqual({
      topologyKeys: [zone, rack],
      nodeLabels: nodeLabels[0],
      requisite: expect.any(Array),
      preferred: expect.any(Array),
    });
  });

  it('immediate binding keeps the randomly chosen keys of mixed CSINodes', () => {
    const labels = [
      { [zone]: 'zone1', [rack]: 'rackA' },
      { [zone]: 'zone2', [rack]: 'rackB' },
    ];
    const nodes = buildNodes(labels);
    const csiNodes = buildCSINodes([[zone], [zone, rack]]);
    const attempt = (random: () => number, retryRecord?: TopologyRetryRecord) =>
      generateAccessibilityRequirements(options({ nodes, csiNodes, random, retryRecord }))?.requisite;
    // The shuffle decides which CSINode's keys are used.
    expect(attempt(() => 0.99)).toEqual(zones('zone1', 'zone2'));
    expect(attempt(() => 0)).toEqual([z1, z2]);
    const retryRecord: TopologyRetryRecord = {};
    expect(attempt(() => 0.99, retryRecord)).toEqual(zones('zone1', 'zone2'));
    expect(attempt(() => 0, retryRecord)).toEqual(zones('zone1', 'zone2'));
  });

  it('keys and labels are remembered even when the attempt fails', () => {
    const retryRecord: TopologyRetryRecord = {};
    const allowed: TopologySelectorTerm[] = [{ matchLabelExpressions: [{ key: zone, values: ['zone9'] }] }];
    expect(() =>
      generateAccessibilityRequirements(
        options({
          selectedNodeName: 'node-0',
          storageClass: { allowedTopologies: allowed },
          nodes: buildNodes(nodeLabels),
          csiNodes: buildCSINodes(nodeLabels.map(() => [zone, rack])),
          retryRecord,
        }),
      ),
    ).toThrow('is not in requisite');
    expect(retryRecord).toEqual({ topologyKeys: [zone, rack], nodeLabels: nodeLabels[0] });
  });

  it('a missing key in remembered labels is still an error', () => {
    const retryRecord: TopologyRetryRecord = { topologyKeys: [zone, rack], nodeLabels: { [zone]: 'zone1' } };
    expect(() =>
      generateAccessibilityRequirements(options({ selectedNodeName: 'node-0', retryRecord, nodes: [], csiNodes: [] })),
    ).toThrow('does not match topology keys from CSINode');
  });
});

describe('client-node objects', () => {
  it('accepts V1Node, V1CSINode and V1StorageClass as they come from the informers', () => {
    const node: V1Node = { metadata: { name: 'node-a', labels: { [zone]: 'zone1', 'kubernetes.io/os': 'linux' } } };
    const csiNode: V1CSINode = {
      metadata: { name: 'node-a' },
      spec: { drivers: [{ name: driverName, nodeID: 'id-a', topologyKeys: [zone] }] },
    };
    const storageClass: V1StorageClass = {
      metadata: { name: 'fast' },
      provisioner: driverName,
      volumeBindingMode: 'WaitForFirstConsumer',
      allowedTopologies: [{ matchLabelExpressions: [{ key: zone, values: ['zone1'] }] }],
    };
    const requirement = generateAccessibilityRequirements(
      options({ nodes: [node], csiNodes: [csiNode], storageClass, selectedNodeName: 'node-a' }),
    );
    expect(requirement).toEqual({ requisite: zones('zone1'), preferred: zones('zone1') });
  });
});
