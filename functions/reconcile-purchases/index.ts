import { randomUUID } from 'node:crypto';
import type { CloudEvent } from '@google-cloud/functions-framework';
import * as z from '../../shared/zod';
import { refreshAppStorePurchase } from '../../shared/core/apply-app-store-notification';
import { sweepAppleNotifications } from '../../shared/core/reconcile-apple';
import type { PurchaseEvent } from '../../shared/store/purchase-record';
import { reconcilePurchases, type AppleSweep } from '../../shared/core/reconcile-purchases';
import { log } from '../../shared/log';
import type { Runtime } from '../../shared/runtime';
import { instrumentEvent } from '../instrument';

/**
 * reconcilePurchases: the scheduled sweep (Cloud Scheduler -> topic `iap-reconcile` -> this CloudEvent).
 * The message carries nothing (`{}` or empty); anything else is ignored with a warning. Returning acks;
 * a failure of the whole run (the database unavailable) throws so that Pub/Sub redelivers, and the next
 * scheduled run continues from the checkpoints anyway.
 */
const MessagePublishedSchema = z.looseObject({
  message: z.looseObject({ data: z.optional(z.string()), messageId: z.optional(z.string()), message_id: z.optional(z.string()) }),
});

/** History pages (20 notifications each) one run reads per environment; the rest resumes next run. */
const APPLE_MAX_CALLS = 50;

export function reconcilePurchasesHandler(rt: () => Runtime) {
  return instrumentEvent('reconcilePurchases', async (event: CloudEvent<unknown>) => {
    const message = MessagePublishedSchema.safeParse(event.data).data?.message;
    const text = message?.data ? Buffer.from(message.data, 'base64').toString('utf8').trim() : '';
    if (text !== '' && text !== '{}') log('WARNING', 'reconcilePurchases ignores its message data (send {} or nothing)', { bytes: text.length });
    const id = message?.messageId ?? message?.message_id ?? event.id ?? randomUUID();
    const runId = /^[\w.-]{1,200}$/.test(id) ? id : randomUUID();
    const { config, play, store, reconcile, appStore, delivery, now } = rt();
    const appleDeps = { catalog: config.catalog, appStore, store, now };
    // Apple's history needs the App Store Server API key; without it the App Store step is left out.
    const apple =
      appStore?.hasApiKey && config.apple
        ? {
            environments: config.apple.environments,
            sweep: (w: Parameters<AppleSweep>[0]) => sweepAppleNotifications(appleDeps, { ...w, maxCalls: APPLE_MAX_CALLS }),
            refresh: (transactionId: string, event: PurchaseEvent) => refreshAppStorePurchase(appleDeps, transactionId, event),
          }
        : undefined;
    const run = await reconcilePurchases(
      {
        catalog: config.catalog,
        packageNames: config.packageNames,
        play,
        store,
        reconcile,
        now,
        maxPlayCalls: config.reconcileMaxPlayCalls,
        voidedPageSize: config.reconcileVoidedPageSize,
        apple,
        delivery,
      },
      runId,
    );
    return { runId, outcome: run.status, playCalls: run.playCalls, errors: run.errors.length };
  });
}
