import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CsiConnection } from '../shared/csi/connection.js';
import { discardLogger } from '../shared/log/logger.js';
import { CsiTestDriver } from '../shared/testing/csi-test-driver.js';
import { EventReason } from './keys.js';
import { fixture, releasedVolume } from './testing/volume-controller-fixture.js';

describe('VolumeController with a driver that cannot delete volumes', () => {
  let driver: CsiTestDriver;
  let connection: CsiConnection;

  beforeEach(async () => {
    driver = await CsiTestDriver.start();
    connection = await CsiConnection.connect({ address: driver.address, logger: discardLogger() });
  });

  afterEach(async () => {
    connection.close();
    await driver.stop();
  });

  it.each([
    [{ controllerService: false, createDeleteVolume: true }, 'plugin CONTROLLER_SERVICE'],
    [{ controllerService: true, createDeleteVolume: false }, 'controller CREATE_DELETE_VOLUME'],
  ])('sends no DeleteVolume without %o and says why, as upstream', async (capabilities, missing) => {
    const f = fixture(connection, [releasedVolume()], capabilities);
    const message = `CSI driver does not support dynamic provisioning: ${missing} capability is not reported`;
    await expect(f.controller.sync('pv-1')).rejects.toThrow(message);
    expect(driver.callsTo('DeleteVolume')).toHaveLength(0);
    expect(f.kube.callsTo('deletePersistentVolume')).toHaveLength(0);
    expect(f.recorder.events.map((e) => [e.type, e.reason, e.message])).toEqual([
      ['Warning', EventReason.VolumeFailedDelete, message],
    ]);
  });
});
