import type { FaultSpec } from './schemas';

type Rule = FaultSpec & { remaining: number };

/** Queued faults; each matching call consumes one from the oldest matching rule. */
export class FaultQueue {
  private rules: Rule[] = [];

  add(spec: FaultSpec): void {
    this.rules.push({ ...spec, remaining: spec.count });
  }

  take(target: 'api' | 'token', path: string, method: string | undefined): FaultSpec | undefined {
    const rule = this.rules.find(
      (r) =>
        (r.target === 'all' || r.target === target) &&
        (!r.pathContains || path.includes(r.pathContains)) &&
        (!r.method || r.method === method),
    );
    if (!rule) return undefined;
    rule.remaining--;
    if (rule.remaining <= 0) this.rules = this.rules.filter((r) => r !== rule);
    return rule;
  }

  pending(): number {
    return this.rules.reduce((n, r) => n + r.remaining, 0);
  }

  clear(): void {
    this.rules = [];
  }
}
