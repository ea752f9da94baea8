import { describe, expect, it } from 'vitest';
import type { Topology } from '../gen/csi.js';
import type { TopologyCSINode, TopologyNode, TopologyRetryRecord, TopologySelectorTerm } from './topology.js';
import { CSINodeNotFoundError, generateAccessibilityRequirements } from './topology.js';
import {
  buildCSINodes,
  buildNodes,
  byZone,
  forFlagCombinations,
  options,
  rack,
  rotateExpected,
  topo,
  zone,
  zones,
} from './testing/topology-fixtures.js';

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

  it('what an earlier attempt read wins over a CSINode entry or node labels that changed meanwhile', () => {
    const retryRecord: TopologyRetryRecord = {};
    const attempt = (nodes: TopologyNode[], csiNodes: TopologyCSINode[]) =>
      generateAccessibilityRequirements(options({ selectedNodeName: 'node-0', nodes, csiNodes, retryRecord }));
    const first = attempt(buildNodes(nodeLabels), buildCSINodes(nodeLabels.map(() => [zone, rack])));
    // The node plugin re-registers (its CSINode entry is gone for a moment) and the node gets relabelled.
    const relabelled = buildNodes([{ [zone]: 'zone7', [rack]: 'rackZ' }]);
    const unregistered = buildCSINodes([[]]);
    expect(attempt(relabelled, unregistered)).toEqual(first);
    expect(retryRecord).toMatchObject({ topologyKeys: [zone, rack], nodeLabels: nodeLabels[0] });
  });

  it('does not remember an empty key list, so a later attempt reads the CSINode again', () => {
    const retryRecord: TopologyRetryRecord = {};
    const attempt = (csiNodes: TopologyCSINode[]) =>
      generateAccessibilityRequirements(
        options({ selectedNodeName: 'node-0', nodes: buildNodes(nodeLabels), csiNodes, retryRecord }),
      );
    expect(() => attempt(buildCSINodes([[]]))).toThrow('no topology key found for node node-0');
    expect(retryRecord.topologyKeys).toBeUndefined();
    expect(attempt(buildCSINodes([[zone]]))?.preferred?.[0]).toEqual(topo({ [zone]: 'zone1' }));
    expect(retryRecord.topologyKeys).toEqual([zone]);
  });

  it('a missing key in remembered labels is still an error', () => {
    const retryRecord: TopologyRetryRecord = { topologyKeys: [zone, rack], nodeLabels: { [zone]: 'zone1' } };
    expect(() =>
      generateAccessibilityRequirements(options({ selectedNodeName: 'node-0', retryRecord, nodes: [], csiNodes: [] })),
    ).toThrow('does not match topology keys from CSINode');
  });
});
