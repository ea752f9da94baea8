import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * One private registry per process (never prom-client's global one, so tests
 * can build many). Process metrics such as process_start_time_seconds are
 * included, as the Go sidecars register them by default.
 */
export function createMetricsRegistry(options: { processMetrics?: boolean } = {}): Registry {
  const registry = new Registry();
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry });
  return registry;
}
