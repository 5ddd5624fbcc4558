import type { CloudEvent, Request, Response } from '@google-cloud/functions-framework';
import { toDomainError, type DomainError, type ErrorCode } from '../shared/errors';
import { log, withLogContext, type Severity } from '../shared/log';
import { withCallCounts } from '../shared/metrics';

/**
 * One log line per request or event, in Cloud Logging's structured format: outcome, latency, the
 * outbound calls it made, the function as a label, and the trace and execution ids so that every
 * line of one request groups together. Unexpected errors are logged with their stack here, once.
 */
export type Outcome = Record<string, unknown> & { status?: number; code?: string };

const PROJECT = () => process.env.GOOGLE_CLOUD_PROJECT ?? '';

function httpContext(name: string, req: Request): Record<string, unknown> {
  const fields: Record<string, unknown> = { 'logging.googleapis.com/labels': { function: name } };
  const trace = /^([0-9a-f]{32})(?:\/(\d+))?/i.exec(req.get('x-cloud-trace-context') ?? '');
  if (trace) {
    fields['logging.googleapis.com/trace'] = `projects/${PROJECT()}/traces/${trace[1]}`;
    if (trace[2]) fields['logging.googleapis.com/spanId'] = trace[2];
  }
  const execution = req.get('function-execution-id');
  if (execution) fields.executionId = execution;
  return fields;
}

/**
 * The request line's severity: success INFO, the caller's fault (4xx) WARNING, ours (5xx) ERROR, and a
 * 4xx that only the operator can fix (a configuration fault) ERROR too.
 */
const OPERATOR_FAULTS: ReadonlySet<ErrorCode> = new Set(['apple_not_configured']);

export function severityOf(outcome: Outcome): Severity {
  const status = outcome.status ?? 200;
  if (status >= 500 || (outcome.code !== undefined && OPERATOR_FAULTS.has(outcome.code as ErrorCode))) return 'ERROR';
  return status >= 400 ? 'WARNING' : 'INFO';
}

export function logUnexpected(name: string, err: DomainError): void {
  if (err.code === 'internal') log('ERROR', `${name} failed`, { error: String((err.cause as Error)?.stack ?? err.cause) });
}

/** Wraps an HTTP handler; `handle` answers the request itself and returns its outcome. */
export function instrumentHttp(
  name: string,
  handle: (req: Request, res: Response) => Promise<Outcome>,
  sendError: (res: Response, error: unknown) => number,
) {
  return (req: Request, res: Response): Promise<void> =>
    withLogContext(httpContext(name, req), async () => {
      const started = Date.now();
      const { result, calls } = await withCallCounts(async (): Promise<Outcome> => {
        try {
          return await handle(req, res);
        } catch (error) {
          const err = toDomainError(error);
          logUnexpected(name, err);
          return { status: sendError(res, err), code: err.code };
        }
      });
      log(severityOf(result), name, { ...result, latencyMs: Date.now() - started, calls });
    });
}

/** Wraps a CloudEvent handler; a thrown error is logged and rethrown (the event is retried). */
export function instrumentEvent(name: string, handle: (event: CloudEvent<unknown>) => Promise<Outcome>) {
  return (event: CloudEvent<unknown>): Promise<void> =>
    withLogContext({ 'logging.googleapis.com/labels': { function: name }, eventId: event.id }, async () => {
      const started = Date.now();
      try {
        const { result, calls } = await withCallCounts(() => handle(event));
        log(result.outcome === 'dead_letter' ? 'WARNING' : 'INFO', name, { ...result, latencyMs: Date.now() - started, calls });
      } catch (error) {
        const err = toDomainError(error);
        logUnexpected(name, err);
        // retried like a 5xx: our side or a store failed
        log('ERROR', `${name} will be retried`, { code: err.code, error: err.message, latencyMs: Date.now() - started });
        throw err;
      }
    });
}
