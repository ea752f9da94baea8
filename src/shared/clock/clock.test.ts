import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

describe('realClock', () => {
  it('keeps the process alive while a timer is pending', () => {
    // A process whose only work is a pending retry must wait for it, not exit.
    const clockModule = fileURLToPath(new URL('./clock.ts', import.meta.url));
    const script = `const { realClock } = await import(${JSON.stringify(clockModule)});
realClock.after(200, () => console.log('fired'));`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe('fired\n');
  });

  it('does not fire a cancelled timer and lets the process exit', () => {
    const clockModule = fileURLToPath(new URL('./clock.ts', import.meta.url));
    const script = `const { realClock } = await import(${JSON.stringify(clockModule)});
realClock.after(60_000, () => console.log('fired')).cancel();`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      encoding: 'utf8',
      timeout: 10_000,
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toBe('');
  });
});
