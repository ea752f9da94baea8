import type { Registry } from 'prom-client';
import { Histogram } from 'prom-client';
import { goCodeName, grpcCode } from './status.js';

/** csi-lib-utils' bucket layout, in seconds. */
export const CSI_OPERATION_BUCKETS: readonly number[] = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 25, 50, 120, 300, 600];

export const CSI_OPERATION_METRIC = 'csi_sidecar_operations_seconds';
// prom-client adds no stability prefix; the Go component-base registry does.
const HELP = '[ALPHA] Container Storage Interface operation duration with gRPC error code status total';
const UNKNOWN_DRIVER = 'unknown-driver';
const NON_GRPC = 'unknown-non-grpc';

/** The `grpc_status_code` label value: `OK`, a Go code name, or `unknown-non-grpc`. */
export function grpcStatusLabel(err: unknown): string {
  if (err === undefined || err === null) return 'OK';
  const code = grpcCode(err);
  return code === undefined ? NON_GRPC : goCodeName(code);
}

export interface CsiOperationMetricsOptions {
  registry: Registry;
  /**
   * Additional labels after the standard three, in order, with the value used
   * when a call does not set one (e.g. `{ migrated: 'false' }`).
   */
  extraLabels?: Readonly<Record<string, string>>;
}

/** The CSI operations histogram; create one per process and share it between connections. */
export class CsiOperationMetrics {
  private readonly histogram: Histogram;
  private readonly extraDefaults: Readonly<Record<string, string>>;
  private driverName = '';

  constructor(options: CsiOperationMetricsOptions) {
    this.extraDefaults = { ...options.extraLabels };
    this.histogram = new Histogram({
      name: CSI_OPERATION_METRIC,
      help: HELP,
      labelNames: ['driver_name', 'method_name', 'grpc_status_code', ...Object.keys(this.extraDefaults)],
      buckets: [...CSI_OPERATION_BUCKETS],
      registers: [options.registry],
    });
  }

  /** Calls recorded before this (the startup Probe and GetPluginInfo) carry `unknown-driver`. */
  setDriverName(name: string): void {
    this.driverName = name;
  }

  /**
   * @param method full gRPC method, e.g. `/csi.v1.Controller/CreateVolume`
   * @param err the call's error, undefined on success
   * @param extra values for the extra labels; unknown names are ignored
   */
  record(method: string, err: unknown, seconds: number, extra: Readonly<Record<string, string>> = {}): void {
    const labels: Record<string, string> = {
      driver_name: this.driverName || UNKNOWN_DRIVER,
      method_name: method,
      grpc_status_code: grpcStatusLabel(err),
    };
    for (const [name, fallback] of Object.entries(this.extraDefaults)) labels[name] = extra[name] ?? fallback;
    this.histogram.observe(labels, seconds);
  }
}
