import { describe, expect, it } from 'vitest';
import { addFinalizerPatch, removeFinalizerPatch } from './finalizer-patches.js';

const OURS = 'external-attacher/ebs-csi-aws-com';
const PROTECTION = 'kubernetes.io/pv-protection';
const PROVISIONER = 'external-provisioner.volume.kubernetes.io/finalizer';

// Upstream TestAddFinalizerPatch / TestRemoveFinalizerPatch: the exact JSON on the wire.
describe('addFinalizerPatch', () => {
  it.each([
    [
      'no finalizers: tests for null, adds the list',
      undefined,
      `[{"op":"test","path":"/metadata/finalizers","value":null},{"op":"add","path":"/metadata/finalizers","value":["${OURS}"]}]`,
    ],
    [
      'empty list: tests for [], replaces it',
      [],
      `[{"op":"test","path":"/metadata/finalizers","value":[]},{"op":"replace","path":"/metadata/finalizers","value":["${OURS}"]}]`,
    ],
    [
      'other finalizers: appends, keeping them',
      [PROVISIONER, PROTECTION],
      `[{"op":"add","path":"/metadata/finalizers/-","value":"${OURS}"}]`,
    ],
  ])('%s', (_name, existing, json) => {
    expect(JSON.stringify(addFinalizerPatch(existing, OURS))).toBe(json);
  });
});

describe('removeFinalizerPatch', () => {
  const removal = (index: number) =>
    `[{"op":"test","path":"/metadata/finalizers/${index}","value":"${OURS}"},{"op":"remove","path":"/metadata/finalizers/${index}"}]`;

  it.each([
    ['the only finalizer', [OURS], removal(0)],
    ['the first of many', [OURS, PROTECTION, PROVISIONER], removal(0)],
    ['one in the middle, the others untouched', [PROVISIONER, OURS, PROTECTION], removal(1)],
    ['the last one', [PROTECTION, OURS], removal(1)],
  ])('%s', (_name, existing, json) => {
    expect(JSON.stringify(removeFinalizerPatch(existing, OURS))).toBe(json);
  });

  it('fails when the finalizer is not in the list, or there is no list', () => {
    expect(() => removeFinalizerPatch([PROTECTION], OURS)).toThrow(`finalizer "${OURS}" not found in list`);
    expect(() => removeFinalizerPatch(undefined, OURS)).toThrow(`finalizer "${OURS}" not found in list`);
  });
});
