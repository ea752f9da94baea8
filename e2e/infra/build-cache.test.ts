import { execFile } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { repoPath } from '../fixture/binaries.js';

const run = promisify(execFile);
const buildScript = repoPath('e2e/infra/build.sh');

// The binaries build.sh makes, read from its own `build_one NAME FUNCTION` lines so a new one is covered too.
const builtNames = [...readFileSync(buildScript, 'utf8').matchAll(/^\s*build_one (\S+) \S+$/gm)].map((m) => m[1]);

function buildSh(cacheRoot: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  const env = { ...process.env, CSI_TS_TESTBIN_CACHE: cacheRoot };
  return run('bash', [buildScript, ...args], { env, timeout: 60_000 });
}

/** A cache directory whose every binary is already there, so build.sh only does its bookkeeping. */
function fillWithStubs(dir: string): void {
  mkdirSync(join(dir, 'crds'), { recursive: true });
  writeFileSync(join(dir, 'crds', '.complete'), '');
  for (const name of builtNames) {
    writeFileSync(join(dir, name), '#!/bin/sh\n');
    chmodSync(join(dir, name), 0o755);
  }
}

const hashDir = (i: number) => (0xabc0000000000000n + BigInt(i)).toString(16);

describe('e2e/infra/build.sh cache bookkeeping', () => {
  let root = '';
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('reads its binary list from build.sh', () => {
    expect(builtNames).toEqual(expect.arrayContaining(['etcd', 'kube-apiserver', 'mockdriver', 'hostpathplugin']));
  });

  // Zero other directories is a fresh machine: the first run there used to end in `set -e` after the build.
  it.each([
    { older: 0, other: false },
    { older: 1, other: false },
    { older: 2, other: false },
    { older: 4, other: false },
    { older: 4, other: true },
  ])(
    'finishes a build with $older older cache directories (a non-cache folder: $other) and keeps the 3 newest',
    async ({ older, other }) => {
      root = mkdtempSync(join(tmpdir(), 'testbin-cache-'));
      const bindir = (await buildSh(root, '--print-dir')).stdout.trim();
      expect(bindir.startsWith(`${root}/`)).toBe(true);
      expect(existsSync(bindir)).toBe(false); // --print-dir creates nothing

      const now = Date.now() / 1000;
      for (let i = 0; i < older; i++) {
        const dir = join(root, hashDir(i));
        mkdirSync(dir);
        utimesSync(dir, now - 1000 * (i + 1), now - 1000 * (i + 1)); // hashDir(0) is the newest
      }
      if (other) mkdirSync(join(root, 'notes')); // not named like a cache key: never pruned
      fillWithStubs(bindir);

      const { stdout, stderr } = await buildSh(root);
      expect(stdout.trim().split('\n').at(-1)).toBe(`TESTBIN=${bindir}`);
      expect(stderr).toContain('timings (this run');
      expect(readFileSync(join(bindir, '.complete'), 'utf8')).toMatch(/^go=go version go1\.\d+/m);
      expect(existsSync(join(bindir, '.partial'))).toBe(false);

      const kept = Array.from({ length: Math.min(older, 2) }, (_, i) => hashDir(i));
      expect(readdirSync(root).sort()).toEqual(
        [basename(bindir), ...kept, ...(other ? ['notes'] : []), '.lock'].sort(),
      );

      const again = await buildSh(root);
      expect(again.stderr).toContain(`cached build is complete: ${bindir}`);
      expect(again.stdout.trim()).toBe(`TESTBIN=${bindir}`);
    },
  );
});
