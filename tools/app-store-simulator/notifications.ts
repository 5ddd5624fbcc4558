import { randomUUID } from 'node:crypto';
import { isSubscription, statusOf, type SimState } from './state';
import type { SentNotification, SimPurchase } from './types';

/**
 * App Store Server Notifications V2: the signed `responseBodyV2DecodedPayload`, POSTed as
 * `{ "signedPayload" }` to the configured URL (Apple's "App Store Server Notifications URL").
 */
export type Signer = (payload: unknown, forged?: boolean) => Promise<string>;

export interface NotifyOptions {
  /** POST it to the URL (default true when one is set); false only signs it. */
  deliver?: boolean;
  data?: Record<string, unknown>;
}

export class Notifier {
  url: string | undefined;
  readonly sent: SentNotification[] = [];

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
      data.signedTransactionInfo = await this.sign(this.state.transactionPayload(p), p.forged);
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
    this.state.stats.notificationsSent += 1;
    if (this.url && o.deliver !== false) sent.delivery = await this.deliver(sent.signedPayload);
    return sent;
  }

  /** POSTs a signed payload (also a replayed or tampered one) the way Apple does. */
  async deliver(signedPayload: string): Promise<SentNotification['delivery']> {
    if (!this.url) return { error: 'no notification URL configured' };
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ signedPayload }),
        signal: AbortSignal.timeout(15_000),
      });
      return { status: res.status, body: await res.text() };
    } catch (e) {
      return { error: String((e as Error).message ?? e) };
    }
  }
}
