import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';

export interface ProvisionerFlags {
  csiAddress: string;
  kubeconfig: string;
  qps: number;
  burst: number;
  /** CSI call timeout, passed explicitly: upstream's code default (10 s) differs from its README (15 s). */
  timeout: string;
}

/** Upstream csi-provisioner flags; any binary that accepts them can be measured with identical settings. */
export function upstreamFlags(f: ProvisionerFlags): string[] {
  return [
    `--csi-address=${f.csiAddress}`,
    `--kubeconfig=${f.kubeconfig}`,
    `--kube-api-qps=${f.qps}`,
    `--kube-api-burst=${f.burst}`,
    `--timeout=${f.timeout}`,
    '--worker-threads=100',
    '--leader-election=false',
    '-v=2',
  ];
}

/** Splits a command line on whitespace; single or double quotes keep spaces inside one argument. */
export function splitCommand(command: string): string[] {
  const out: string[] = [];
  for (const m of command.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3]);
  if (out.length === 0) throw new Error('empty provisioner command');
  return out;
}

/** The provisioner under test, its output going to a log file (a 1,000-PVC run at -v=2 logs megabytes). */
export class ProvisionerProcess {
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private exitInfo: string | undefined;

  constructor(command: string[], flags: string[], logFile: string) {
    const [file, ...args] = command;
    const log = createWriteStream(logFile);
    log.write(`$ ${[...command, ...flags].join(' ')}\n`);
    // csi-provisioner lets an exported KUBECONFIG win over --kubeconfig: the bench's cluster must be the one used.
    const env = { ...process.env, KUBECONFIG: undefined };
    this.child = spawn(file, [...args, ...flags], { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.child.stdout?.pipe(log, { end: false });
    this.child.stderr?.pipe(log, { end: false });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.exitInfo = `exit code ${code ?? '-'} signal ${signal ?? '-'}`;
        resolve();
      }),
    );
    this.child.once('error', (err) => (this.exitInfo = `spawn failed: ${err.message}`));
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`provisioner did not start: ${this.exitInfo ?? ''}`);
    return this.child.pid;
  }

  /** Throws when the provisioner is gone, so waits fail at once instead of running into their timeouts. */
  assertRunning(): void {
    if (this.exitInfo !== undefined) throw new Error(`provisioner exited (${this.exitInfo}); see its log`);
  }

  async stop(): Promise<void> {
    if (this.exitInfo === undefined) {
      this.child.kill('SIGTERM');
      const killer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await this.exited;
      clearTimeout(killer);
    }
  }
}
