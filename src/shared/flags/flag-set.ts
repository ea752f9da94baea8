import { formatGoDuration, parseGoDuration } from './go-duration.js';

/**
 * Go's standard `flag` package accepts `-name` and `--name`; spf13/pflag (the
 * provisioner) accepts only `--name` plus one-letter shorthands like `-v`.
 */
export type FlagSyntax = 'go' | 'pflag';

type FlagValueByKind = {
  string: string;
  bool: boolean;
  int: number;
  float: number;
  duration: number;
  stringMap: Record<string, string>;
  boolMap: Record<string, boolean>;
  stringList: string[];
};
export type FlagKind = keyof FlagValueByKind;

export interface FlagSpec<K extends FlagKind = FlagKind> {
  kind: K;
  name: string;
  default: FlagValueByKind[K];
  usage: string;
  /** One-letter pflag shorthand, such as "v". */
  shorthand?: string;
  /** Shown in usage after the text; the flag still works. */
  deprecated?: string;
  /** Accepted for compatibility and ignored (e.g. Go-only --automaxprocs). */
  hidden?: boolean;
  /** Type word shown in usage (Go shows "string", "duration", "value"). */
  typeName?: string;
}

export type FlagSpecs = Record<string, FlagSpec>;
export type FlagValues<S extends FlagSpecs> = { [P in keyof S]: S[P]['default'] };

export interface ParsedFlags<S extends FlagSpecs> {
  values: FlagValues<S>;
  /** Keys (property names) of flags given on the command line. */
  explicit: Set<keyof S>;
  /** Arguments after the first non-flag argument (Go) or all positional ones (pflag). */
  args: string[];
}

/** A command-line error: the caller prints the message and usage and exits 2. */
export class FlagError extends Error {
  readonly exitCode = 2;
}

/** -h / --help was given: the caller prints usage and exits 0. */
export class HelpRequested extends Error {
  readonly exitCode = 0;
  constructor() {
    super('help requested');
  }
}

function spec<K extends FlagKind>(kind: K) {
  return (name: string, def: FlagValueByKind[K], usage: string, extra: Partial<FlagSpec<K>> = {}): FlagSpec<K> => ({
    kind,
    name,
    default: def,
    usage,
    ...extra,
  });
}

export const stringFlag = spec('string');
export const boolFlag = spec('bool');
export const intFlag = spec('int');
export const floatFlag = spec('float');
export const stringListFlag = spec('stringList');
export const stringMapFlag = spec('stringMap');
export const boolMapFlag = spec('boolMap');

/** A Go duration flag; the default is given in Go syntax ("15s") and parsed to milliseconds. */
export function durationFlag(
  name: string,
  def: string,
  usage: string,
  extra: Partial<FlagSpec<'duration'>> = {},
): FlagSpec<'duration'> {
  return { kind: 'duration', name, default: parseGoDuration(def), usage, ...extra };
}

const truthy = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const falsy = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

function parseBool(text: string): boolean {
  if (truthy.has(text)) return true;
  if (falsy.has(text)) return false;
  throw new Error('parse error');
}

function parseValue(s: FlagSpec, text: string, previous: unknown): unknown {
  switch (s.kind) {
    case 'string':
      return text;
    case 'bool':
      return parseBool(text);
    case 'int': {
      if (!/^[+-]?\d+$/.test(text.trim())) throw new Error('parse error');
      return Number(text);
    }
    case 'float': {
      const n = Number(text);
      if (text.trim() === '' || Number.isNaN(n)) throw new Error('parse error');
      return n;
    }
    case 'duration':
      return parseGoDuration(text);
    case 'stringList':
      return [...(previous as string[]), ...text.split(',').filter((x) => x !== '')];
    case 'stringMap':
      return { ...(previous as Record<string, string>), ...parsePairs(text, '=') };
    case 'boolMap': {
      const out: Record<string, boolean> = { ...(previous as Record<string, boolean>) };
      for (const [k, v] of Object.entries(parsePairs(text, '='))) {
        try {
          out[k] = parseBool(v);
        } catch {
          throw new Error(`invalid value of ${k}: ${v}, err: strconv.ParseBool: parsing ${JSON.stringify(v)}`);
        }
      }
      return out;
    }
  }
}

function parsePairs(text: string, sep: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of text.split(',')) {
    const trimmed = item.trim();
    if (trimmed === '') continue;
    const at = trimmed.indexOf(sep);
    if (at <= 0) throw new Error(`missing bool value for ${trimmed}`);
    out[trimmed.slice(0, at).trim()] = trimmed.slice(at + 1).trim();
  }
  return out;
}

/**
 * Parses argv against the specs with the chosen syntax. Throws FlagError for
 * bad input and HelpRequested for -h/--help.
 */
