/**
 * ISO 8601 durations as the catalog writes them (`P30D`, `P1M`, `P1Y`, `P1W`, `PT12H`), added in UTC
 * calendar terms: P1M from Jan 31 is Feb 28/29 (the end of the shorter month), never Mar 3.
 */
const PATTERN = /^P(?!$)(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$/;

export interface Duration {
  years: number;
  months: number;
  days: number;
  ms: number;
}

export function parseDuration(text: string): Duration | null {
  const m = PATTERN.exec(text);
  if (!m) return null;
  const n = (i: number) => Number(m[i] ?? 0);
  return { years: n(1), months: n(2), days: n(3) * 7 + n(4), ms: ((n(5) * 60 + n(6)) * 60 + n(7)) * 1000 };
}

export const isDuration = (text: string): boolean => parseDuration(text) !== null;

export function addDuration(start: Date, d: Duration): Date {
  const months = start.getUTCMonth() + d.years * 12 + d.months;
  const out = new Date(start.getTime());
  out.setUTCDate(1);
  out.setUTCFullYear(start.getUTCFullYear(), months, 1);
  const lastDay = new Date(Date.UTC(out.getUTCFullYear(), out.getUTCMonth() + 1, 0)).getUTCDate();
  out.setUTCDate(Math.min(start.getUTCDate(), lastDay));
  return new Date(out.getTime() + d.days * 86_400_000 + d.ms);
}
