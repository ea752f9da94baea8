import { describe, expect, it } from 'vitest';
import {
  ControllerGetCapabilitiesResponse,
  CreateVolumeRequest,
  GetCapacityResponse,
  ListSnapshotsResponse,
  NodeGetCapabilitiesResponse,
  NodeGetVolumeStatsResponse,
  NodeStageVolumeRequest,
  ProbeResponse,
  ValidateVolumeCapabilitiesRequest,
  VolumeCapability,
} from '../../gen/csi.js';
import type { ControllerServiceCapability_RPC_Type } from '../../gen/csi.js';
import { stripSecrets } from './protosanitizer.js';

const SECRET = 'p4ssw0rd-value';

describe('stripSecrets', () => {
  it('renders the csi-lib-utils example exactly', () => {
    const request = CreateVolumeRequest.fromPartial({
      name: 'foo',
      capacityRange: { requiredBytes: 1024n },
      volumeCapabilities: [{ accessType: { $case: 'mount', value: { fsType: 'ext4' } } }],
      secrets: { 'secret-abc': '123', 'secret-xyz': '987' },
    });
    expect(stripSecrets(request)).toBe(
      '{"capacity_range":{"required_bytes":1024},"name":"foo","secrets":"***stripped***",' +
        '"volume_capabilities":[{"mount":{"fs_type":"ext4"}}]}',
    );
  });

  it('renders an empty message as {} and leaves out empty secrets', () => {
    expect(stripSecrets(CreateVolumeRequest.fromPartial({}))).toBe('{}');
  });

  it('keeps set but empty sub-messages, map keys verbatim and enum names', () => {
    const request = CreateVolumeRequest.fromPartial({
      name: 'test-volume',
      capacityRange: { requiredBytes: 1024n, limitBytes: 1024n },
      volumeCapabilities: [
        VolumeCapability.fromPartial({
          accessType: { $case: 'mount', value: { fsType: 'ext4', mountFlags: ['flag1', 'flag2', 'flag3'] } },
          accessMode: { mode: 5 },
        }),
        VolumeCapability.fromPartial({ accessType: { $case: 'block', value: {} } }),
      ],
      secrets: { secret1: 'secret1' },
      parameters: { param2: 'param2', 'csi.storage.k8s.io/fstype': 'xfs', param1: 'param1' },
      volumeContentSource: {},
      accessibilityRequirements: { requisite: [{ segments: { 'topology.kubernetes.io/zone': 'a' } }] },
    });
    expect(stripSecrets(request)).toBe(
      '{"accessibility_requirements":{"requisite":[{"segments":{"topology.kubernetes.io/zone":"a"}}]},' +
        '"capacity_range":{"limit_bytes":1024,"required_bytes":1024},"name":"test-volume",' +
        '"parameters":{"csi.storage.k8s.io/fstype":"xfs","param1":"param1","param2":"param2"},' +
        '"secrets":"***stripped***","volume_capabilities":[{"access_mode":{"mode":"MULTI_NODE_MULTI_WRITER"},' +
        '"mount":{"fs_type":"ext4","mount_flags":["flag1","flag2","flag3"]}},{"block":{}}],"volume_content_source":{}}',
    );
  });

  it('writes int64 values beyond 2^53 exactly as JSON numbers', () => {
    const response = GetCapacityResponse.fromPartial({
      availableCapacity: 2n ** 63n - 1n,
      maximumVolumeSize: 9007199254740993n,
    });
    expect(stripSecrets(response)).toBe(
      '{"available_capacity":9223372036854775807,"maximum_volume_size":{"value":9007199254740993}}',
    );
  });

  it('renders wrapper fields like Go, including a false ready', () => {
    expect(stripSecrets(ProbeResponse.fromPartial({ ready: true }))).toBe('{"ready":{"value":true}}');
    expect(stripSecrets(ProbeResponse.fromPartial({ ready: false }))).toBe('{"ready":{}}');
    expect(stripSecrets(ProbeResponse.fromPartial({}))).toBe('{}');
  });

  it('names rpc capability enums by the service of the root message', () => {
    const unknownType = 99 as number as ControllerServiceCapability_RPC_Type;
    const controller = ControllerGetCapabilitiesResponse.fromPartial({
      capabilities: [
        { type: { $case: 'rpc', value: { type: 1 } } },
        { type: { $case: 'rpc', value: { type: unknownType } } },
      ],
    });
    expect(stripSecrets(controller, { messageName: 'ControllerGetCapabilitiesResponse' })).toBe(
      '{"capabilities":[{"rpc":{"type":"CREATE_DELETE_VOLUME"}},{"rpc":{"type":99}}]}',
    );
    const node = NodeGetCapabilitiesResponse.fromPartial({
      capabilities: [{ type: { $case: 'rpc', value: { type: 1 } } }],
    });
    expect(stripSecrets(node, { messageName: 'NodeGetCapabilitiesResponse' })).toBe(
      '{"capabilities":[{"rpc":{"type":"STAGE_UNSTAGE_VOLUME"}}]}',
    );
    // Without the root name the service is unknown and the number stays.
    expect(stripSecrets(node)).toBe('{"capabilities":[{"rpc":{"type":1}}]}');
  });

  it('names enums inside repeated messages and renders timestamps as messages', () => {
    const stats = NodeGetVolumeStatsResponse.fromPartial({ usage: [{ available: 5n, total: 10n, unit: 1 }] });
    expect(stripSecrets(stats)).toBe('{"usage":[{"available":5,"total":10,"unit":"BYTES"}]}');
    const snapshots = ListSnapshotsResponse.fromPartial({
      entries: [{ snapshot: { snapshotId: 's1', readyToUse: true, creationTime: { seconds: 1700000000n, nanos: 5 } } }],
    });
    expect(stripSecrets(snapshots)).toBe(
      '{"entries":[{"snapshot":{"creation_time":{"nanos":5,"seconds":1700000000},"ready_to_use":true,"snapshot_id":"s1"}}]}',
    );
  });

  it('never leaks a secret value at any depth', () => {
    const nested = {
      name: 'outer',
      secrets: { key: SECRET },
      list: [{ secrets: { key: SECRET } }, [{ secrets: { deeper: SECRET } }]],
      child: { grandChild: { secrets: { key: SECRET }, other: 'kept' } },
      parameters: { value: { secrets: { key: SECRET } } },
      volumeContext: { plain: 'ok' },
      oneofField: { $case: 'holder', value: { secrets: { key: SECRET } } },
      oddSecrets: { secrets: [SECRET] },
      scalarSecrets: { secrets: SECRET },
    };
    const text = stripSecrets(nested);
    expect(text).not.toContain(SECRET);
    expect(text.match(/\*\*\*stripped\*\*\*/g)).toHaveLength(8);
    expect(text).toContain('"other":"kept"');
    expect(text).toContain('"volume_context":{"plain":"ok"}');
  });

  it('strips the secrets of every request type that has them', () => {
    const stage = NodeStageVolumeRequest.fromPartial({ volumeId: 'v', secrets: { token: SECRET } });
    const validate = ValidateVolumeCapabilitiesRequest.fromPartial({ volumeId: 'v', secrets: { token: SECRET } });
    for (const message of [stage, validate]) {
      const text = stripSecrets(message);
      expect(text).not.toContain(SECRET);
      expect(text).toContain('"secrets":"***stripped***"');
    }
  });

  it('does not modify the message', () => {
    const request = CreateVolumeRequest.fromPartial({ name: 'n', secrets: { a: SECRET } });
    stripSecrets(request);
    expect(request.secrets).toEqual({ a: SECRET });
  });

  it('marshals non-message values as JSON', () => {
    expect(stripSecrets(undefined)).toBe('null');
    expect(stripSecrets(null)).toBe('null');
    expect(stripSecrets(1)).toBe('1');
    expect(stripSecrets('hello world')).toBe('"hello world"');
    expect(stripSecrets(true)).toBe('true');
    expect(stripSecrets(false)).toBe('false');
    expect(stripSecrets(12n)).toBe('12');
  });

  it('survives cyclic objects', () => {
    const cyclic: Record<string, unknown> = { name: 'a' };
    cyclic.self = cyclic;
    expect(stripSecrets(cyclic)).toBe('{"name":"a","self":"[Circular]"}');
  });
});
