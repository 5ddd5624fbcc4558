import type { Request, Response } from '@google-cloud/functions-framework';
import { parseBearer } from '../../shared/auth/id-token';
import { verifyAppStorePurchase } from '../../shared/core/verify-app-store-purchase';
import { verifyPlayPurchase } from '../../shared/core/verify-play-purchase';
import { toDomainError } from '../../shared/errors';
import { parseWith, readJsonBody, requirePost, sendHttpError, sendJson } from '../../shared/http';
import { log } from '../../shared/log';
import { withCallCounts } from '../../shared/metrics';
import type { Runtime } from '../../shared/runtime';
import { refuseOrderIdAsToken, VerifyPurchaseRequestSchema } from './request';

/** verifyPurchase (HTTP): parse -> authenticate -> core -> reply. */
export function verifyPurchaseHandler(rt: () => Runtime) {
  const handle = async (req: Request, res: Response): Promise<{ status: number; code?: string }> => {
    try {
      requirePost(req, res);
      const { idTokens, config, play, store, appStore, now } = rt();
      const body = readJsonBody(req);
      const user = await idTokens.verify(parseBearer(req.get('authorization')));
      refuseOrderIdAsToken(body);
      const request = parseWith(VerifyPurchaseRequestSchema, body);
      const result =
        request.platform === 'app_store'
          ? await verifyAppStorePurchase({ catalog: config.catalog, appStore, store, now }, user.uid, request)
          : await verifyPlayPurchase(
              { catalog: config.catalog, packageNames: config.packageNames, licenseKeys: config.licenseKeys, play, store, now },
              user.uid,
              request,
            );
      sendJson(res, 200, result);
      return { status: 200 };
    } catch (error) {
      const err = toDomainError(error);
      if (err.code === 'internal') log('ERROR', 'verifyPurchase failed', { error: String((err.cause as Error)?.stack ?? err.cause) });
      return { status: sendHttpError(res, err), code: err.code };
    }
  };
  return async (req: Request, res: Response): Promise<void> => {
    const started = Date.now();
    const { result, calls } = await withCallCounts(() => handle(req, res));
    log('INFO', 'verifyPurchase', { ...result, latencyMs: Date.now() - started, calls });
  };
}
