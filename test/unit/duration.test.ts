import { describe, expect, it } from 'vitest';
import { CatalogSchema } from '../../shared/catalog';
import { addDuration, isDuration, parseDuration, type Duration } from '../../shared/model/duration';

const HOUR = 3_600_000;

const add = (start: string, text: string): string => {
  const d = parseDuration(text);
  if (!d) throw new Error(`not a duration: ${text}`);
  return addDuration(new Date(start), d).toISOString();
};

describe('parseDuration', () => {
  it.each<[string, Duration]>([
    ['P30D', { years: 0, months: 0, days: 30, ms: 0 }],
    ['P1M', { years: 0, months: 1, days: 0, ms: 0 }],
    ['P1Y', { years: 1, months: 0, days: 0, ms: 0 }],
    ['P1W', { years: 0, months: 0, days: 7, ms: 0 }],
    ['PT12H', { years: 0, months: 0, days: 0, ms: 12 * HOUR }],
    ['P1DT2H', { years: 0, months: 0, days: 1, ms: 2 * HOUR }],
    ['PT30M', { years: 0, months: 0, days: 0, ms: 30 * 60_000 }],
    ['PT45S', { years: 0, months: 0, days: 0, ms: 45_000 }],
    ['P1Y2M3DT4H5M6S', { years: 1, months: 2, days: 3, ms: ((4 * 60 + 5) * 60 + 6) * 1000 }],
  ])('reads %s', (text, expected) => {
    expect(parseDuration(text)).toEqual(expected);
    expect(isDuration(text)).toBe(true);
  });

  it.each(['', 'P', 'PT', '30D', 'P1.5D', 'P1,5D', 'p30d', 'P-1D', 'P30', 'PT1D', 'P1H', 'P30D ', ' P30D', 'P1DT', 'P1D2M'])('refuses %j', (text) => {
    expect(parseDuration(text)).toBeNull();
    expect(isDuration(text)).toBe(false);
  });
});

describe('addDuration (UTC calendar terms)', () => {
  it('adds days, weeks and hours as elapsed time', () => {
    expect(add('2026-05-10T08:00:00Z', 'P30D')).toBe('2026-06-09T08:00:00.000Z');
    expect(add('2026-05-10T08:00:00Z', 'P1W')).toBe('2026-05-17T08:00:00.000Z');
    expect(add('2026-05-10T20:00:00Z', 'PT12H')).toBe('2026-05-11T08:00:00.000Z');
    expect(add('2026-05-10T23:00:00Z', 'P1DT2H')).toBe('2026-05-12T01:00:00.000Z');
  });

  it('days cross month and year ends', () => {
    expect(add('2026-12-20T00:00:00Z', 'P30D')).toBe('2027-01-19T00:00:00.000Z');
    expect(add('2028-02-28T00:00:00Z', 'P1D')).toBe('2028-02-29T00:00:00.000Z');
  });

  it('P1M from Jan 31 ends on the last day of February, keeping the time of day', () => {
    expect(add('2026-01-31T10:30:00Z', 'P1M')).toBe('2026-02-28T10:30:00.000Z');
    expect(add('2028-01-31T10:30:00Z', 'P1M')).toBe('2028-02-29T10:30:00.000Z');
  });

  it('P1M keeps the day where the next month has it', () => {
    expect(add('2026-01-15T00:00:00Z', 'P1M')).toBe('2026-02-15T00:00:00.000Z');
    expect(add('2026-03-31T00:00:00Z', 'P1M')).toBe('2026-04-30T00:00:00.000Z');
    expect(add('2026-12-31T23:59:59Z', 'P1M')).toBe('2027-01-31T23:59:59.000Z');
  });

  it('P1Y from Feb 29 ends on Feb 28 of the next year', () => {
    expect(add('2028-02-29T12:00:00Z', 'P1Y')).toBe('2029-02-28T12:00:00.000Z');
    expect(add('2026-06-01T12:00:00Z', 'P1Y')).toBe('2027-06-01T12:00:00.000Z');
  });

  it('years and months combine before days are added', () => {
    expect(add('2026-01-31T00:00:00Z', 'P1Y1M')).toBe('2027-02-28T00:00:00.000Z');
    expect(add('2026-01-31T00:00:00Z', 'P1M1D')).toBe('2026-03-01T00:00:00.000Z');
    expect(add('2026-11-30T00:00:00Z', 'P14M')).toBe('2028-01-30T00:00:00.000Z');
  });

  it('does not change its input', () => {
    const start = new Date('2026-01-31T00:00:00Z');
    addDuration(start, { years: 1, months: 1, days: 1, ms: 1 });
    expect(start.toISOString()).toBe('2026-01-31T00:00:00.000Z');
  });
});

describe('catalog duration', () => {
  it('a non-consumable may carry an ISO 8601 duration', () => {
    const c = CatalogSchema.parse({ products: { movie: { type: 'non_consumable', entitlements: ['movie'], duration: 'P30D' } } });
    expect(c.products.movie).toEqual({ type: 'non_consumable', entitlements: ['movie'], duration: 'P30D' });
    expect(CatalogSchema.safeParse({ products: { movie: { type: 'non_consumable', entitlements: ['movie'] } } }).success).toBe(true);
  });

  it('refuses a malformed duration, and a duration on other product types', () => {
    for (const duration of ['30 days', 'P1.5D', 'P', '']) {
      expect(CatalogSchema.safeParse({ products: { movie: { type: 'non_consumable', entitlements: ['movie'], duration } } }).success).toBe(false);
    }
    expect(CatalogSchema.safeParse({ products: { s: { type: 'subscription', entitlements: ['premium'], duration: 'P1M' } } }).success).toBe(false);
    expect(CatalogSchema.safeParse({ products: { c: { type: 'consumable', credits: { coins: 1 }, duration: 'P1M' } } }).success).toBe(false);
  });
});
