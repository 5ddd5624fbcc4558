import type { Request, Response } from '@google-cloud/functions-framework';
import { requireAdmin } from '../../shared/auth/admin';
import { parseBearer } from '../../shared/auth/id-token';
import { answerCors, readCallableData, sendCallableError, sendCallableResult } from '../../shared/callable';
import { refundPurchase } from '../../shared/core/refund-purchase';
import { parseWith } from '../../shared/http';
import { logContext } from '../../shared/log';
import type { Runtime } from '../../shared/runtime';
import { instrumentHttp, type Outcome } from '../instrument';
import { RefundPurchaseRequestSchema } from './request';

/** refundPurchase (Firebase callable): protocol -> admin -> core -> `{result}` / `{error}`. */
export function refundPurchaseHandler(rt: () => Runtime) {
  const handle = async (req: Request, res: Response): Promise<Outcome> => {
    if (answerCors(req, res)) return { status: 204 };
    const data = readCallableData(req);
    const { idTokens, config, play, store, now } = rt();
    const user = await idTokens.verify(parseBearer(req.get('authorization')));
    logContext.setAdmin(user.uid);
    const admin = requireAdmin(user, config.adminClaim);
    const request = parseWith(RefundPurchaseRequestSchema, data);
    const result = await refundPurchase(
      { catalog: config.catalog, packageNames: config.packageNames, play, store, now, transferLimit: config.restoreTransferLimit },
      admin,
      request,
    );
    sendCallableResult(res, result);
    return { status: 200, action: request.action, repeated: result.repeated };
  };
  return instrumentHttp('refundPurchase', handle, sendCallableError);
}
