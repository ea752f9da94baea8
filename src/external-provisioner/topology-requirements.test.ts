import type { V1CSINode, V1Node, V1StorageClass } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Topology } from '../gen/csi.js';
import type { TopologySelectorTerm } from './topology.js';
import { CSINodeNotFoundError, generateAccessibilityRequirements } from './topology.js';
import {
  buildCSINodes,
  buildNodes,
  disk,
  driverName,
  forFlagCombinations,
  options,
  rack,
  topo,
  withWithout,
  zone,
  zoneKeysOf,
  zones,
} from './testing/topology-fixtures.js';

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
