// The statistics against published worked examples.
import { describe, expect, it } from 'vitest';
import { achievementLevel, differenceInterval, trend, wilson } from '../src/indicators/stats.ts';
import { previousPeriod } from '../src/indicators/service.ts';
import { periodRange } from '../src/indicators/explain.ts';
import { threshold } from '../src/indicators/schema.ts';

describe('Wilson score interval', () => {
  // Newcombe RG. Two-sided confidence intervals for the single proportion: comparison of seven
  // methods. Stat Med 1998;17:857–872, table II: 81/263 → 0.2553–0.3662; 15/148 → 0.0624–0.1605; 0/20 → 0–0.1611.
  it.each([
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
  ])('%i/%i', (k, n, lo, hi) => {
    const w = wilson(k, n)!;
    expect(w.lower).toBeCloseTo(lo, 4);
    expect(w.upper).toBeCloseTo(hi, 4);
  });
  it('is undefined without a denominator', () => {
    expect(wilson(0, 0)).toBeNull();
  });
});

describe('difference between two proportions (Newcombe hybrid score)', () => {
  // Newcombe RG. Interval estimation for the difference between independent proportions.
  // Stat Med 1998;17:873–890, table II, method 10: 56/70 − 48/80 → 0.0524 to 0.3339; 9/10 − 3/10 → 0.1705 to 0.8090.
  it.each([
    [56, 70, 48, 80, 0.0524, 0.3339],
    [9, 10, 3, 10, 0.1705, 0.809],
  ])('%i/%i − %i/%i', (k1, n1, k2, n2, lo, hi) => {
    const d = differenceInterval(k1, n1, k2, n2)!;
    expect(d.lower).toBeCloseTo(lo, 4);
    expect(d.upper).toBeCloseTo(hi, 4);
  });
});

describe('trend and level', () => {
  it('calls a change better or worse only beyond chance, in the direction that counts', () => {
    expect(trend({ k: 56, n: 70 }, { k: 48, n: 80 }, 'higher-is-better')).toBe('better');
    expect(trend({ k: 56, n: 70 }, { k: 48, n: 80 }, 'lower-is-better')).toBe('worse');
    expect(trend({ k: 8, n: 10 }, { k: 7, n: 10 }, 'higher-is-better')).toBe('stable');
  });
  it('places a result at a level by the declared thresholds, the edge by the operator', () => {
    const levels = { high: threshold.parse('> 80%'), moderate: threshold.parse('>= 0.7') };
    expect(achievementLevel(0.81, levels)).toBe('high');
    expect(achievementLevel(0.8, levels)).toBe('moderate');
    expect(achievementLevel(0.7, levels)).toBe('moderate');
    expect(achievementLevel(0.69, levels)).toBe('low');
    expect(achievementLevel(0.5, undefined)).toBeNull();
    expect(threshold.safeParse('about 80').success).toBe(false);
    expect(threshold.safeParse('> 180%').success).toBe(false);
  });
});

describe('periods', () => {
  it('knows the period before and the dates of a period', () => {
    expect(previousPeriod('year', '2024')).toBe('2023');
    expect(previousPeriod('quarter', '2024-Q1')).toBe('2023-Q4');
    expect(previousPeriod('month', '2024-01')).toBe('2023-12');
    expect(previousPeriod('rolling-12-months', '2024-06')).toBe('2023-06');
    expect(periodRange('quarter', '2024-Q4')).toEqual({ from: '2024-10-01', to: '2025-01-01' });
    expect(periodRange('rolling-12-months', '2024-06')).toEqual({ from: '2023-07-01', to: '2024-07-01' });
    expect(() => periodRange('quarter', '2024-5')).toThrow(/2024-Q1/);
  });
});
