import type { RouteHandler } from '../shared/http/diagnostics-server.js';
import { writeText } from '../shared/http/diagnostics-server.js';
import { socketState } from './registration-health.js';

/**
 * `/readyz`: ready only while kubelet has accepted the plugin and the registration socket is in place
 * (kubernetes-csi/node-driver-registrar#41), so a DaemonSet rollout with a readiness probe waits for real
 * registrations rather than for a listening socket. Upstream has no readiness endpoint.
 */
export class RegistrationReadiness {
  private readonly socketPath: string;
  private registered = false;

  constructor(socketPath: string) {
    this.socketPath = socketPath;
  }

  /** Kubelet reported the plugin registered (NotifyRegistrationStatus true). */
  markRegistered(): void {
    this.registered = true;
  }

  async check(): Promise<{ status: number; body: string }> {
    if ((await socketState(this.socketPath)) !== 'socket')
      return { status: 503, body: 'registration socket does not exist' };
    if (!this.registered) return { status: 503, body: 'not registered by kubelet yet' };
    return { status: 200, body: 'ok' };
  }

  readonly handle: RouteHandler = async (_req, res) => {
    const answer = await this.check();
    writeText(res, answer.status, answer.body);
  };
}
