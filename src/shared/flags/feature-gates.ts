import { boolMapFlag } from './flag-set.js';

export type GateStage = 'ALPHA' | 'BETA' | 'GA';

export interface GateSpec {
  default: boolean;
  stage: GateStage;
}

export type GateSpecs = Record<string, GateSpec>;

/** The resolved value of every gate of a sidecar. */
export type FeatureGates<S extends GateSpecs> = Record<keyof S & string, boolean>;

/**
 * component-base's switches that flip every gate of one maturity at once; they are part of every Kubernetes gate
 * set and therefore accepted by every sidecar.
 */
const stageSwitches = { AllAlpha: 'ALPHA', AllBeta: 'BETA' } as const satisfies Record<string, GateStage>;

/** The gate list of `--help` and of the "unrecognized feature gate" error. */
export function knownGatesText(specs: GateSpecs): string {
  const switches = Object.keys(stageSwitches).map((name) => `${name}=true|false (default=false)`);
  const gates = Object.entries(specs).map(
    ([name, spec]) => `${name}=true|false (${spec.stage} - default=${spec.default})`,
  );
  return [...switches, ...gates].join(', ');
}

/** `--feature-gates` for a sidecar whose gates are specs. */
export function featureGatesFlag(specs: GateSpecs): ReturnType<typeof boolMapFlag> {
  return boolMapFlag(
    'feature-gates',
    {},
    `Comma-separated Gate=true|false pairs. Known gates: ${knownGatesText(specs)}.`,
  );
}

/**
 * Applies --feature-gates on top of the defaults the way component-base does: AllAlpha / AllBeta set every gate of
 * that stage that is not named itself. Throws on an unknown gate, as component-base does.
 */
export function resolveFeatureGates<S extends GateSpecs>(
  specs: S,
  requested: Record<string, boolean>,
): { gates: FeatureGates<S>; explicit: Set<keyof S & string> } {
  for (const name of Object.keys(requested)) {
    if (!Object.hasOwn(specs, name) && !Object.hasOwn(stageSwitches, name)) {
      throw new Error(`unrecognized feature gate: ${name} (known gates: ${knownGatesText(specs)})`);
    }
  }
  const gates = {} as FeatureGates<S>;
  const explicit = new Set<keyof S & string>();
  for (const [name, spec] of Object.entries(specs) as [keyof S & string, GateSpec][]) {
    const switchName = (Object.keys(stageSwitches) as (keyof typeof stageSwitches)[]).find(
      (s) => stageSwitches[s] === spec.stage,
    );
    if (Object.hasOwn(requested, name)) {
      gates[name] = requested[name];
      explicit.add(name);
    } else if (switchName !== undefined && Object.hasOwn(requested, switchName)) {
      gates[name] = requested[switchName];
    } else {
      gates[name] = spec.default;
    }
  }
  return { gates, explicit };
}
