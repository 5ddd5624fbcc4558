import { AppStoreApi, type ApiKeyCheck } from './api';
import type { TestCa } from './ca';
import { Faults } from './faults';
import { signJws } from './jws';
import { Lifecycle } from './lifecycle';
import { Notifier } from './notifications';
import { buildReceipt } from './receipts';
import { latest, SimError, SimState } from './state';

/** Everything one simulator holds; the HTTP front and the in-process handle both drive it. */
export interface SimulatorParts {
  bundleId: string;
  appAppleId: number;
  ca: TestCa;
  /** An untrusted CA of the same shape, for forged payloads. */
  foreignCa: TestCa;
  apiKey: ApiKeyCheck & { privateKeyPem: string };
}

export class Simulator {
  readonly state: SimState;
  readonly notifier: Notifier;
  readonly lifecycle: Lifecycle;
  readonly api: AppStoreApi;
  readonly faults = new Faults();
  readonly ca: TestCa;

  constructor(private readonly parts: SimulatorParts) {
    this.ca = parts.ca;
    this.state = new SimState(parts.bundleId, parts.appAppleId);
    const sign = (payload: unknown, forged?: boolean) => signJws(payload, forged ? parts.foreignCa : parts.ca);
    this.notifier = new Notifier(this.state, sign);
    this.lifecycle = new Lifecycle(this.state, this.notifier);
    this.api = new AppStoreApi(this.state, sign, () => this.notifier.history);
  }

  reset(): void {
    this.state.reset();
    this.faults.clear();
    this.notifier.reset();
  }

  get apiKey(): SimulatorParts['apiKey'] {
    return this.parts.apiKey;
  }

  /** The latest transaction of a purchase as StoreKit 2 hands it to the app (Transaction.jwsRepresentation). */
  signTransaction(originalTransactionId: string, overrides: Record<string, unknown> = {}, ca?: TestCa): Promise<string> {
    const p = this.state.get(originalTransactionId);
    const payload = { ...this.state.transactionPayload(p), ...overrides };
    return signJws(payload, ca ?? (p.forged ? this.parts.foreignCa : this.parts.ca));
  }

  /** A StoreKit 1 app receipt listing these transactions (ids of any of their purchases' transactions). */
  receipt(transactionIds: string[]): string {
    const rows = transactionIds.map((id) => {
      const hit = this.state.findByTransactionId(id);
      if (!hit) throw new SimError(404, `no transaction ${id}`);
      return hit;
    });
    return buildReceipt(this.state, rows);
  }

  latestTransactionId(originalTransactionId: string): string {
    return latest(this.state.get(originalTransactionId)).transactionId;
  }

  publicConfig() {
    return {
      bundleId: this.parts.bundleId,
      appAppleId: this.parts.appAppleId,
      notificationUrl: this.notifier.url ?? null,
      apiKey: { issuerId: this.parts.apiKey.issuerId, keyId: this.parts.apiKey.keyId, privateKeyPem: this.parts.apiKey.privateKeyPem },
    };
  }
}
