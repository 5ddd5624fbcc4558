import type { Request, Response } from '@google-cloud/functions-framework';
import { applyAppStoreNotification } from '../../shared/core/apply-app-store-notification';
import { parseWith, readJsonBody, requirePost, sendHttpError, sendJson } from '../../shared/http';
import type { Runtime } from '../../shared/runtime';
import { instrumentHttp, type Outcome } from '../instrument';
import { AppStoreNotificationRequestSchema } from './request';

/**
 * appStoreNotifications (HTTP): App Store Server Notifications V2. 200 once applied (or known: duplicate,
 * stale, test); 400 for a payload that is not ours or not Apple's (nothing written); 5xx for transient
 * failures, so that Apple retries.
 */
export function appStoreNotificationsHandler(rt: () => Runtime) {
  const handle = async (req: Request, res: Response): Promise<Outcome> => {
    requirePost(req, res);
    const { config, appStore, store, now } = rt();
    const { signedPayload } = parseWith(AppStoreNotificationRequestSchema, readJsonBody(req));
    const { outcome, type } = await applyAppStoreNotification({ catalog: config.catalog, appStore, store, now }, signedPayload);
    sendJson(res, 200, { status: outcome });
    return { status: 200, outcome, type };
  };
  return instrumentHttp('appStoreNotifications', handle, sendHttpError);
}