export function parseFlags<S extends FlagSpecs>(specs: S, argv: string[], syntax: FlagSyntax): ParsedFlags<S> {
  const byName = new Map<string, [keyof S, FlagSpec]>();
  const byShorthand = new Map<string, [keyof S, FlagSpec]>();
  const values = {} as Record<keyof S, unknown>;
  for (const [key, s] of Object.entries(specs) as [keyof S, FlagSpec][]) {
    byName.set(s.name, [key, s]);
    if (s.shorthand) byShorthand.set(s.shorthand, [key, s]);
    values[key] = cloneDefault(s.default);
  }
  const explicit = new Set<keyof S>();
  const args: string[] = [];

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      if (syntax === 'go') {
        args.push(...argv.slice(i));
        break;
      }
      args.push(arg);
      continue;
    }
    const long = arg.startsWith('--');
    const body = arg.slice(long ? 2 : 1);
    let entry: [keyof S, FlagSpec] | undefined;
    let inline: string | undefined;
    let name: string;
    if (long || syntax === 'go') {
      const eq = body.indexOf('=');
      name = eq >= 0 ? body.slice(0, eq) : body;
      inline = eq >= 0 ? body.slice(eq + 1) : undefined;
      entry = byName.get(name);
    } else {
      // pflag reads a single dash as shorthand letters: -v=5, -v5, -v 5.
      name = body.slice(0, 1);
      entry = byShorthand.get(name);
      const rest = body.slice(1);
      inline = rest.startsWith('=') ? rest.slice(1) : rest === '' ? undefined : rest;
      if (!entry && name !== 'h') throw new FlagError(`unknown shorthand flag: '${name}' in ${arg}`);
    }
    if (!entry && (name === 'h' || name === 'help')) throw new HelpRequested();
    if (!entry) {
      throw new FlagError(syntax === 'go' ? `flag provided but not defined: -${name}` : `unknown flag: --${name}`);
    }
    const [key, s] = entry;
    if (s.kind === 'bool' && inline === undefined) {
      values[key] = true;
      explicit.add(key);
      continue;
    }
    if (inline === undefined) {
      if (i + 1 >= argv.length) {
        throw new FlagError(syntax === 'go' ? `flag needs an argument: -${name}` : `flag needs an argument: --${name}`);
      }
      inline = argv[++i];
    }
    try {
      values[key] = parseValue(s, inline, values[key]);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new FlagError(`invalid value ${JSON.stringify(inline)} for flag -${s.name}: ${reason}`);
    }
    explicit.add(key);
  }
  return { values: values as FlagValues<S>, explicit, args };
}

function cloneDefault(v: unknown): unknown {
  if (Array.isArray(v)) return [...(v as unknown[])];
  if (typeof v === 'object' && v !== null) return { ...v };
  return v;
}

/**
 * A markdown table of the visible flags (name, default, meaning), sorted by
 * name like the usage text: the README's flag reference is generated from it.
 */
export function formatFlagTable(specs: FlagSpecs, syntax: FlagSyntax): string {
  const dash = syntax === 'go' ? '-' : '--';
  const cell = (text: string): string => text.replaceAll('|', '\\|').replaceAll('\n', ' ');
  const rows = Object.values(specs)
    .filter((s) => !s.hidden)
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((s) => {
      const name = `\`${dash}${s.name}\`` + (s.shorthand ? `, \`-${s.shorthand}\`` : '');
      const def = isZero(s) ? '' : `\`${defaultText(s)}\``;
      const text = s.deprecated ? `${s.usage} (deprecated: ${s.deprecated})` : s.usage;
      return `| ${cell(name)} | ${cell(def)} | ${cell(text)} |`;
    });
  return ['| flag | default | meaning |', '| --- | --- | --- |', ...rows].join('\n') + '\n';
}

function isZero(s: FlagSpec): boolean {
  const d = s.default;
  if (Array.isArray(d)) return d.length === 0;
  if (typeof d === 'object' && d !== null) return Object.keys(d).length === 0;
  return d === '' || d === 0 || d === false;
}

function defaultText(s: FlagSpec): string {
  if (s.kind === 'duration') return formatGoDuration(s.default as number);
  if (s.kind === 'string') return JSON.stringify(s.default);
  return String(s.default);
}

function typeWord(s: FlagSpec): string {
  if (s.typeName !== undefined) return s.typeName;
  switch (s.kind) {
    case 'bool':
      return '';
    case 'stringList':
      return 'strings';
    case 'stringMap':
    case 'boolMap':
      return 'mapStringBool';
    default:
      return s.kind;
  }
}

/** Usage text in the layout of Go's flag package or of pflag. */
export function formatUsage(program: string, specs: FlagSpecs, syntax: FlagSyntax): string {
  const visible = Object.values(specs)
    .filter((s) => !s.hidden)
    .sort((a, b) => a.name.localeCompare(b.name));
  const lines = [`Usage of ${program}:`];
  for (const s of visible) {
    let text = s.usage;
    if (s.deprecated) text += ` (DEPRECATED: ${s.deprecated})`;
    if (!isZero(s)) text += ` (default ${defaultText(s)})`;
    const type = typeWord(s);
    if (syntax === 'go') {
      lines.push(`  -${s.name}${type ? ` ${type}` : ''}`);
      lines.push(`    \t${text.replaceAll('\n', '\n    \t')}`);
    } else {
      const short = s.shorthand ? `-${s.shorthand}, ` : '    ';
      lines.push(`  ${short}--${s.name}${type ? ` ${type}` : ''}`);
      lines.push(`        ${text}`);
    }
  }
  return lines.join('\n') + '\n';
}
