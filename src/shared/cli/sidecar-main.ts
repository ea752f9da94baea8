import { parseCommandLine } from '../flags/command-line.js';
import type { FlagSpecs, FlagSyntax, FlagValues } from '../flags/flag-set.js';
import { loggerFromFlags } from '../flags/logging-flags.js';
import { Logger } from '../log/logger.js';

export interface SidecarStart<S extends FlagSpecs> {
  values: FlagValues<S>;
  logger: Logger;
  /** Aborted on SIGTERM or SIGINT; the process exits 0 after graceMs. */
  shutdown: AbortSignal;
}

/**
 * The common start of every sidecar's main: parse the command line the way
 * the Go binary does (usage and exit 2 on a bad flag), build the logger from
 * the logging flags (exit 1 when they are invalid, as component-base does),
 * and turn SIGTERM/SIGINT into an abort signal followed by a clean exit.
 */
export function startSidecar<
  S extends FlagSpecs & { verbosity: FlagSpecs[string]; loggingFormat: FlagSpecs[string] },
>(options: { program: string; specs: S; syntax: FlagSyntax; graceMs: number }): SidecarStart<S> {
  const { values } = parseCommandLine({
    program: options.program,
    specs: options.specs,
    argv: process.argv.slice(2),
    syntax: options.syntax,
  });
  let logger: Logger;
  try {
    logger = loggerFromFlags(values as { verbosity: number; loggingFormat: string }, { name: options.program });
  } catch (err) {
    new Logger({ name: options.program }).error(err, 'LoggingConfiguration is invalid');
    process.exit(1);
  }
  const shutdown = new AbortController();
  for (const sig of ['SIGTERM', 'SIGINT'] as const) {
    process.once(sig, () => {
      logger.info('Shutting down', { signal: sig });
      shutdown.abort();
      setTimeout(() => process.exit(0), options.graceMs).unref();
    });
  }
  return { values, logger, shutdown: shutdown.signal };
}
