import type { DeadLetter, PurchaseRecord } from './purchase-record';

/** A dead letter kept with the message as received, so that it can be replayed. */
export interface ReplayableDeadLetter extends DeadLetter {
  id: string;
  replay: { data: string; messageId: string };
  receivedAt: Date;
}

/** What the sweep (`reconcilePurchases`) reads and writes besides purchases; Firestore in production. */
export interface ReconcileStore {
  /** Takes the run lease unless another run holds an unexpired one. */
  claimLease(holder: string, now: Date, ttlMs: number): Promise<boolean>;
  releaseLease(holder: string): Promise<void>;
  getCheckpoint<T extends Record<string, unknown>>(key: string): Promise<T | null>;
  setCheckpoint(key: string, value: Record<string, unknown>): Promise<void>;
  recordRun(runId: string, run: Record<string, unknown>): Promise<void>;
  /** The server-only token of a purchase (null for purchases recorded before tokens were kept). */
  getToken(purchaseId: string): Promise<string | null>;
  /** Purchases whose stored state grants access although their expiry has passed, soonest expired first. */
  findLapsed(now: Date, limit: number): Promise<PurchaseRecord[]>;
  /** Purchases granted but not finished at the store, oldest first. */
  findUnfinished(limit: number): Promise<PurchaseRecord[]>;
  findReplayableDeadLetters(limit: number): Promise<ReplayableDeadLetter[]>;
  /** Marks a replay's outcome: resolved letters, and those given up on, are not replayed again. */
  markReplayed(id: string, outcome: { resolved: boolean; result: string; at: Date; giveUp?: boolean }): Promise<void>;
}
