/** A `--csi-address` value resolved for grpc-js. */
export interface CsiAddress {
  /** The gRPC target, e.g. `unix:///csi/csi.sock` or `dns:///driver:10000`. */
  readonly target: string;
  /** The socket file for unix targets (for fs checks); undefined for TCP and other schemes. */
  readonly socketPath: string | undefined;
}

const UNIX = 'unix://';

/**
 * Resolves a CSI address the way csi-lib-utils does: an absolute path means a
 * unix socket, `unix:///abs` is kept, anything else goes to gRPC's resolver
 * (TCP). `unix://relative` is rejected: grpc-js would silently treat the part
 * after `//` as an authority and resolve the rest relative to the cwd.
 */
export function normalizeCsiAddress(address: string): CsiAddress {
  if (address === '') throw new Error('CSI address is empty');
  if (address.startsWith('/')) return { target: UNIX + address, socketPath: address };
  if (address.startsWith(UNIX)) {
    const path = address.slice(UNIX.length);
    if (!path.startsWith('/')) {
      throw new Error(
        `invalid CSI address ${JSON.stringify(address)}: a unix socket needs an absolute path (unix:///path/to/socket)`,
      );
    }
    return { target: address, socketPath: path };
  }
  if (address.startsWith('unix:')) {
    // unix:/abs is the other spelling grpc-js understands; unix:relative depends on the cwd.
    const path = address.slice('unix:'.length);
    if (!path.startsWith('/')) {
      throw new Error(`invalid CSI address ${JSON.stringify(address)}: a unix socket needs an absolute path`);
    }
    return { target: UNIX + path, socketPath: path };
  }
  return { target: address, socketPath: undefined };
}
