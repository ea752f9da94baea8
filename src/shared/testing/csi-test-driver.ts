import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { sendUnaryData, ServerUnaryCall, UntypedHandleCall } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import type {
  ControllerServiceCapability_RPC_Type,
  NodeServiceCapability_RPC_Type,
  PluginCapability_Service_Type,
  Volume,
} from '../../gen/csi.js';
import {
  ControllerServiceCapability_RPC_Type as ControllerRpc,
  PluginCapability_Service_Type as PluginService,
  Volume as VolumeMessage,
} from '../../gen/csi.js';
import type { CsiMethod, CsiRequest, CsiResponseInit, CsiServiceName } from '../csi/methods.js';
import { CSI_METHODS, CSI_SERVICES, csiMethod } from '../csi/methods.js';
import { UnixSocketServer, checkSocketPath } from '../grpc/unix-socket-server.js';

export const TEST_DRIVER_NAME = 'test.csi.k8s.io';
const DEFAULT_CAPACITY = 1024n * 1024n * 1024n;

/** A gRPC status for the driver to answer with: enqueue it, or throw it from a handler. */
export class CsiTestError extends Error {
  readonly code: number;
  readonly details: string;

  constructor(code: number, details = `injected ${status[code] ?? code}`) {
    super(details);
    this.name = 'CsiTestError';
    this.code = code;
    this.details = details;
  }
}

export function csiError(code: number, details?: string): CsiTestError {
  return new CsiTestError(code, details);
}

export interface CsiHandlerContext {
  /** Aborted when the client cancels or its deadline passes, and on stop(). */
  signal: AbortSignal;
}

/** Answers one call; missing response fields get proto defaults. Throw CsiTestError for a status. */
export type CsiHandler<M extends CsiMethod> = (
  request: CsiRequest<M>,
  context: CsiHandlerContext,
) => CsiResponseInit<M> | Promise<CsiResponseInit<M>>;

/** One scripted answer: a response, an error status, or a handler for just that call. */
export type CsiOutcome<M extends CsiMethod> = CsiResponseInit<M> | CsiTestError | CsiHandler<M>;

export interface CsiCallRecord {
  method: CsiMethod;
  request: unknown;
  /** Date.now() when the request arrived. */
  time: number;
}

/** Holds calls of one method until released. */
export interface CsiGate {
  /** Lets held and later calls through. */
  release(): void;
}

export interface CsiTestDriverOptions {
  name?: string;
  vendorVersion?: string;
  /** Services to serve; the others answer UNIMPLEMENTED. Default Identity, Controller, Node. */
  services?: readonly CsiServiceName[];
  /** Default: CONTROLLER_SERVICE. */
  pluginCapabilities?: readonly PluginCapability_Service_Type[];
  /** Default: CREATE_DELETE_VOLUME, PUBLISH_UNPUBLISH_VOLUME. */
  controllerCapabilities?: readonly ControllerServiceCapability_RPC_Type[];
  /** Default: none. */
  nodeCapabilities?: readonly NodeServiceCapability_RPC_Type[];
  /** NodeGetInfo's node_id. Default `test-node`. */
  nodeId?: string;
  /** Listen here instead of a fresh temp dir (the caller owns the directory). */
  socketPath?: string;
}

type AnyHandler = (request: unknown, context: CsiHandlerContext) => unknown;
type AnyOutcome = unknown;

/**
 * An in-process CSI driver on a unix socket for tests. Each method answers,
 * in this order: after the method's delay and hold, the next enqueued
 * outcome, else the handler set with setHandler, else the built-in default
 * (Identity basics, capabilities, an in-memory volume store, publish,
 * ListVolumes with the published nodes, NodeGetInfo), else UNIMPLEMENTED. Every call is logged in `calls`.
 */
export class CsiTestDriver {
  readonly socketPath: string;
  /** The `unix:///…` target for `--csi-address`. */
  readonly address: string;
  readonly calls: CsiCallRecord[] = [];
  /** Created volumes by volume id. */
  readonly volumes = new Map<string, Volume>();
  /** Node ids each volume is published to, by volume id. */
  readonly published = new Map<string, Set<string>>();

  private readonly ownDir: string | undefined;
  private readonly services: readonly CsiServiceName[];
  private readonly defaults: ReadonlyMap<CsiMethod, AnyHandler>;
  private readonly queues = new Map<CsiMethod, AnyOutcome[]>();
  private readonly handlers = new Map<CsiMethod, AnyHandler>();
  private readonly delays = new Map<CsiMethod, number>();
  private readonly holds = new Map<CsiMethod, Promise<void>>();
  private readonly callListeners = new Set<() => void>();
  private server: UnixSocketServer | undefined;
  private lifetime = new AbortController();

  constructor(options: CsiTestDriverOptions = {}) {
    if (options.socketPath) {
      this.socketPath = options.socketPath;
    } else {
      this.ownDir = mkdtempSync(join(tmpdir(), 'csi-'));
      this.socketPath = join(this.ownDir, 'csi.sock');
    }
    checkSocketPath(this.socketPath);
    this.address = `unix://${this.socketPath}`;
    this.services = options.services ?? ['Identity', 'Controller', 'Node'];
    this.defaults = this.defaultHandlers(options);
  }

