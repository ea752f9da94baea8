import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';

/** Splits a command line on whitespace; single or double quotes keep spaces inside one argument. */
export function splitCommand(command: string, what = 'provisioner'): string[] {
  const out: string[] = [];
  for (const m of command.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3]);
  if (out.length === 0) throw new Error(`empty ${what} command`);
  return out;
}

export interface SidecarUnderTestOptions {
  /** Sees every chunk of the output (stdout and stderr) as it arrives, with its performance.now() time. */
  onOutput?: (text: string, atMs: number) => void;
}

/**
 * The sidecar under test (any command taking upstream's flags), its output going to a log file (a 1,000-object
 * run at -v=2 logs megabytes). `role` names it in errors ("provisioner exited …").
 */
export class SidecarUnderTest {
  private readonly child: ChildProcess;
  private readonly exited: Promise<void>;
  private exitInfo: string | undefined;
  private readonly role: string;

  constructor(
    role: string,
    command: string[],
    flags: string[],
    logFile: string,
    options: SidecarUnderTestOptions = {},
  ) {
    this.role = role;
    const [file, ...args] = command;
    const log = createWriteStream(logFile);
    log.write(`$ ${[...command, ...flags].join(' ')}\n`);
    // The sidecars let an exported KUBECONFIG win over --kubeconfig: the bench's cluster must be the one used.
    const env = { ...process.env, KUBECONFIG: undefined };
    this.child = spawn(file, [...args, ...flags], { stdio: ['ignore', 'pipe', 'pipe'], env });
    this.child.stdout?.pipe(log, { end: false });
    this.child.stderr?.pipe(log, { end: false });
    const { onOutput } = options;
    if (onOutput) {
      this.child.stdout?.on('data', (d: Buffer) => onOutput(d.toString(), performance.now()));
      this.child.stderr?.on('data', (d: Buffer) => onOutput(d.toString(), performance.now()));
    }
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.exitInfo = `exit code ${code ?? '-'} signal ${signal ?? '-'}`;
        resolve();
      }),
    );
    this.child.once('error', (err) => (this.exitInfo = `spawn failed: ${err.message}`));
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.role} did not start: ${this.exitInfo ?? ''}`);
    return this.child.pid;
  }

  /** How it ended (`exit code 0 signal -`), undefined while it runs. */
  get exitStatus(): string | undefined {
    return this.exitInfo;
  }

  /** Throws when the sidecar is gone, so waits fail at once instead of running into their timeouts. */
  assertRunning(): void {
    if (this.exitInfo !== undefined) throw new Error(`${this.role} exited (${this.exitInfo}); see its log`);
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
