import type { Request, Response } from '@google-cloud/functions-framework';
import { applyAppStoreNotification } from '../../shared/core/apply-app-store-notification';
import { toDomainError } from '../../shared/errors';
import { parseWith, readJsonBody, requirePost, sendHttpError, sendJson } from '../../shared/http';
import { log } from '../../shared/log';
import { withCallCounts } from '../../shared/metrics';
import type { Runtime } from '../../shared/runtime';
import { AppStoreNotificationRequestSchema } from './request';

/**
 * appStoreNotifications (HTTP): App Store Server Notifications V2. 200 once applied (or known: duplicate,
 * stale, test); 400 for a payload that is not ours or not Apple's (nothing written); 5xx for transient
 * failures, so that Apple retries.
 */
export function appStoreNotificationsHandler(rt: () => Runtime) {
  const handle = async (req: Request, res: Response): Promise<Record<string, unknown>> => {
    try {
      requirePost(req, res);
      const { config, appStore, store, now } = rt();
      const { signedPayload } = parseWith(AppStoreNotificationRequestSchema, readJsonBody(req));
      const { outcome, type } = await applyAppStoreNotification({ catalog: config.catalog, appStore, store, now }, signedPayload);
      sendJson(res, 200, { status: outcome });
      return { status: 200, outcome, type };
    } catch (error) {
      const err = toDomainError(error);
      if (err.code === 'internal') log('ERROR', 'appStoreNotifications failed', { error: String((err.cause as Error)?.stack ?? err.cause) });
      return { status: sendHttpError(res, err), code: err.code };
    }
  };
  return async (req: Request, res: Response): Promise<void> => {
    const started = Date.now();
    const { result, calls } = await withCallCounts(() => handle(req, res));
    log('INFO', 'appStoreNotifications', { ...result, latencyMs: Date.now() - started, calls });
  };
}
