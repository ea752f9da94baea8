export interface ListenAddress {
  host: string;
  port: number;
  /** True when the host part was empty or 0.0.0.0, which Go serves on IPv4 and IPv6. */
  wildcard: boolean;
}

/** Parses a Go-style "host:port" listen address (":8080", "0.0.0.0:9808", "[::1]:80"). */
export function parseListenAddress(address: string): ListenAddress {
  const m = /^(?:\[([^\]]*)\]|([^:]*)):(\d+)$/.exec(address);
  if (!m) throw new Error(`invalid listen address ${JSON.stringify(address)}: want host:port`);
  const host = m[1] ?? m[2] ?? '';
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`invalid listen address ${JSON.stringify(address)}: invalid port`);
  const wildcard = host === '' || host === '0.0.0.0' || host === '::';
  return { host, port, wildcard };
}
