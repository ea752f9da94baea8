import { Counter, Gauge } from 'prom-client';
import type { Registry } from 'prom-client';

/** component-base registers the leader election family as ALPHA and writes that into HELP. */
const STABILITY = '[ALPHA] ';

/** What the elector reports; `name` is the lock's name label. */
export interface LeaderMetrics {
  leaderOn(name: string): void;
  leaderOff(name: string): void;
  slowpathExercised(name: string): void;
}

const byRegistry = new WeakMap<Registry, LeaderMetrics>();

/**
 * The leader_election_* families of component-base on one registry, shared by
 * every elector of the process (two electors must not register twice).
 */
export function leaderMetrics(registry: Registry | undefined): LeaderMetrics {
  if (!registry) return { leaderOn() {}, leaderOff() {}, slowpathExercised() {} };
  let metrics = byRegistry.get(registry);
  if (!metrics) {
    metrics = createLeaderMetrics(registry);
    byRegistry.set(registry, metrics);
  }
  return metrics;
}

function createLeaderMetrics(registry: Registry): LeaderMetrics {
  const status = new Gauge({
    name: 'leader_election_master_status',
    help:
      `${STABILITY}Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, ` +
      "1 indicates master. 'name' is the string used to identify the lease. Please make sure to group by name.",
    labelNames: ['name'] as const,
    registers: [registry],
  });
  const slowpath = new Counter({
    name: 'leader_election_slowpath_total',
    help:
      `${STABILITY}Total number of slow path exercised in renewing leader leases. ` +
      "'name' is the string used to identify the lease. Please make sure to group by name.",
    labelNames: ['name'] as const,
    registers: [registry],
  });
  return {
    leaderOn: (name) => status.set({ name }, 1),
    leaderOff: (name) => status.set({ name }, 0),
    slowpathExercised: (name) => slowpath.inc({ name }),
  };
}
