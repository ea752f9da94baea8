import { describe, expect, it } from 'vitest';
import { parseCommandLine } from './command-line.js';
import type { CommandLineIO } from './command-line.js';
import { boolFlag, stringFlag } from './flag-set.js';
import { standardFlags } from './standard-flags.js';

class Exit extends Error {
  readonly code: number;
  constructor(code: number) {
    super(`exit ${code}`);
    this.code = code;
  }
}

function fakeIO() {
  const out: string[] = [];
  const err: string[] = [];
  const io: CommandLineIO = {
    stdout: (t) => out.push(t),
    stderr: (t) => err.push(t),
    exit: (code) => {
      throw new Exit(code);
    },
  };
  return { io, out, err };
}

const specs = {
  address: stringFlag('csi-address', '/run/csi/socket', 'Socket.'),
  debug: boolFlag('debug', false, 'D.'),
};

function exitCode(fn: () => unknown): number {
  try {
    fn();
  } catch (e) {
    if (e instanceof Exit) return e.code;
    throw e;
  }
  throw new Error('did not exit');
}

describe('parseCommandLine', () => {
  it('returns the parsed values for a good command line', () => {
    const { io } = fakeIO();
    const parsed = parseCommandLine({ program: 'x', specs, argv: ['--csi-address=/a'], syntax: 'go', io });
    expect(parsed.values.address).toBe('/a');
  });

  it('prints the error and usage to stderr and exits 2 on an unknown flag', () => {
    const { io, err } = fakeIO();
    expect(exitCode(() => parseCommandLine({ program: 'x', specs, argv: ['--nope'], syntax: 'go', io }))).toBe(2);
    expect(err.join('')).toMatch(/^flag provided but not defined: -nope\nUsage of x:\n/);
  });

  it('prints usage and exits 0 on --help', () => {
    const { io, err } = fakeIO();
    expect(exitCode(() => parseCommandLine({ program: 'x', specs, argv: ['-h'], syntax: 'go', io }))).toBe(0);
    expect(err.join('')).toContain('-csi-address string');
  });

  it('prints "<program> <version>" and exits 0 on --version', () => {
    const { io, out } = fakeIO();
    const code = exitCode(() =>
      parseCommandLine({ program: 'csi-attacher', specs: standardFlags, argv: ['--version'], syntax: 'go', io }),
    );
    expect(code).toBe(0);
    expect(out.join('')).toBe('csi-attacher devel\n');
  });
});
