import { Logger } from '../log/logger.js';
import type { LogFormat, LogSink } from '../log/logger.js';
import { boolFlag, durationFlag, intFlag, stringFlag } from './flag-set.js';

/** component-base logging flags that every sidecar registers. */
export const loggingFlags = {
  verbosity: intFlag('v', 0, 'number for the log level verbosity', { shorthand: 'v', typeName: 'Level' }),
  vmodule: stringFlag('vmodule', '', 'comma-separated list of pattern=N settings for file-filtered logging', {
    typeName: 'pattern=N,...',
  }),
  loggingFormat: stringFlag('logging-format', 'text', 'Sets the log format. Permitted formats: "json", "text".'),
  logFlushFrequency: durationFlag('log-flush-frequency', '5s', 'Maximum number of seconds between log flushes'),
  logTextSplitStream: boolFlag(
    'log-text-split-stream',
    false,
    '[Alpha] In text format, write error messages to stderr and info messages to stdout. Accepted for compatibility.',
  ),
  logTextInfoBufferSize: stringFlag(
    'log-text-info-buffer-size',
    '0',
    '[Alpha] In text format with split output streams, the size of the info buffer. Accepted for compatibility.',
    { typeName: 'quantity' },
  ),
  logJsonSplitStream: boolFlag(
    'log-json-split-stream',
    false,
    '[Alpha] In JSON format, write error messages to stderr and info messages to stdout. Accepted for compatibility.',
  ),
  logJsonInfoBufferSize: stringFlag(
    'log-json-info-buffer-size',
    '0',
    '[Alpha] In JSON format with split output streams, the size of the info buffer. Accepted for compatibility.',
    { typeName: 'quantity' },
  ),
};

/** Go runtime tuning flag of the upstream images; meaningless for Node, accepted and ignored. */
export const automaxprocsFlag = {
  automaxprocs: boolFlag('automaxprocs', false, 'Accepted for compatibility with the Go images; has no effect.'),
};

/** Builds the process logger from parsed logging flags; throws on an invalid format. */
export function loggerFromFlags(
  values: { verbosity: number; loggingFormat: string },
  options: { name: string; sink?: LogSink },
): Logger {
  if (values.loggingFormat !== 'text' && values.loggingFormat !== 'json') {
    throw new Error(
      `format: Unsupported value: ${JSON.stringify(values.loggingFormat)}: supported values: "json", "text"`,
    );
  }
  if (values.verbosity < 0) throw new Error(`verbosity: Invalid value: ${values.verbosity}: must be >= 0`);
  return new Logger({
    verbosity: values.verbosity,
    format: values.loggingFormat as LogFormat,
    name: options.name,
    sink: options.sink,
  });
}
