import type { Request, Response } from '@google-cloud/functions-framework';
import { parseBearer } from '../../shared/auth/id-token';
import { verifyAppStorePurchase } from '../../shared/core/verify-app-store-purchase';
import { verifyPlayPurchase } from '../../shared/core/verify-play-purchase';
import { logContext } from '../../shared/log';
import { parseWith, readJsonBody, requirePost, sendHttpError, sendJson } from '../../shared/http';
import type { Runtime } from '../../shared/runtime';
import { instrumentHttp, type Outcome } from '../instrument';
import { refuseCallableShape, refuseOrderIdAsToken, VerifyPurchaseRequestSchema } from './request';

/** verifyPurchase (HTTP): parse -> authenticate -> core (Play or App Store) -> reply. */
export function verifyPurchaseHandler(rt: () => Runtime) {
  const handle = async (req: Request, res: Response): Promise<Outcome> => {
    requirePost(req, res);
    const { idTokens, config, play, store, appStore, now } = rt();
    const body = readJsonBody(req);
    const user = await idTokens.verify(parseBearer(req.get('authorization')));
    logContext.setUser(user.uid);
    refuseCallableShape(body);
    refuseOrderIdAsToken(body);
    const request = parseWith(VerifyPurchaseRequestSchema, body);
    const restore = { policy: config.restorePolicy, limit: config.restoreTransferLimit };
    const result =
      request.platform === 'app_store'
        ? await verifyAppStorePurchase({ catalog: config.catalog, appStore, store, now, restore }, user.uid, request)
        : await verifyPlayPurchase(
            {
              catalog: config.catalog,
              packageNames: config.packageNames,
              licenseKeys: config.licenseKeys,
              play,
              store,
              now,
              trustStoredState: config.playTrustStoredState ? { marginMs: config.playTrustMarginMs } : undefined,
              restore,
            },
            user.uid,
            request,
          );
    sendJson(res, 200, result);
    return { status: 200, platform: request.platform ?? 'google_play', ...(result.source ? { source: result.source } : {}) };
  };
  return instrumentHttp('verifyPurchase', handle, sendHttpError);
}
