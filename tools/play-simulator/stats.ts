import type { SimStats } from './types';

const empty = (): SimStats => ({
  tokenExchanges: 0,
  tokenRejections: 0,
  calls: {},
  unauthorized: 0,
  faultsServed: 0,
  notificationsSent: 0,
  notificationFailures: 0,
});

export class Stats {
  private s = empty();

  call(method: string): void {
    this.s.calls[method] = (this.s.calls[method] ?? 0) + 1;
  }

  bump(counter: Exclude<keyof SimStats, 'calls'>): void {
    this.s[counter]++;
  }

  snapshot(): SimStats {
    return { ...this.s, calls: { ...this.s.calls } };
  }

  reset(): void {
    this.s = empty();
  }
}
