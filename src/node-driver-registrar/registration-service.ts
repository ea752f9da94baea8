import type { sendUnaryData, ServerUnaryCall } from '@grpc/grpc-js';
import { PluginInfo, RegistrationService, RegistrationStatusResponse } from '../gen/pluginregistration/api.js';
import type { InfoRequest, RegistrationStatus } from '../gen/pluginregistration/api.js';
import type { GrpcService } from '../shared/grpc/unix-socket-server.js';
import type { Logger } from '../shared/log/logger.js';
import { goQuote } from '../shared/text/go-format.js';

/** The plugin type kubelet's CSI handler is registered under (k8s.io/kubelet pluginregistration constants). */
export const csiPluginType = 'CSIPlugin';

/** The CSI plugin-registration versions this registrar offers kubelet, as upstream. */
export const supportedVersions: readonly string[] = ['1.0.0'];

export interface RegistrationServiceOptions {
  driverName: string;
  /** `--kubelet-registration-path`: the driver socket as kubelet on the host dials it. */
  endpoint: string;
  logger: Logger;
  /** Kubelet accepted the plugin (NotifyRegistrationStatus with plugin_registered true). */
  onRegistered: () => void;
  /** Kubelet refused the plugin; called after the answer is sent. The registrar exits 1 so that a restart retries. */
  onRejected: (reason: string) => void;
}

/**
 * The kubelet plugin-registration service (`pluginregistration.Registration`): kubelet's plugin watcher dials the
 * `-reg.sock`, asks GetInfo, registers the driver and reports the outcome with NotifyRegistrationStatus. Both calls
 * are answered from memory, so repeated calls (newer kubelets re-ask, /healthz asks too) stay cheap.
 */
export function registrationService(options: RegistrationServiceOptions): GrpcService {
  const { logger } = options;
  const info = PluginInfo.fromPartial({
    type: csiPluginType,
    name: options.driverName,
    endpoint: options.endpoint,
    supportedVersions: [...supportedVersions],
  });
  return {
    definition: RegistrationService,
    implementation: {
      getInfo: (_call: ServerUnaryCall<InfoRequest, PluginInfo>, callback: sendUnaryData<PluginInfo>) => {
        // V(4): kubelet and /healthz ask often (kubernetes-csi/node-driver-registrar#533).
        logger.v(4).info('Received GetInfo call', { request: '' });
        callback(null, info);
      },
      notifyRegistrationStatus: (
        call: ServerUnaryCall<RegistrationStatus, RegistrationStatusResponse>,
        callback: sendUnaryData<RegistrationStatusResponse>,
      ) => {
        const status = call.request;
        // v2.17.0 logs this one at the default level (measured), unlike GetInfo.
        logger.info('Received NotifyRegistrationStatus call', { status: registrationStatusText(status) });
        callback(null, RegistrationStatusResponse.fromPartial({}));
        if (status.pluginRegistered) {
          options.onRegistered();
        } else {
          logger.error(status.error, 'Registration process failed with error, restarting registration container');
          options.onRejected(status.error);
        }
      },
    },
  };
}

/** The message as Go's protobuf text form prints it: fields at their zero value are left out. */
export function registrationStatusText(status: RegistrationStatus): string {
  const fields: string[] = [];
  if (status.pluginRegistered) fields.push('plugin_registered:true');
  if (status.error !== '') fields.push(`error:${goQuote(status.error)}`);
  return fields.join(' ');
}
