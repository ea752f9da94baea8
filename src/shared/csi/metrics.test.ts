import { Metadata, status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { createMetricsRegistry } from '../metrics/registry.js';
import { CSI_OPERATION_BUCKETS, CsiOperationMetrics, grpcStatusLabel } from './metrics.js';
import { CsiRpcError } from './status.js';

describe('CsiOperationMetrics', () => {
  it('exposes the csi-lib-utils histogram: name, HELP, label order and buckets', async () => {
    const registry = createMetricsRegistry({ processMetrics: false });
    const metrics = new CsiOperationMetrics({ registry });
    metrics.record('/csi.v1.Identity/Probe', undefined, 0.3);
    const text = await registry.metrics();
    expect(text).toContain(
      '# HELP csi_sidecar_operations_seconds [ALPHA] Container Storage Interface operation duration with gRPC error code status total\n' +
        '# TYPE csi_sidecar_operations_seconds histogram\n',
    );
    const labels = 'driver_name="unknown-driver",method_name="/csi.v1.Identity/Probe",grpc_status_code="OK"';
    const buckets = [...text.matchAll(/csi_sidecar_operations_seconds_bucket\{le="([^"]+)",(.*)\} (\d+)/g)];
    expect(buckets.map((m) => m[1])).toEqual([...CSI_OPERATION_BUCKETS.map(String), '+Inf']);
    expect(buckets.map((m) => Number(m[3]))).toEqual([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
    expect(buckets.every((m) => m[2] === labels)).toBe(true);
    expect(text).toContain(`csi_sidecar_operations_seconds_sum{${labels}} 0.3`);
    expect(text).toContain(`csi_sidecar_operations_seconds_count{${labels}} 1`);
    expect(CSI_OPERATION_BUCKETS).toEqual([0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 25, 50, 120, 300, 600]);
  });

  it('labels calls with the driver name once it is set', async () => {
    const registry = createMetricsRegistry({ processMetrics: false });
    const metrics = new CsiOperationMetrics({ registry });
    metrics.record('/csi.v1.Identity/GetPluginInfo', undefined, 0.01);
    metrics.setDriverName('hostpath.csi.k8s.io');
    metrics.record('/csi.v1.Controller/CreateVolume', new Error('socket closed'), 1.5);
    const text = await registry.metrics();
    expect(text).toContain(
      'csi_sidecar_operations_seconds_count{driver_name="unknown-driver",method_name="/csi.v1.Identity/GetPluginInfo",grpc_status_code="OK"} 1',
    );
    expect(text).toContain(
      'csi_sidecar_operations_seconds_count{driver_name="hostpath.csi.k8s.io",method_name="/csi.v1.Controller/CreateVolume",grpc_status_code="unknown-non-grpc"} 1',
    );
  });

  it('puts extra labels after the standard ones, with defaults', async () => {
    const registry = createMetricsRegistry({ processMetrics: false });
    const metrics = new CsiOperationMetrics({ registry, extraLabels: { migrated: 'false' } });
    metrics.setDriverName('d');
    metrics.record('/m', undefined, 0.1);
    metrics.record('/m', undefined, 0.1, { migrated: 'true', ignored: 'x' });
    const text = await registry.metrics();
    expect(text).toContain(
      'csi_sidecar_operations_seconds_count{driver_name="d",method_name="/m",grpc_status_code="OK",migrated="false"} 1',
    );
    expect(text).toContain(
      'csi_sidecar_operations_seconds_count{driver_name="d",method_name="/m",grpc_status_code="OK",migrated="true"} 1',
    );
    expect(text).not.toContain('ignored');
  });
});

describe('grpcStatusLabel', () => {
  it('uses OK, Go code names and unknown-non-grpc', () => {
    expect(grpcStatusLabel(undefined)).toBe('OK');
    expect(grpcStatusLabel(new CsiRpcError({ method: '/m', code: status.DEADLINE_EXCEEDED, details: 'x' }))).toBe(
      'DeadlineExceeded',
    );
    const serviceError = Object.assign(new Error('x'), {
      code: status.FAILED_PRECONDITION,
      details: 'x',
      metadata: new Metadata(),
    });
    expect(grpcStatusLabel(serviceError)).toBe('FailedPrecondition');
    expect(grpcStatusLabel(new Error('boom'))).toBe('unknown-non-grpc');
  });
});
