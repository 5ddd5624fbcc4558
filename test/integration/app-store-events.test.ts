import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startAppStoreStack, type AppStoreStack } from '../helpers/app-store-stack';
import { consumeEvents, type EventsConsumer, type ReceivedEvent } from '../helpers/events-consumer';

/**
 * Entitlement events from the App Store paths: the simulator's signed notifications reach
 * appStoreNotifications, verifyPurchase takes the app's transaction, and the events arrive on the
 * Pub/Sub emulator topic (read with a pull subscription, as a consumer would), once each, also when
 * Apple sends a notification again.
 */
const TOPIC = 'entitlement-events';
let s: AppStoreStack;
let consumer: EventsConsumer;
let received: ReceivedEvent[] = [];

beforeAll(async () => {
  process.env.PUBSUB_EMULATOR_HOST = inject('pubsubEmulatorHost');
  s = await startAppStoreStack({ apiKey: false, env: { ENTITLEMENT_EVENTS_TOPIC: TOPIC } });
  consumer = await consumeEvents(s.projectId, TOPIC);
  received = consumer.received;
}, 60_000);
afterAll(async () => {
  await consumer?.close();
  await s?.close();
});

const MONTHLY = 'com.example.app.premium.monthly';
const COINS = 'com.example.app.coins_100';
let n = 0;
const newUid = () => `apple-events-${process.pid}-${++n}`;
const eventsOf = (uid: string) => received.filter((e) => e.uid === uid);
const settle = async (uid: string, count: number) => {
  await s.eventually(async () => eventsOf(uid).length >= count, 20_000).catch(() => {
    throw new Error(`expected ${count} events, got ${JSON.stringify(eventsOf(uid).map((e) => e.type))}`);
  });
  await new Promise((r) => setTimeout(r, 500)); // anything extra would show now
};

async function step(id: string, name: Parameters<AppStoreStack['apple']['transition']>[1], args: Record<string, unknown> = {}) {
  const { notifications } = await s.apple.transition(id, name, args as never);
  for (const x of notifications) {
    expect(x.delivery, `${x.notificationType} delivery`).toMatchObject({ status: 200 });
    // Apple retries a notification it thinks was not received: the same signed payload again
    expect((await s.notifyRaw({ signedPayload: x.signedPayload })).status).toBe(200);
  }
}

describe('entitlement events from the App Store', () => {
  it('a subscription life: one event per change, in order, each notification delivered twice', async () => {
    const uid = newUid();
    const { purchase } = await s.apple.buy({ kind: 'subscription', productId: MONTHLY });
    const id = purchase.originalTransactionId;
    expect((await s.verify({ signedTransaction: await s.apple.signTransaction(id) }, uid)).status).toBe(200);
    await settle(uid, 1);
    const steps: [Parameters<AppStoreStack['apple']['transition']>[1], Record<string, unknown>, string][] = [
      ['renew', {}, 'RENEWAL'],
      ['setAutoRenew', { enabled: false }, 'CANCELLATION'],
      ['setAutoRenew', { enabled: true }, 'UNCANCELLATION'],
      ['failRenew', { grace: true, graceMs: 6 * 86_400_000 }, 'BILLING_ISSUE'],
      ['renew', {}, 'BILLING_RECOVERED'],
      ['refund', {}, 'REVOCATION'],
    ];
    for (const [name, args, type] of steps) {
      const before = eventsOf(uid).length;
      await step(id, name, args);
      await settle(uid, before + 1);
      expect(eventsOf(uid).at(-1)?.type, `after ${name}`).toBe(type);
    }
    const events = eventsOf(uid);
    expect(events.map((e) => e.type)).toEqual(['INITIAL_PURCHASE', ...steps.map(([, , t]) => t)]);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect(events.map((e) => e.data.sequence)).toEqual(events.map((_, i) => i + 1));
    for (const e of events) expect(e.data).toMatchObject({ platform: 'app_store', productId: MONTHLY, entitlements: ['premium'], uid });
    expect(events.at(-1)!.data).toMatchObject({ active: false, state: 'revoked' });
    expect(events[0]!.data.environment).toMatch(/^(production|sandbox)$/);
  }, 120_000);

  it('a consumable: CREDITS_GRANTED on verification, CREDITS_REVERSED on its refund, once each', async () => {
    const uid = newUid();
    const { purchase } = await s.apple.buy({ kind: 'consumable', productId: COINS });
    const jws = await s.apple.signTransaction(purchase.originalTransactionId);
    expect((await s.verify({ signedTransaction: jws }, uid)).status).toBe(200);
    expect((await s.verify({ signedTransaction: jws }, uid)).status).toBe(200); // a repeat: no event
    await settle(uid, 1);
    await step(purchase.originalTransactionId, 'refund');
    await settle(uid, 2);
    expect(eventsOf(uid).map((e) => [e.type, e.data.credits])).toEqual([
      ['CREDITS_GRANTED', { coins: 100 }],
      ['CREDITS_REVERSED', { coins: -100 }],
    ]);
  }, 60_000);
});
