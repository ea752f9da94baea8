import { describe, expect, it } from 'vitest';
import type { Topology } from '../gen/csi.js';
import { nodeAffinityFromAccessibleTopology } from './topology.js';
import { rack, topo, zone, zones } from './testing/topology-fixtures.js';

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
