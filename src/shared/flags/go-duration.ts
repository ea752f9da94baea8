const unitMs: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/**
 * Parses a Go duration string ("15s", "1m30s", "300ms", "1.5h", "0") into
 * milliseconds, with Go's rules: a unit is required except for "0".
 */
export function parseGoDuration(text: string): number {
  const s = text.trim();
  if (s === '0' || s === '+0' || s === '-0') return 0;
  let rest = s;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest[0] === '-') sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '') throw new Error(`time: invalid duration ${JSON.stringify(text)}`);
  let total = 0;
  const part = /^(\d*\.?\d*)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest !== '') {
    const m = part.exec(rest);
    if (!m || m[1] === '' || m[1] === '.') {
      const hasNumber = /^\d*\.?\d+|^\d+\.?/.test(rest);
      const why = hasNumber ? 'missing or unknown unit in duration' : 'invalid duration';
      throw new Error(`time: ${why} ${JSON.stringify(text)}`);
    }
    total += Number(m[1]) * unitMs[m[2]];
    rest = rest.slice(m[0].length);
  }
  return sign * total;
}

/** Formats milliseconds the way Go's time.Duration.String does ("1m30s", "300ms", "0s"). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const sign = ms < 0 ? '-' : '';
  const abs = Math.abs(ms);
  if (abs < 1000) {
    if (abs < 1e-3) return `${sign}${trimNumber(abs * 1e6)}ns`;
    if (abs < 1) return `${sign}${trimNumber(abs * 1e3)}µs`;
    return `${sign}${trimNumber(abs)}ms`;
  }
  const hours = Math.floor(abs / 3_600_000);
  const minutes = Math.floor((abs % 3_600_000) / 60_000);
  const seconds = (abs % 60_000) / 1000;
  let out = sign;
  if (hours > 0) out += `${hours}h`;
  if (hours > 0 || minutes > 0) out += `${minutes}m`;
  return `${out}${trimNumber(seconds)}s`;
}

function trimNumber(n: number): string {
  return String(Number(n.toFixed(9)));
}
