import { z } from 'zod';

/** Injected failures of the App Store Server API (not of the control API), served in order. */
export const FaultSpecSchema = z.strictObject({
  count: z.number().int().positive().max(1000).default(1),
  /** Only requests whose path contains this. */
  pathContains: z.string().optional(),
  status: z.number().int().min(400).max(599).default(503),
  /** Apple's errorCode in the body; default 5000001 (GeneralInternalRetryable) for 5xx, 4290000 for 429. */
  errorCode: z.number().int().optional(),
  /** Wait this long before answering (a slow App Store). */
  delayMs: z.number().int().min(0).max(60_000).optional(),
});
export type FaultSpecInput = z.input<typeof FaultSpecSchema>;
type FaultSpec = z.output<typeof FaultSpecSchema>;

export class Faults {
  private queue: FaultSpec[] = [];

  add(spec: FaultSpecInput = {}): void {
    this.queue.push(FaultSpecSchema.parse(spec));
  }

  /** The fault for this request, if one applies (and counts it down). */
  take(path: string): FaultSpec | undefined {
    const fault = this.queue.find((f) => !f.pathContains || path.includes(f.pathContains));
    if (!fault) return undefined;
    fault.count -= 1;
    if (fault.count <= 0) this.queue = this.queue.filter((f) => f !== fault);
    return fault;
  }

  pending(): number {
    return this.queue.reduce((n, f) => n + f.count, 0);
  }

  clear(): void {
    this.queue = [];
  }
}
