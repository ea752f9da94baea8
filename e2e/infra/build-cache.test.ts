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

// The pinned versions, for the names of the third-party source folders (<repo>-<version>).
const versions = Object.fromEntries(
  [...readFileSync(repoPath('e2e/infra/versions.env'), 'utf8').matchAll(/^([A-Z0-9_]+)=(\S*)$/gm)].map((m) => [
    m[1],
    m[2],
  ]),
);
const thirdPartyFolders = [
  `csi-driver-host-path-${versions.HOSTPATH_VERSION}`,
  `node-driver-registrar-${versions.REGISTRAR_VERSION}`,
  `livenessprobe-${versions.LIVENESSPROBE_VERSION}`,
];

function buildSh(
  cacheRoot: string,
  args: string[] = [],
  extraEnv: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  const env = { ...process.env, CSI_TS_TESTBIN_CACHE: cacheRoot, ...extraEnv };
  return run('bash', [buildScript, ...args], { env, timeout: 60_000 });
}

/** A cache directory whose binaries (all but `except`) are already there, so build.sh only does its bookkeeping. */
function fillWithStubs(dir: string, except: (name: string) => boolean = () => false): void {
  mkdirSync(join(dir, 'crds'), { recursive: true });
  writeFileSync(join(dir, 'crds', '.complete'), '');
  for (const name of builtNames.filter((n) => !except(n))) {
    writeFileSync(join(dir, name), '#!/bin/sh\n');
    chmodSync(join(dir, name), 0o755);
  }
}

/** A stand-in for the shared third-party folder: the three source folders with a go.mod each. */
function fakeThirdParty(dir: string): string {
  for (const folder of thirdPartyFolders) {
    mkdirSync(join(dir, folder, 'cmd'), { recursive: true });
    writeFileSync(join(dir, folder, 'go.mod'), `module example.invalid/${folder}\n`);
    writeFileSync(join(dir, folder, 'cmd', 'main.go'), 'package main\n');
  }
  return dir;
}

const hashDir = (i: number) => (0xabc0000000000000n + BigInt(i)).toString(16);

describe('e2e/infra/build.sh cache bookkeeping', () => {
  let root = '';
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('reads its binary list from build.sh', () => {
    expect(builtNames).toEqual(
      expect.arrayContaining([
        'etcd',
        'kube-apiserver',
        'mockdriver',
        'hostpathplugin',
        'go-csi-node-driver-registrar',
        'go-livenessprobe',
      ]),
    );
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
      const bindir = (await buildSh(root, ['--print-dir'])).stdout.trim();
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

describe('e2e/infra/build.sh third-party sources', () => {
  let root = '';
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  const printDir = async (thirdParty: string) =>
    (await buildSh(join(root, 'cache'), ['--print-dir'], { CSI_TS_THIRD_PARTY: thirdParty })).stdout.trim();

  it('keys the cache dir by the contents of the source folders, not by their location', async () => {
    root = mkdtempSync(join(tmpdir(), 'testbin-third-party-'));
    const a = fakeThirdParty(join(root, 'a'));
    const b = fakeThirdParty(join(root, 'b'));
    const dirA = await printDir(a);
    expect(await printDir(b)).toBe(dirA);

    writeFileSync(join(b, thirdPartyFolders[2], 'go.sum'), 'example.invalid/x v1.0.0 h1:x=\n');
    const changed = await printDir(b);
    expect(changed).not.toBe(dirA);
    rmSync(join(b, thirdPartyFolders[2], 'go.sum'));
    expect(await printDir(b)).toBe(dirA);

    expect(await printDir(join(root, 'missing'))).not.toBe(dirA);
  });

  it('finishes without the go- binaries when their source folders are missing, and says why', async () => {
    root = mkdtempSync(join(tmpdir(), 'testbin-third-party-'));
    const missing = join(root, 'missing');
    const bindir = await printDir(missing);
    fillWithStubs(bindir, (name) => name.startsWith('go-')); // hostpathplugin stubbed: no module proxy call

    const env = { CSI_TS_THIRD_PARTY: missing };
    const { stdout, stderr } = await buildSh(join(root, 'cache'), [], env);
    expect(stdout.trim().split('\n').at(-1)).toBe(`TESTBIN=${bindir}`);
    expect(existsSync(join(bindir, '.complete'))).toBe(true);
    for (const [name, folder] of [
      ['go-csi-node-driver-registrar', thirdPartyFolders[1]],
      ['go-livenessprobe', thirdPartyFolders[2]],
    ]) {
      expect(existsSync(join(bindir, name))).toBe(false);
      const reason = readFileSync(join(bindir, `${name}.unavailable`), 'utf8');
      expect(reason).toContain(join(missing, folder));
      expect(reason).toContain('CSI_TS_THIRD_PARTY');
      expect(stderr).toContain(`WARNING: ${name} not built`);
    }

    // An unavailable binary is not retried for the same cache key (the key covers the folders).
    rmSync(join(bindir, '.complete'));
    const again = await buildSh(join(root, 'cache'), [], env);
    expect(again.stderr).not.toContain('building go-livenessprobe');
    expect(again.stderr).toMatch(/^build\.sh: {3}go-livenessprobe +unavailable: no source folder/m);
  });
});
