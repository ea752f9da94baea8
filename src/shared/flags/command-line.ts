import { FlagError, HelpRequested, formatUsage, parseFlags } from './flag-set.js';
import type { FlagSpecs, FlagSyntax, ParsedFlags } from './flag-set.js';
import { sidecarVersion } from '../version/version.js';

export interface CommandLineIO {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  exit: (code: number) => never;
}

const processIO: CommandLineIO = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  exit: (code) => process.exit(code),
};

/**
 * Parses the command line like the Go binaries do: a bad flag prints the
 * error and usage and exits 2; -h/--help prints usage and exits 0; a set
 * showVersion flag (--version) prints the version and exits 0.
 */
export function parseCommandLine<S extends FlagSpecs>(options: {
  program: string;
  specs: S;
  argv: string[];
  syntax: FlagSyntax;
  io?: CommandLineIO;
}): ParsedFlags<S> {
  const io = options.io ?? processIO;
  try {
    const parsed = parseFlags(options.specs, options.argv, options.syntax);
    // Sidecars with csi-lib-utils' --version print "<program> <version>" and exit 0.
    if ((parsed.values as { showVersion?: unknown }).showVersion === true) {
      io.stdout(`${options.program} ${sidecarVersion}\n`);
      return io.exit(0);
    }
    return parsed;
  } catch (err) {
    const usage = formatUsage(options.program, options.specs, options.syntax);
    if (err instanceof HelpRequested) {
      io.stderr(usage);
      return io.exit(0);
    }
    if (err instanceof FlagError) {
      io.stderr(`${err.message}\n${usage}`);
      return io.exit(2);
    }
    throw err;
  }
}
