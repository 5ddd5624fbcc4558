import { PlayError } from './google-errors';
import { FaultQueue } from './faults';
import { VoidedReason, VoidedSource } from './model';
import type { OAuthService } from './oauth';
import { PurchaseStore } from './purchases';
import { simPurchase } from './resources';
import {
  ClockSchema,
  CreatePurchaseSchema,
  FaultSchema,
  TRANSITION_NAMES,
  TransitionSchemas,
  type CreatePurchaseInput,
  type FaultSpecInput,
  type TransitionArgs,
  type TransitionName,
} from './schemas';
import { Stats } from './stats';
import type { OutgoingNotification, SimPurchase } from './types';

const MAX_LOGGED = 10_000;

export interface SimulatorDeps {
  now: () => number;
  oauth: OAuthService;
  autoRefundUnacknowledged: boolean;
  onNotification?: (n: OutgoingNotification) => void | Promise<void>;
}

/**
 * The simulator's state and operations, shared by the in-process handle, the control API and the
 * Play API handlers. RTDNs are delivered one at a time, in the order the events happened.
 */
export class Simulator {
  readonly store: PurchaseStore;
  readonly faults = new FaultQueue();
  readonly stats = new Stats();
  readonly oauth: OAuthService;
  private offsetMs = 0;
  private sent: OutgoingNotification[] = [];
  private delivery: Promise<void> = Promise.resolve();

  constructor(private readonly deps: SimulatorDeps) {
    this.oauth = deps.oauth;
    this.store = new PurchaseStore(() => this.now(), deps.autoRefundUnacknowledged);
  }

  now(): number {
    return this.deps.now() + this.offsetMs;
  }

  async createPurchase(input: CreatePurchaseInput): Promise<SimPurchase> {
    const parsed = CreatePurchaseSchema.parse(input);
    const rec = parsed.type === 'product' ? this.store.createProduct(parsed) : this.store.createSubscription(parsed);
    await this.flush();
    return simPurchase(rec);
  }

  async transition<N extends TransitionName>(token: string, name: N, args?: TransitionArgs<N>): Promise<SimPurchase> {
    if (!TRANSITION_NAMES.includes(name)) {
      throw new PlayError(400, 'badRequest', `Unknown transition "${name}". Known: ${TRANSITION_NAMES.join(', ')}.`, 'global');
    }
    let parsed: object = TransitionSchemas[name].parse(args ?? {});
    // A refund from the control side stands for one the user asked Play for.
    if (name === 'refund') parsed = { voidedSource: VoidedSource.USER, voidedReason: VoidedReason.REMORSE, ...parsed };
    try {
      return simPurchase(this.store.apply(token, name, parsed));
    } finally {
      await this.flush();
    }
  }

  /** Undefined for an unknown token. */
  get(token: string): SimPurchase | undefined {
    const rec = this.store.get(token);
    this.deliverLater();
    return rec && simPurchase(rec);
  }

  injectFaults(spec: FaultSpecInput = {}): void {
    this.faults.add(FaultSchema.parse(spec));
  }

  /** Moves the purchase clock forward and applies what fell due (renewals, expiries, ...). Returns the new time. */
  async advanceTime(ms: number): Promise<number> {
    const { advanceMs } = ClockSchema.parse({ advanceMs: ms });
    this.offsetMs += advanceMs;
    this.store.settle();
    await this.flush();
    return this.now();
  }

  /** Passes any value (a DeveloperNotification, a malformed object, a raw string) to onNotification. */
  async sendNotification(n: OutgoingNotification): Promise<void> {
    this.enqueue([n]);
    await this.delivery;
  }

  notifications(): OutgoingNotification[] {
    return [...this.sent];
  }

  /** Delivers pending RTDNs and waits for them. */
  async flush(): Promise<void> {
    this.deliverLater();
    await this.delivery;
  }

  /** Delivers pending RTDNs in the background, as Play does after an API call. */
  deliverLater(): void {
    const batch = this.store.drain();
    if (batch.length > 0) this.enqueue(batch);
  }

  /** Resolves when every RTDN produced so far has been handed to onNotification. */
  async idle(): Promise<void> {
    await this.flush();
  }

  /** Forgets purchases, faults, stats, the clock offset and the notification log; issued access tokens stay valid. */
  reset(): void {
    this.store.reset();
    this.faults.clear();
    this.stats.reset();
    this.offsetMs = 0;
    this.sent = [];
  }

  private enqueue(batch: OutgoingNotification[]): void {
    this.delivery = this.delivery.then(async () => {
      for (const n of batch) {
        this.sent.push(n);
        // Bounded, so a long-running `npm run play-sim` does not grow without end.
        if (this.sent.length > MAX_LOGGED) this.sent.shift();
        try {
          await this.deps.onNotification?.(n);
          this.stats.bump('notificationsSent');
        } catch (err) {
          this.stats.bump('notificationFailures');
          console.error('play-simulator: onNotification failed:', err);
        }
      }
    });
  }
}