  /** Creates and starts a driver. */
  static async start(options?: CsiTestDriverOptions): Promise<CsiTestDriver> {
    const driver = new CsiTestDriver(options);
    await driver.start();
    return driver;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  async start(): Promise<void> {
    if (this.server) throw new Error('CSI test driver already running');
    if (this.ownDir) mkdirSync(this.ownDir, { recursive: true });
    this.lifetime = new AbortController();
    this.server = await UnixSocketServer.listen({
      path: this.socketPath,
      services: this.services.map((name) => ({
        definition: CSI_SERVICES[name],
        implementation: this.serviceImplementation(name),
      })),
    });
  }

  /** Kills the server (open connections drop at once) and removes the temp dir. */
  async stop(): Promise<void> {
    await this.shutdown();
    if (this.ownDir) rmSync(this.ownDir, { recursive: true, force: true });
  }

  /** Stops and starts again on the same socket path; volumes and scripts survive. */
  async restart(): Promise<void> {
    await this.shutdown();
    await this.start();
  }

  /** Queues one-shot outcomes for method, used in order before any handler or default. */
  enqueue<M extends CsiMethod>(method: M, ...outcomes: CsiOutcome<M>[]): this {
    const queue = this.queues.get(method) ?? [];
    queue.push(...outcomes);
    this.queues.set(method, queue);
    return this;
  }

  /** Makes the next `times` calls of method fail with code. */
  fail(method: CsiMethod, code: number, details?: string, times = 1): this {
    for (let i = 0; i < times; i++) this.enqueue(method, new CsiTestError(code, details));
    return this;
  }

  /** Replaces the default behaviour of method until called again with undefined. */
  setHandler<M extends CsiMethod>(method: M, handler: CsiHandler<M> | undefined): this {
    if (handler) this.handlers.set(method, handler as AnyHandler);
    else this.handlers.delete(method);
    return this;
  }

  /** Delays every answer of method by ms (undefined removes the delay). */
  setDelay(method: CsiMethod, ms: number | undefined): this {
    if (ms === undefined) this.delays.delete(method);
    else this.delays.set(method, ms);
    return this;
  }

  /** Holds calls of method (after logging them) until the gate is released, the call is cancelled or the driver stops. */
  hold(method: CsiMethod): CsiGate {
    let release = (): void => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.holds.set(method, gate);
    return {
      release: () => {
        if (this.holds.get(method) === gate) this.holds.delete(method);
        release();
      },
    };
  }

  /** Requests received for method, oldest first. */
  callsTo<M extends CsiMethod>(method: M): CsiRequest<M>[] {
    return this.calls.filter((c) => c.method === method).map((c) => c.request as CsiRequest<M>);
  }

  /** Resolves once method has been called count times in total. */
  waitForCalls(method: CsiMethod, count = 1, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.callsTo(method).length < count) return;
        this.callListeners.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.callListeners.delete(check);
        reject(new Error(`timed out waiting for ${count} ${method} call(s); got ${this.callsTo(method).length}`));
      }, timeoutMs);
      this.callListeners.add(check);
      check();
    });
  }

  private async shutdown(): Promise<void> {
    this.lifetime.abort();
    const server = this.server;
    this.server = undefined;
    await server?.shutdown(0);
  }

  private serviceImplementation(service: CsiServiceName): Record<string, UntypedHandleCall> {
    const impl: Record<string, UntypedHandleCall> = {};
    for (const info of Object.values(CSI_METHODS)) {
      if (info.service !== service) continue;
      const method = info.name;
      impl[info.key] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        this.answer(method, call).then(
          (response) => callback(null, response),
          (err: unknown) => callback(toStatus(err)),
        );
      };
    }
    return impl;
  }

  private async answer(method: CsiMethod, call: ServerUnaryCall<unknown, unknown>): Promise<unknown> {
    const request = call.request;
    this.calls.push({ method, request, time: Date.now() });
    for (const listener of [...this.callListeners]) listener();

    const cancelled = new AbortController();
    call.once('cancelled', () => cancelled.abort());
    const signal = AbortSignal.any([cancelled.signal, this.lifetime.signal]);
    const delay = this.delays.get(method);
    if (delay !== undefined) await waitFor(delay, signal);
    const hold = this.holds.get(method);
    if (hold) await waitFor(hold, signal);
    // Nobody reads the answer to a cancelled call; grpc-js drops it.
    if (signal.aborted) throw new CsiTestError(status.CANCELLED, 'call cancelled');

    let outcome: AnyOutcome =
      this.queues.get(method)?.shift() ?? this.handlers.get(method) ?? this.defaults.get(method);
    if (outcome === undefined) throw new CsiTestError(status.UNIMPLEMENTED, `${method} not implemented`);
    if (outcome instanceof CsiTestError) throw outcome;
    if (typeof outcome === 'function') outcome = await (outcome as AnyHandler)(request, { signal });
    const fromPartial = csiMethod(method).responseFromPartial as (value: unknown) => unknown;
    return fromPartial(outcome);
  }

  private defaultHandlers(options: CsiTestDriverOptions): ReadonlyMap<CsiMethod, AnyHandler> {
    const pluginCaps = options.pluginCapabilities ?? [PluginService.CONTROLLER_SERVICE];
    const controllerCaps = options.controllerCapabilities ?? [
      ControllerRpc.CREATE_DELETE_VOLUME,
      ControllerRpc.PUBLISH_UNPUBLISH_VOLUME,
    ];
    const nodeCaps = options.nodeCapabilities ?? [];
    const handlers: { [M in CsiMethod]?: CsiHandler<M> } = {
      GetPluginInfo: () => ({
        name: options.name ?? TEST_DRIVER_NAME,
        vendorVersion: options.vendorVersion ?? 'v1.0.0',
      }),
      GetPluginCapabilities: () => ({
        capabilities: pluginCaps.map((type) => ({ type: { $case: 'service' as const, value: { type } } })),
      }),
      Probe: () => ({ ready: true }),
      ControllerGetCapabilities: () => ({
        capabilities: controllerCaps.map((type) => ({ type: { $case: 'rpc' as const, value: { type } } })),
      }),
      NodeGetCapabilities: () => ({
        capabilities: nodeCaps.map((type) => ({ type: { $case: 'rpc' as const, value: { type } } })),
      }),
      NodeGetInfo: () => ({ nodeId: options.nodeId ?? 'test-node' }),
      CreateVolume: (req) => ({ volume: this.createVolume(req) }),
      DeleteVolume: (req) => {
        if (!req.volumeId) throw new CsiTestError(status.INVALID_ARGUMENT, 'volume id missing');
        this.volumes.delete(req.volumeId);
        this.published.delete(req.volumeId);
        return {};
      },
      ControllerPublishVolume: (req) => {
        if (!req.volumeId || !req.nodeId) throw new CsiTestError(status.INVALID_ARGUMENT, 'volume or node id missing');
        if (!this.volumes.has(req.volumeId)) {
          throw new CsiTestError(status.NOT_FOUND, `volume ${req.volumeId} not found`);
        }
        const nodes = this.published.get(req.volumeId) ?? new Set<string>();
        nodes.add(req.nodeId);
        this.published.set(req.volumeId, nodes);
        return {};
      },
      // Every volume with the nodes it is published to; `max_entries` per page, the offset as the token.
      ListVolumes: (req) => {
        const entries = [...this.volumes.values()].map((volume) => ({
          volume,
          status: { publishedNodeIds: [...(this.published.get(volume.volumeId) ?? [])] },
        }));
        const start = Number(req.startingToken || '0');
        const end = req.maxEntries > 0 ? start + req.maxEntries : entries.length;
        return { entries: entries.slice(start, end), nextToken: end < entries.length ? String(end) : '' };
      },
      ControllerUnpublishVolume: (req) => {
        if (!req.volumeId) throw new CsiTestError(status.INVALID_ARGUMENT, 'volume id missing');
        // An empty node id means every node (CSI spec).
        if (req.nodeId) this.published.get(req.volumeId)?.delete(req.nodeId);
        else this.published.delete(req.volumeId);
        return {};
      },
    };
    return new Map(Object.entries(handlers) as [CsiMethod, AnyHandler][]);
  }

  /** Idempotent by name, as CSI requires: the same name returns the same volume. */
  private createVolume(req: CsiRequest<'CreateVolume'>): Volume {
    if (!req.name) throw new CsiTestError(status.INVALID_ARGUMENT, 'name missing');
    if (req.volumeCapabilities.length === 0) {
      throw new CsiTestError(status.INVALID_ARGUMENT, 'volume capabilities missing');
    }
    const required = req.capacityRange?.requiredBytes ?? 0n;
    const limit = req.capacityRange?.limitBytes ?? 0n;
    const volumeId = `vol-${req.name}`;
    const existing = this.volumes.get(volumeId);
    if (existing) {
      if (existing.capacityBytes < required || (limit > 0n && existing.capacityBytes > limit)) {
        throw new CsiTestError(status.ALREADY_EXISTS, `volume ${req.name} exists with another size`);
      }
      return existing;
    }
    const volume = VolumeMessage.fromPartial({
      volumeId,
      capacityBytes: required > 0n ? required : limit > 0n ? limit : DEFAULT_CAPACITY,
      contentSource: req.volumeContentSource,
      accessibleTopology: req.accessibilityRequirements?.preferred.slice(0, 1),
    });
    this.volumes.set(volumeId, volume);
    return volume;
  }
}

/** Waits for ms to pass or the gate to open, or until the signal aborts. */
function waitFor(what: number | Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    if (typeof what === 'number') timer = setTimeout(done, what);
    else void what.then(done);
  });
}

function toStatus(err: unknown): { code: number; details: string } {
  if (err instanceof CsiTestError) return { code: err.code, details: err.details };
  // Like grpc-go, an error without a status reaches the client as Unknown.
  return { code: status.UNKNOWN, details: err instanceof Error ? err.message : String(err) };
}
