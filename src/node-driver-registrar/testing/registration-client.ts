import { Metadata, credentials } from '@grpc/grpc-js';
import { InfoRequest, RegistrationClient, RegistrationStatus } from '../../gen/pluginregistration/api.js';
import type { PluginInfo } from '../../gen/pluginregistration/api.js';

/** What kubelet's plugin watcher does on a registration socket, for tests: GetInfo, then NotifyRegistrationStatus. */
export class KubeletRegistrationClient {
  private readonly client: RegistrationClient;

  constructor(socketPath: string) {
    this.client = new RegistrationClient(`unix://${socketPath}`, credentials.createInsecure(), {
      'grpc.use_local_subchannel_pool': 1,
    });
  }

  getInfo(timeoutMs = 1_000): Promise<PluginInfo> {
    return new Promise((resolve, reject) =>
      this.client.getInfo(
        InfoRequest.fromPartial({}),
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, r) => (err ? reject(err) : resolve(r)),
      ),
    );
  }

  notify(pluginRegistered: boolean, error = '', timeoutMs = 5_000): Promise<void> {
    const status = RegistrationStatus.fromPartial({ pluginRegistered, error });
    return new Promise((resolve, reject) =>
      this.client.notifyRegistrationStatus(status, new Metadata(), { deadline: Date.now() + timeoutMs }, (err) =>
        err ? reject(err) : resolve(),
      ),
    );
  }

  close(): void {
    this.client.close();
  }
}
