import { FlagError, HelpRequested, formatUsage, parseFlags } from './flag-set.js';
import type { FlagSpecs, FlagSyntax, ParsedFlags } from './flag-set.js';

export interface CommandLineIO {
  stderr: (text: string) => void;
  exit: (code: number) => never;
}

const processIO: CommandLineIO = {
  stderr: (text) => process.stderr.write(text),
  exit: (code) => process.exit(code),
};

/**
 * Parses the command line like the Go binaries do: a bad flag prints the
 * error and usage and exits 2; -h/--help prints usage and exits 0.
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
    return parseFlags(options.specs, options.argv, options.syntax);
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
