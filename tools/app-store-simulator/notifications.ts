import { randomUUID } from 'node:crypto';
import { isSubscription, statusOf, type SimState } from './state';
import type { HistoryRecord, SendAttempt, SentNotification, SimPurchase, SimTransaction } from './types';

/**
 * App Store Server Notifications V2: the signed `responseBodyV2DecodedPayload`, POSTed as
 * `{ "signedPayload" }` to the configured URL (Apple's "App Store Server Notifications URL").
 */
export type Signer = (payload: unknown, forged?: boolean) => Promise<string>;

export interface NotifyOptions {
  /** POST it to the URL (default true when one is set); false only signs it. */
  deliver?: boolean;
  data?: Record<string, unknown>;
  /** The transaction the notification is about (default: the latest; a refund of a past renewal names its own). */
  transaction?: SimTransaction;
}

const MAX_ATTEMPTS_LISTED = 6; // Apple lists at most six send attempts per notification

export class Notifier {
  url: string | undefined;
  readonly sent: SentNotification[] = [];
  /** Every notification signed here, delivered or not: what Get Notification History serves. */
  readonly history: HistoryRecord[] = [];
  /** Deliveries still to fail without reaching the URL (Infinity: until cleared). */
  failingDeliveries = 0;

  constructor(
    private readonly state: SimState,
    private readonly sign: Signer,
  ) {}

  async notify(p: SimPurchase | null, notificationType: string, subtype?: string, o: NotifyOptions = {}): Promise<SentNotification> {
    const env = p?.environment ?? 'Production';
    const data: Record<string, unknown> = {
      appAppleId: env === 'Xcode' ? undefined : this.state.appAppleId,
      bundleId: p?.bundleId ?? this.state.bundleId,
      bundleVersion: '1.0',
      environment: env,
      ...o.data,
    };
    if (p) {
      data.signedTransactionInfo = await this.sign(this.state.transactionPayload(p, o.transaction), p.forged);
      if (isSubscription(p)) {
        data.signedRenewalInfo = await this.sign(this.state.renewalPayload(p), p.forged);
        data.status = statusOf(p);
      }
    }
    const signedDate = this.state.now();
    const payload = {
      notificationType,
      ...(subtype ? { subtype } : {}),
      notificationUUID: randomUUID(),
      version: '2.0',
      signedDate,
      data: Object.fromEntries(Object.entries(data).filter(([, v]) => v !== undefined)),
    };
    const sent: SentNotification = {
      notificationUUID: payload.notificationUUID,
      notificationType,
      ...(subtype ? { subtype } : {}),
      signedDate,
      signedPayload: await this.sign(payload, p?.forged),
    };
    this.sent.push(sent);
    this.history.push({
      signedPayload: sent.signedPayload,
      environment: env,
      notificationType,
      ...(subtype ? { subtype } : {}),
      ...(p ? { customerId: p.customerId } : {}),
      sentAt: signedDate,
      sendAttempts: [],
    });
    this.state.stats.notificationsSent += 1;
    if (this.url && o.deliver !== false) sent.delivery = await this.deliver(sent.signedPayload);
    return sent;
  }

  /**
   * POSTs a signed payload (also a replayed or tampered one) the way Apple does, and records the
   * attempt on the notification's history record (a payload not signed here has none).
   */
  async deliver(signedPayload: string): Promise<SentNotification['delivery']> {
    if (!this.url) return { error: 'no notification URL configured' };
    const attemptDate = this.state.now();
    const { delivery, result } = await this.post(this.url, signedPayload);
    const record = this.history.find((r) => r.signedPayload === signedPayload);
    if (record) record.sendAttempts = [...record.sendAttempts, { attemptDate, sendAttemptResult: result }].slice(-MAX_ATTEMPTS_LISTED);
    return delivery;
  }

  private async post(url: string, signedPayload: string): Promise<{ delivery: SentNotification['delivery']; result: SendAttempt['sendAttemptResult'] }> {
    if (this.failingDeliveries > 0) {
      this.failingDeliveries -= 1;
      return { delivery: { error: 'simulated delivery failure (nothing reached the notification URL)' }, result: 'NO_RESPONSE' };
    }
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ signedPayload }),
        signal: AbortSignal.timeout(15_000),
      });
      const delivery = { status: res.status, body: await res.text() };
      return { delivery, result: res.ok ? 'SUCCESS' : 'UNSUCCESSFUL_HTTP_RESPONSE_CODE' };
    } catch (e) {
      const timedOut = (e as Error).name === 'TimeoutError';
      return { delivery: { error: String((e as Error).message ?? e) }, result: timedOut ? 'TIMED_OUT' : 'NO_RESPONSE' };
    }
  }

  reset(): void {
    this.history.length = 0;
    this.failingDeliveries = 0;
  }
}
