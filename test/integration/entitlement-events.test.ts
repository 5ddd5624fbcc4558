import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { PACKAGE, startFunctionsStack, type FunctionsStack } from '../helpers/verify-stack';
import { consumeEvents, type EventsConsumer, type ReceivedEvent } from '../helpers/events-consumer';

/**
 * Entitlement events through the real parts: verify and playRtdn (Play simulator -> Pub/Sub emulator
 * -> push) commit changes and their outbox events; the events are published to the Pub/Sub emulator
 * topic, read here with a pull subscription as a consumer would.
 */
const TOPIC = 'entitlement-events';
let s: FunctionsStack;
let consumer: EventsConsumer;
let received: ReceivedEvent[] = [];

beforeAll(async () => {
  process.env.PUBSUB_EMULATOR_HOST = inject('pubsubEmulatorHost');
  s = await startFunctionsStack({ rtdn: true, reconcile: true, env: { ENTITLEMENT_EVENTS_TOPIC: TOPIC, PLAY_MAX_ATTEMPTS: '2' } });
  consumer = await consumeEvents(s.projectId, TOPIC);
  received = consumer.received;
}, 60_000);
afterAll(async () => {
  await consumer?.close();
  await s?.close();
});

let n = 0;
const newUid = () => `events-user-${process.pid}-${++n}`;
const eventsOf = (uid: string) => received.filter((e) => e.uid === uid);
const typesOf = (uid: string) => eventsOf(uid).map((e) => e.type);
const settle = async (uid: string, count: number) => {
  await s.eventually(async () => eventsOf(uid).length >= count, 20_000);
  await new Promise((r) => setTimeout(r, 500)); // anything extra would show now
};

describe('entitlement events on Pub/Sub', () => {
  it('a subscription life: one event per change, in order, each RTDN delivered twice', async () => {
    const uid = newUid();
    const p = await s.sim.createPurchase({ type: 'subscription', productId: 'premium_monthly', packageName: PACKAGE } as never);
    expect((await s.post({ packageName: PACKAGE, productId: 'premium_monthly', purchaseToken: p.purchaseToken }, { uid })).status).toBe(200);
    await settle(uid, 1);
    const notification = (type: number) => ({
      version: '1.0',
      packageName: PACKAGE,
      eventTimeMillis: String(Date.now()),
      subscriptionNotification: { version: '1.0', notificationType: type, purchaseToken: p.purchaseToken },
    });
    const steps: [string, string][] = [
      ['renew', 'RENEWAL'],
      ['cancel', 'CANCELLATION'],
      ['restart', 'UNCANCELLATION'],
      ['grace', 'BILLING_ISSUE'],
      ['recover', 'BILLING_RECOVERED'],
      ['expire', 'EXPIRATION'],
    ];
    let expected = 1;
    for (const [transition] of steps) {
      await s.sim.transition(p.purchaseToken, transition as never);
      expected++;
      await settle(uid, expected);
      // late and repeated deliveries (an older notification, the same one again) re-read Play: nothing new
      expect(await s.pushRtdn(notification(2))).toBeLessThan(300);
      expect(await s.pushRtdn(notification(4))).toBeLessThan(300);
    }
    await new Promise((r) => setTimeout(r, 1000));
    expect(typesOf(uid)).toEqual(['INITIAL_PURCHASE', ...steps.map(([, t]) => t)]);
    const events = eventsOf(uid);
    expect(new Set(events.map((e) => e.id)).size).toBe(events.length);
    expect(events.map((e) => e.data.sequence)).toEqual(events.map((_, i) => i + 1));
    expect(events.every((e) => e.orderingKey === uid)).toBe(true);
    expect(events[0]!.data).toMatchObject({ uid, platform: 'google_play', productId: 'premium_monthly', entitlements: ['premium'], active: true, previousState: null });
    expect(events.at(-1)!.data).toMatchObject({ active: false, state: 'expired' });
    const pending = await s.db.collection('entitlementEvents').where('uid', '==', uid).where('pending', '==', true).get();
    expect(pending.size).toBe(0);
  });

  it('a revoke is a REVOCATION', async () => {
    const uid = newUid();
    const p = await s.sim.createPurchase({ type: 'subscription', productId: 'premium_monthly', packageName: PACKAGE } as never);
    expect((await s.post({ packageName: PACKAGE, productId: 'premium_monthly', purchaseToken: p.purchaseToken }, { uid })).status).toBe(200);
    await settle(uid, 1);
    await s.sim.transition(p.purchaseToken, 'revoke', { refund: 'full' });
    await settle(uid, 2);
    expect(typesOf(uid)).toEqual(['INITIAL_PURCHASE', 'REVOCATION']);
  });

  it('a consumable and its refund: CREDITS_GRANTED, then one CREDITS_REVERSED however often the void is delivered', async () => {
    const uid = newUid();
    const p = await s.sim.createPurchase({ type: 'product', productId: 'coins_100', packageName: PACKAGE } as never);
    expect((await s.post({ packageName: PACKAGE, productId: 'coins_100', purchaseToken: p.purchaseToken }, { uid })).status).toBe(200);
    await settle(uid, 1);
    const voided = {
      version: '1.0',
      packageName: PACKAGE,
      eventTimeMillis: String(Date.now()),
      voidedPurchaseNotification: { purchaseToken: p.purchaseToken, orderId: p.orderId, productType: 2, refundType: 1 },
    };
    for (let i = 0; i < 3; i++) expect(await s.pushRtdn(voided)).toBeLessThan(300);
    await settle(uid, 2);
    expect(eventsOf(uid).map((e) => [e.type, e.data.credits, e.data.entitlements])).toEqual([
      ['CREDITS_GRANTED', { coins: 100 }, []],
      ['CREDITS_REVERSED', { coins: -100 }, []],
    ]);
  });

  it('Pub/Sub unable to take the event: it stays pending and the next reconcile run publishes it once', async () => {
    const uid = newUid();
    await consumer.dropTopic(); // the outage: publishes fail
    const p = await s.sim.createPurchase({ type: 'subscription', productId: 'premium_monthly', packageName: PACKAGE } as never);
    expect((await s.post({ packageName: PACKAGE, productId: 'premium_monthly', purchaseToken: p.purchaseToken }, { uid })).status).toBe(200);
    const pending = await s.db.collection('entitlementEvents').where('uid', '==', uid).where('pending', '==', true).get();
    expect(pending.size).toBe(1);
    await consumer.restoreTopic();
    const { status } = await s.runReconcile();
    expect(status).toBeLessThan(300);
    await settle(uid, 1);
    await s.runReconcile();
    await new Promise((r) => setTimeout(r, 1000));
    expect(typesOf(uid)).toEqual(['INITIAL_PURCHASE']);
  });
});
