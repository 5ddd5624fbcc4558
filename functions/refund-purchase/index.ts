import type { Request, Response } from '@google-cloud/functions-framework';
import { requireAdmin } from '../../shared/auth/admin';
import { parseBearer } from '../../shared/auth/id-token';
import { answerCors, readCallableData, sendCallableError, sendCallableResult } from '../../shared/callable';
import { refundPurchase } from '../../shared/core/refund-purchase';
import { toDomainError } from '../../shared/errors';
import { parseWith } from '../../shared/http';
import { log } from '../../shared/log';
import { withCallCounts } from '../../shared/metrics';
import type { Runtime } from '../../shared/runtime';
import { RefundPurchaseRequestSchema } from './request';

/** refundPurchase (Firebase callable): protocol -> admin -> core -> `{result}` / `{error}`. */
export function refundPurchaseHandler(rt: () => Runtime) {
  const handle = async (req: Request, res: Response): Promise<{ status: number; code?: string }> => {
    try {
      if (answerCors(req, res)) return { status: 204 };
      const data = readCallableData(req);
      const { idTokens, config, play, store, now } = rt();
      const admin = requireAdmin(await idTokens.verify(parseBearer(req.get('authorization'))), config.adminClaim);
      const request = parseWith(RefundPurchaseRequestSchema, data);
      const result = await refundPurchase({ packageNames: config.packageNames, play, store, now }, admin, request);
      sendCallableResult(res, result);
      return { status: 200 };
    } catch (error) {
      const err = toDomainError(error);
      if (err.code === 'internal') log('ERROR', 'refundPurchase failed', { error: String((err.cause as Error)?.stack ?? err.cause) });
      return { status: sendCallableError(res, err), code: err.code };
    }
  };
  return async (req: Request, res: Response): Promise<void> => {
    const started = Date.now();
    const { result, calls } = await withCallCounts(() => handle(req, res));
    log('INFO', 'refundPurchase', { ...result, latencyMs: Date.now() - started, calls });
  };
}
