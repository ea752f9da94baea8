import { writeSync } from 'node:fs';

export type LogFormat = 'text' | 'json';
export type KeyValues = Record<string, unknown>;

/** Where finished log lines go. Defaults to a synchronous write to stderr. */
export type LogSink = (line: string) => void;

export interface LoggerOptions {
  /** The -v level: info lines at V(n) with n > verbosity are dropped. */
  verbosity?: number;
  format?: LogFormat;
  sink?: LogSink;
  /** Shown where klog prints file:line. */
  name?: string;
}

export interface InfoLogger {
  readonly enabled: boolean;
  info(msg: string, kv?: KeyValues): void;
}

/**
 * A klog-shaped logger: `I1122 00:00:00.123456   12345 name] "msg" key="value"`
 * in text form, `{"ts":…,"msg":…,"v":…}` in JSON form. Writes synchronously so
 * a final line before process.exit is never lost.
 */
export class Logger {
  private readonly verbosity: number;
  private readonly format: LogFormat;
  private readonly sink: LogSink;
  private readonly name: string;
  private readonly values: KeyValues;

  constructor(options: LoggerOptions = {}, values: KeyValues = {}) {
    this.verbosity = options.verbosity ?? 0;
    this.format = options.format ?? 'text';
    this.sink = options.sink ?? stderrSink;
    this.name = options.name ?? 'main';
    this.values = values;
  }

  v(level: number): InfoLogger {
    const enabled = level <= this.verbosity;
    return {
      enabled,
      info: (msg, kv) => {
        if (enabled) this.write('I', level, msg, kv);
      },
    };
  }

  info(msg: string, kv?: KeyValues): void {
    this.write('I', 0, msg, kv);
  }

  warn(msg: string, kv?: KeyValues): void {
    this.write('W', 0, msg, kv);
  }

  error(err: unknown, msg: string, kv?: KeyValues): void {
    this.write('E', 0, msg, kv, err);
  }

  /** A child logger that adds kv to every line. */
  withValues(kv: KeyValues): Logger {
    return new Logger(
      { verbosity: this.verbosity, format: this.format, sink: this.sink, name: this.name },
      { ...this.values, ...kv },
    );
  }

  withName(name: string): Logger {
    return new Logger({ verbosity: this.verbosity, format: this.format, sink: this.sink, name }, this.values);
  }

  private write(severity: 'I' | 'W' | 'E', level: number, msg: string, kv?: KeyValues, err?: unknown): void {
    const all = { ...this.values, ...kv };
    const now = new Date();
    const line =
      this.format === 'json'
        ? jsonLine(now, severity, level, msg, all, err)
        : textLine(now, severity, this.name, msg, all, err);
    this.sink(line + '\n');
  }
}

function stderrSink(line: string): void {
  try {
    writeSync(2, line);
  } catch {
    // stderr closed: nothing sensible left to do with the line.
  }
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function textLine(now: Date, severity: string, name: string, msg: string, kv: KeyValues, err: unknown): string {
  const header =
    `${severity}${pad(now.getUTCMonth() + 1, 2)}${pad(now.getUTCDate(), 2)} ` +
    `${pad(now.getUTCHours(), 2)}:${pad(now.getUTCMinutes(), 2)}:${pad(now.getUTCSeconds(), 2)}.` +
    `${pad(now.getUTCMilliseconds() * 1000, 6)} ${String(process.pid).padStart(7, ' ')} ${name}]`;
  let out = `${header} ${JSON.stringify(msg)}`;
  if (err !== undefined) out += ` err=${JSON.stringify(errorText(err))}`;
  for (const [k, v] of Object.entries(kv)) out += ` ${k}=${textValue(v)}`;
  return out;
}

function jsonLine(now: Date, severity: string, level: number, msg: string, kv: KeyValues, err: unknown): string {
  const record: KeyValues = { ts: now.getTime() / 1000, msg };
  if (severity === 'I') record.v = level;
  if (err !== undefined) record.err = errorText(err);
  for (const [k, v] of Object.entries(kv)) record[k] = v instanceof Error ? v.message : v;
  return safeStringify(record);
}

function textValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === undefined) return '<undefined>';
  if (v instanceof Error) return JSON.stringify(v.message);
  return safeStringify(v);
}

/** The message of an Error; a thrown string as is; any other thrown value as JSON (`{"code":5}`). */
export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return typeof err === 'string' ? err : safeStringify(err);
}

/**
 * The message of an Error; any other thrown value as `String(value)` would print it. Differs from errorText only for
 * a thrown value that is neither an Error nor a string: an object gives `[object Object]` here, JSON there. The
 * provisioner's volume deletion and protection controllers build their event and error texts with this one.
 */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** JSON.stringify that writes bigint as a number and survives cycles. */
export function safeStringify(value: unknown): string {
  const seen = new WeakSet<object>();
  try {
    const out = JSON.stringify(value, (_key, v: unknown) => {
      if (typeof v === 'bigint') return JSON.rawJSON(v.toString());
      if (typeof v === 'object' && v !== null) {
        if (seen.has(v)) return '[Circular]';
        seen.add(v);
      }
      return v;
    });
    return out ?? 'undefined';
  } catch (e) {
    return `<unserializable: ${(e as Error).message}>`;
  }
}

/** A logger that drops everything; handy default for components in tests. */
export function discardLogger(): Logger {
  return new Logger({ sink: () => {} });
}
