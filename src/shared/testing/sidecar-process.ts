import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { createServer } from 'node:net';

/** A sidecar bundle running as a child process, with its stderr collected. */
export class SidecarProcess {
  readonly child: ChildProcess;
  private output = '';
  private readonly exited: Promise<number | null>;

  /** With `binary`, `bundle` is an executable run directly (a Go sidecar to compare with), not a script for node. */
  constructor(bundle: string, args: string[], options: { nodeArgs?: string[]; binary?: boolean } = {}) {
    // A developer's exported KUBECONFIG would win over the test's --kubeconfig in csi-provisioner.
    const env = { ...process.env, KUBECONFIG: undefined };
    const [command, argv] = options.binary
      ? [bundle, args]
      : [process.execPath, [...(options.nodeArgs ?? []), bundle, ...args]];
    this.child = spawn(command, argv, { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.child.stdout?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.child.stderr?.on('data', (d: Buffer) => (this.output += d.toString()));
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error('process did not start');
    return this.child.pid;
  }

  get log(): string {
    return this.output;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves when the combined output matches pattern. */
  async waitForLog(pattern: RegExp, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.output)) {
      if (!this.running) throw new Error(`process exited before logging ${pattern}:\n${this.output}`);
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}:\n${this.output}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Resolves with the exit code (null when killed by a signal). */
  waitForExit(timeoutMs = 10_000): Promise<number | null> {
    return Promise.race([
      this.exited,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`process still running:\n${this.output}`)), timeoutMs).unref(),
      ),
    ]);
  }

  async stop(): Promise<void> {
    if (this.running) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** Resident set size in KiB, from /proc. */
  rssKiB(): number {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
    if (!m) throw new Error('VmRSS not found');
    return Number(m[1]);
  }

  /** Open file descriptors. */
  openFds(): number {
    return readdirSync(`/proc/${this.pid}/fd`).length;
  }

  /** Open unix and TCP sockets. */
  openSockets(): number {
    return readdirSync(`/proc/${this.pid}/fd`).filter((fd) => {
      try {
        return readlinkSync(`/proc/${this.pid}/fd/${fd}`).startsWith('socket:');
      } catch {
        return false;
      }
    }).length;
  }
}

/** A free TCP port on 127.0.0.1 (briefly bound, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
