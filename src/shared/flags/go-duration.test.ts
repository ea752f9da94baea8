import { describe, expect, it } from 'vitest';
import { formatGoDuration, parseGoDuration } from './go-duration.js';

describe('parseGoDuration', () => {
  it.each([
    ['15s', 15_000],
    ['1m30s', 90_000],
    ['300ms', 300],
    ['1h', 3_600_000],
    ['1.5h', 5_400_000],
    ['2h45m', 9_900_000],
    ['0', 0],
    ['10us', 0.01],
    ['-5s', -5_000],
    ['.5s', 500],
  ])('parses %s', (text, ms) => {
    expect(parseGoDuration(text)).toBeCloseTo(ms, 9);
  });

  it.each(['', '15', 'abc', '1x', 's', '1m30'])('rejects %j like Go does', (text) => {
    expect(() => parseGoDuration(text)).toThrow(/time: /);
  });
});

describe('formatGoDuration', () => {
  it.each([
    [0, '0s'],
    [1_000, '1s'],
    [15_000, '15s'],
    [90_000, '1m30s'],
    [300_000, '5m0s'],
    [3_600_000, '1h0m0s'],
    [300, '300ms'],
    [1_500, '1.5s'],
  ])('formats %d ms as %s', (ms, text) => {
    expect(formatGoDuration(ms)).toBe(text);
  });
});
