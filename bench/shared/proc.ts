import { readdirSync, readFileSync, writeFileSync } from 'node:fs';

// Per-process accounting from /proc (the machines run cgroup v1; /proc works everywhere). The provisioner command
// may be a wrapper (a shell script, `npx …`), so CPU and RSS are summed over the process and its descendants.

const TICKS_PER_S = 100;

interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime + cutime + cstime in clock ticks (waited-for children are included by the kernel). */
  ticks: number;
}

function readStat(pid: number): ProcStat | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    const n = (i: number): number => Number(fields[i]);
    return { pid, ppid: n(1), ticks: n(11) + n(12) + n(13) + n(14) };
  } catch {
    return undefined;
  }
}

/** The pid and all its live descendants. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readStat(Number(entry));
    if (stat) children.set(stat.ppid, [...(children.get(stat.ppid) ?? []), stat.pid]);
  }
  const out: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    const pid = queue.shift() as number;
    out.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

/** User + system CPU seconds of a process tree. */
export function cpuSeconds(root: number): number {
  let ticks = 0;
  for (const pid of processTree(root)) ticks += readStat(pid)?.ticks ?? 0;
  return ticks / TICKS_PER_S;
}

function statusKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  try {
    const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** Current RSS of a process tree in KiB. */
export function rssKiB(root: number): number {
  return processTree(root).reduce((sum, pid) => sum + statusKiB(pid, 'VmRSS'), 0);
}

/** Kernel-tracked peak RSS (VmHWM) of a process tree in KiB, summed over its processes. */
export function hwmKiB(root: number): number {
  return processTree(root).reduce((sum, pid) => sum + statusKiB(pid, 'VmHWM'), 0);
}

/** Open file descriptors of a process tree (0 for a process that is gone). */
export function openFds(root: number): number {
  let count = 0;
  for (const pid of processTree(root)) {
    try {
      count += readdirSync(`/proc/${pid}/fd`).length;
    } catch {
      // exited meanwhile
    }
  }
  return count;
}

/**
 * Resets the kernel's peak RSS (VmHWM) of a process tree to its current RSS (`echo 5 > /proc/<pid>/clear_refs`,
 * Linux 4.0+; needs the right to write there, e.g. root or the same user), so a later VmHWM is the peak of what
 * happened since. False when the kernel refused.
 */
export function resetPeakRss(root: number): boolean {
  let ok = true;
  for (const pid of processTree(root)) {
    try {
      writeFileSync(`/proc/${pid}/clear_refs`, '5');
    } catch {
      ok = false;
    }
  }
  return ok;
}

/** Samples the RSS of a process tree every intervalMs and keeps the maximum (VmHWM misses short-lived children). */
export class RssSampler {
  maxKiB = 0;
  private readonly timer: NodeJS.Timeout;

  private readonly pid: number;

  constructor(pid: number, intervalMs = 200) {
    this.pid = pid;
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): number {
    const kib = rssKiB(this.pid);
    this.maxKiB = Math.max(this.maxKiB, kib);
    return kib;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat: shows load from anything else running. */
export function machineBusySeconds(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal: everything but idle and iowait is busy.
  const [user, nice, system, , , irq, softirq, steal] = fields;
  return (user + nice + system + irq + softirq + (steal ?? 0)) / TICKS_PER_S;
}
