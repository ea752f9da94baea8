import { Logger } from '../log/logger.js';

/**
 * Entry point of a sidecar whose controllers are not in this release yet.
 * It refuses to run rather than pretending to work next to a driver.
 */
export function refuseToRun(program: string, issue: string): never {
  new Logger({ name: program }).error(
    undefined,
    `${program} is not available in this release yet; its implementation is tracked in ${issue}`,
  );
  process.exit(1);
}
