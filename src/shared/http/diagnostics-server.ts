import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/logger.js';
import { parseListenAddress } from './listen-address.js';

export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface DiagnosticsServerOptions {
  /** Go-style listen address, e.g. ":8080" or "0.0.0.0:9808". */
  address: string;
  logger: Logger;
}

/**
 * The sidecars' small HTTP server for health checks and metrics. Routes are
 * exact paths, as registered on Go's ServeMux without a trailing slash.
 */
export class DiagnosticsServer {
  private readonly routes = new Map<string, RouteHandler>();
  private readonly server: Server;
  private readonly address: string;
  private readonly logger: Logger;

  constructor(options: DiagnosticsServerOptions) {
    this.address = options.address;
    this.logger = options.logger;
    this.server = createServer((req, res) => this.dispatch(req, res));
    this.server.keepAliveTimeout = 5_000;
  }

  handle(path: string, handler: RouteHandler): this {
    this.routes.set(path, handler);
    return this;
  }

  /** Starts listening; resolves with the bound port. Wildcard hosts listen dual-stack. */
  async listen(): Promise<number> {
    const { host, port, wildcard } = parseListenAddress(this.address);
    if (!wildcard) return this.listenOn(host, port);
    try {
      return await this.listenOn('::', port);
    } catch (err) {
      // Hosts without IPv6 refuse '::'; fall back to IPv4 only.
      if ((err as NodeJS.ErrnoException).code !== 'EAFNOSUPPORT') throw err;
      return this.listenOn('0.0.0.0', port);
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private listenOn(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host, port, ipv6Only: false }, () => {
        this.server.off('error', onError);
        resolve((this.server.address() as AddressInfo).port);
      });
    });
  }

  private dispatch(req: IncomingMessage, res: ServerResponse): void {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const handler = this.routes.get(path);
    if (!handler) {
      writeText(res, 404, '404 page not found\n');
      return;
    }
    Promise.resolve()
      .then(() => handler(req, res))
      .catch((err: unknown) => {
        this.logger.error(err, 'HTTP handler failed', { path });
        if (!res.headersSent) writeText(res, 500, 'internal error\n');
        else res.end();
      });
  }
}

export function writeText(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
