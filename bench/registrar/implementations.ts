import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testBinDir } from '../../e2e/fixture/binaries.js';
import { ManagedProcess, waitUntil } from '../../e2e/fixture/managed-process.js';
import { CsiConnection } from '../../src/shared/csi/connection.js';
import { discardLogger } from '../../src/shared/log/logger.js';
import { bundleSidecar } from '../../src/shared/testing/sidecar-bundle.js';
import { splitCommand } from '../shared/sidecar-process.js';

/** A registrar under test: ours (a fresh bundle of src/), upstream's Go v2.17.0, or any command with its flags. */
export interface Implementation {
  id: 'ts' | 'go' | 'custom';
  command: string[];
  /** How the report names the command. */
  display: string;
}

export const LABELS: Record<Implementation['id'], string> = { ts: 'ours', go: 'Go', custom: 'custom' };

export const GO_REGISTRAR_VERSION = 'v2.17.0';
export const GO_LIVENESSPROBE_VERSION = 'v2.19.0';

/** Everything one run measures: the registrars of steps 1–4 and the four binaries of the layouts (step 5). */
export interface Binaries {
  registrars: Implementation[];
  ours: { registrar: Implementation; livenessprobe: Implementation };
  go: { registrar: Implementation; livenessprobe: Implementation };
}

export interface BinaryOptions {
  registrarCmd?: string;
  goRegistrarCmd?: string;
  goLivenessprobeCmd?: string;
}

/** A Go binary from the test-binary cache (e2e/infra/build.sh) unless a command was given for it. */
function goBinary(name: string, what: string, version: string, command: string | undefined): Implementation {
  if (command !== undefined) return { id: 'go', command: splitCommand(command, what), display: command };
  const path = join(testBinDir(), name);
  if (!existsSync(path)) {
    throw new Error(
      `${path} is missing: "bash e2e/infra/build.sh" builds it (or pass --go-${what}-cmd=/path/to/${what})`,
    );
  }
  return { id: 'go', command: [path], display: `${path} (Go ${what} ${version})` };
}

/**
 * Ours bundled exactly as `npm run build` bundles them (scripts/bundle-options.ts), run as `node <bundle>`: the
 * bundles restart themselves in place with their lean V8 flags, so what runs is what ships. Go from the cache.
 */
export async function resolveBinaries(opts: BinaryOptions): Promise<Binaries> {
  const go = {
    registrar: goBinary('go-csi-node-driver-registrar', 'registrar', GO_REGISTRAR_VERSION, opts.goRegistrarCmd),
    livenessprobe: goBinary('go-livenessprobe', 'livenessprobe', GO_LIVENESSPROBE_VERSION, opts.goLivenessprobeCmd),
  };
  const ours = {
    registrar: {
      id: 'ts' as const,
      command: [process.execPath, await bundleSidecar('csi-node-driver-registrar')],
      display: 'node <fresh bundle of src/node-driver-registrar>',
    },
    livenessprobe: {
      id: 'ts' as const,
      command: [process.execPath, await bundleSidecar('livenessprobe')],
      display: 'node <fresh bundle of src/livenessprobe>',
    },
  };
  let first = ours.registrar as Implementation;
  if (opts.registrarCmd !== undefined) {
    const command = splitCommand(opts.registrarCmd, 'registrar');
    const isGo = command.join(' ') === go.registrar.command.join(' ');
    first = { id: isGo ? 'go' : 'custom', command, display: opts.registrarCmd };
  }
  const registrars = first.id === 'go' ? [first] : [first, go.registrar];
  return { registrars, ours, go };
}

export type DriverKind = 'hostpath' | 'mock';

/** The CSI driver every registrar and livenessprobe of the run talks to: one process for the whole run. */
export interface Driver {
  kind: DriverKind;
  /** GetPluginInfo's name: the registration socket is `<dir>/<name>-reg.sock`. */
  name: string;
  version: string;
  socket: string;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** hostpathplugin when the cache has it (the footprint issue compares on hostpath), else the e2e mock driver. */
export function defaultDriver(): DriverKind {
  return existsSync(join(testBinDir(), 'hostpathplugin')) ? 'hostpath' : 'mock';
}

export async function startDriver(kind: DriverKind, logDir: string): Promise<Driver> {
  // Short path: unix socket paths are limited to 107 bytes.
  const dir = mkdtempSync(join(tmpdir(), 'regbench-'));
  const socket = join(dir, 'csi.sock');
  const bin = join(testBinDir(), kind === 'hostpath' ? 'hostpathplugin' : 'mockdriver');
  const args =
    kind === 'hostpath'
      ? [`--endpoint=unix://${socket}`, '--nodeid=n1', `--statedir=${join(dir, 'state')}`]
      : [`--endpoint=unix://${socket}`];
  mkdirSync(logDir, { recursive: true });
  const proc = new ManagedProcess({ name: kind, command: bin, args, logFile: join(logDir, `driver-${kind}.log`) });
  proc.start();
  await waitUntil('CSI driver socket', () => existsSync(socket), 30_000);
  const conn = await CsiConnection.connect({ address: socket, logger: discardLogger(), connectTimeoutMs: 30_000 });
  let info: { name: string; vendorVersion: string };
  try {
    info = await conn.call('GetPluginInfo', {}, { timeoutMs: 5_000 });
  } finally {
    conn.close();
  }
  return {
    kind,
    name: info.name,
    version: info.vendorVersion,
    socket,
    process: proc,
    stop: async () => {
      await proc.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
