import type { RouteHandler } from './diagnostics-server.js';
import { writeText } from './diagnostics-server.js';

/** The part of LeaderElector the health endpoint needs. */
export interface LeaderHealthSource {
  healthCheck(): { ok: boolean; message: string };
}

/**
 * `/healthz/leader-election`, as client-go's HealthzAdaptor answers it: a
 * leader whose renewals stopped is unhealthy, so kubelet restarts it.
 */
export function leaderElectionHealthHandler(source: LeaderHealthSource): RouteHandler {
  return (_req, res) => {
    const { ok, message } = source.healthCheck();
    if (ok) writeText(res, 200, 'ok');
    else writeText(res, 500, `internal server error: ${message}\n`);
  };
}
