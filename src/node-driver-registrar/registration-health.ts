import { stat } from 'node:fs/promises';
import type { ServiceError } from '@grpc/grpc-js';
import { Metadata, credentials } from '@grpc/grpc-js';
import { InfoRequest, RegistrationClient, RegistrationService } from '../gen/pluginregistration/api.js';
import type { PluginInfo } from '../gen/pluginregistration/api.js';
import { CsiRpcError } from '../shared/csi/status.js';
import type { RouteHandler } from '../shared/http/diagnostics-server.js';
import { writeText } from '../shared/http/diagnostics-server.js';
import type { Logger } from '../shared/log/logger.js';
import { errorText } from '../shared/log/logger.js';

export interface HealthAnswer {
  status: number;
  body: string;
}

export interface RegistrationHealthOptions {
  socketPath: string;
  driverName: string;
  /** `--timeout`: for dialling the socket and for its GetInfo, each. */
  timeoutMs: number;
  logger: Logger;
}

const CLIENT_OPTIONS = {
  // A fresh connection per check, never one shared with an earlier check: the point is to prove that the file at
  // the path is served now.
  'grpc.use_local_subchannel_pool': 1,
  'grpc.enable_channelz': 0,
};

/**
 * `/healthz` as upstream serves it since v2.9 (kubernetes-csi/node-driver-registrar#322): the registration socket
 * must exist and answer GetInfo with this driver's name, so a registrar whose socket was deleted or whose server
 * hangs is restarted. Unlike upstream, dialling is bounded by `--timeout` rather than a fixed 30 s, so a dead socket
 * fails the probe with a message instead of outlasting kubelet's probe timeout.
 */
export class RegistrationHealth {
  private readonly options: RegistrationHealthOptions;

  constructor(options: RegistrationHealthOptions) {
    this.options = options;
  }

  readonly handle: RouteHandler = async (_req, res) => {
    const answer = await this.check();
    writeText(res, answer.status, answer.body);
  };

  async check(): Promise<HealthAnswer> {
    const { socketPath, logger } = this.options;
    const found = await socketState(socketPath);
    if (found === 'missing') {
      logger.error(undefined, 'Health check failed, registration socket does not exist');
      return { status: 404, body: 'registration socket does not exist' };
    }
    const problem = found === 'socket' ? await this.liveSocketProblem() : found.problem;
    if (problem !== undefined) {
      logger.error(problem, 'Health check failed');
      return { status: 500, body: problem };
    }
    logger.v(5).info('Health check succeeded');
    return { status: 200, body: 'ok' };
  }

  /** Undefined when the registration server answers GetInfo with this driver; else the failure, in upstream's words. */
  private async liveSocketProblem(): Promise<string | undefined> {
    const { socketPath, timeoutMs, driverName, logger } = this.options;
    logger.v(4).info('Attempting to open a gRPC connection', { socketfile: socketPath });
    const client = new RegistrationClient(`unix://${socketPath}`, credentials.createInsecure(), CLIENT_OPTIONS);
    try {
      try {
        await waitForReady(client, timeoutMs);
      } catch (err) {
        return `error connecting to node-registrar socket ${socketPath}: ${errorText(err)}`;
      }
      logger.v(4).info('Calling node registrar to check if it still responds');
      let info: PluginInfo;
      try {
        info = await getInfo(client, timeoutMs);
      } catch (err) {
        return `error getting info from node-registrar socket: ${errorText(err)}`;
      }
      return info.name === driverName ? undefined : `invalid driver name ${info.name}`;
    } finally {
      client.close();
    }
  }
}

export type SocketState = 'socket' | 'missing' | { problem: string };

/** What is at path, following symbolic links as Go's os.Stat does; texts as upstream's pkg/util. */
export async function socketState(path: string): Promise<SocketState> {
  try {
    const stats = await stat(path);
    if (stats.isSocket()) return 'socket';
    return {
      problem: `file exists in socketPath ${path} but it's not a socket.: mode 0${(stats.mode & 0o7777).toString(8)}`,
    };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    return { problem: `failed to stat the socket ${path} with error: ${errorText(err)}` };
  }
}

function waitForReady(client: RegistrationClient, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    client.waitForReady(Date.now() + timeoutMs, (err) => {
      if (err) reject(new Error('context deadline exceeded', { cause: err }));
      else resolve();
    });
  });
}

function getInfo(client: RegistrationClient, timeoutMs: number): Promise<PluginInfo> {
  return new Promise((resolve, reject) => {
    client.getInfo(InfoRequest.fromPartial({}), new Metadata(), { deadline: Date.now() + timeoutMs }, (err, info) => {
      if (err) reject(grpcFailure(err));
      else resolve(info);
    });
  });
}

function grpcFailure(err: ServiceError): Error {
  return new CsiRpcError({
    method: RegistrationService.getInfo.path,
    code: err.code,
    details: err.details,
    cause: err,
  });
}
