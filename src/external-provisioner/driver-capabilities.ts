/** What every CreateVolume and DeleteVolume needs from the driver (upstream `checkDriverCapabilities`). */
export interface ProvisioningCapabilities {
  /** Plugin capability CONTROLLER_SERVICE. */
  controllerService: boolean;
  /** Controller capability CREATE_DELETE_VOLUME. */
  createDeleteVolume: boolean;
}

/** Upstream's error text when the driver cannot provision or delete at all; undefined when it can. */
export function provisioningCapabilityProblem(capabilities: ProvisioningCapabilities): string | undefined {
  if (!capabilities.controllerService) {
    return 'CSI driver does not support dynamic provisioning: plugin CONTROLLER_SERVICE capability is not reported';
  }
  if (!capabilities.createDeleteVolume) {
    return 'CSI driver does not support dynamic provisioning: controller CREATE_DELETE_VOLUME capability is not reported';
  }
  return undefined;
}
