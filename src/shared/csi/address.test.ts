import { describe, expect, it } from 'vitest';
import { normalizeCsiAddress } from './address.js';

describe('normalizeCsiAddress', () => {
  it.each([
    ['/csi/csi.sock', 'unix:///csi/csi.sock', '/csi/csi.sock'],
    ['/run/csi/socket', 'unix:///run/csi/socket', '/run/csi/socket'],
    ['unix:///csi/csi.sock', 'unix:///csi/csi.sock', '/csi/csi.sock'],
    ['unix:/csi/csi.sock', 'unix:///csi/csi.sock', '/csi/csi.sock'],
    ['localhost:10000', 'localhost:10000', undefined],
    ['dns:///driver.example:10000', 'dns:///driver.example:10000', undefined],
    ['127.0.0.1:9000', '127.0.0.1:9000', undefined],
  ])('resolves %s to target %s', (input, target, socketPath) => {
    expect(normalizeCsiAddress(input)).toEqual({ target, socketPath });
  });

  it.each(['unix://csi/csi.sock', 'unix://csi.sock', 'unix:csi.sock'])(
    'rejects %s, which grpc-js would resolve relative to the working directory',
    (input) => {
      expect(() => normalizeCsiAddress(input)).toThrow(/absolute path/);
    },
  );

  it('rejects an empty address', () => {
    expect(() => normalizeCsiAddress('')).toThrow('CSI address is empty');
  });
});
