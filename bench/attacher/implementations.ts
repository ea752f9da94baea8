import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { testBinDir } from '../../e2e/fixture/binaries.js';
import { bundleSidecar } from '../../src/shared/testing/sidecar-bundle.js';
import { splitCommand } from '../shared/sidecar-process.js';

/** An attacher under test: ours (a fresh bundle of src/), upstream's Go binary, or any other command. */
export interface Implementation {
  id: 'ts' | 'go' | 'custom';
  command: string[];
  /** How the report names the command. */
  display: string;
}

export const LABELS: Record<Implementation['id'], string> = { ts: 'ours', go: 'Go', custom: 'custom' };

/** The Go csi-attacher v4.12.0 that e2e/infra/build.sh builds into the test-binary cache. */
export function goAttacherPath(): string {
  const path = join(testBinDir(), 'csi-attacher');
  if (!existsSync(path)) throw new Error(`${path} is missing: run "bash e2e/infra/build.sh" (builds csi-attacher)`);
  return path;
}

/** The attachers to measure, in run order: --attacher-cmd (default ours), then Go with --compare-go. */
export async function implementations(opts: { attacherCmd?: string; compareGo: boolean }): Promise<Implementation[]> {
  const goPath = opts.compareGo ? goAttacherPath() : undefined;
  const out: Implementation[] = [];
  if (opts.attacherCmd === undefined) {
    // The current sources, bundled exactly as `npm run build` does, on this Node.
    out.push({
      id: 'ts',
      command: [process.execPath, await bundleSidecar('csi-attacher')],
      display: 'node <fresh bundle of src/external-attacher>',
    });
  } else {
    const command = splitCommand(opts.attacherCmd, 'attacher');
    const isGo = command.length === 1 && command[0] === (goPath ?? safeGoPath());
    out.push({ id: isGo ? 'go' : 'custom', command, display: opts.attacherCmd });
  }
  if (goPath !== undefined && out[0].id !== 'go') {
    out.push({ id: 'go', command: [goPath], display: `${goPath} (Go csi-attacher v4.12.0 from e2e/infra/build.sh)` });
  }
  return out;
}

function safeGoPath(): string | undefined {
  try {
    return goAttacherPath();
  } catch {
    return undefined;
  }
}
