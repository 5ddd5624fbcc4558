import { dirname } from 'node:path';

/**
 * The functions framework parses JSON bodies before our code runs, and a body that is not JSON (or
 * too large for it) ends in Express's HTML error page. Apps and callable clients expect our JSON
 * error shape, so body-parser failures are answered here; everything else goes on as before.
 * The reply carries both the HTTP code (`code`) and the callable status (`status`).
 */
type Handle = (this: { get(k: string): unknown }, req: unknown, res: NodeResponse, cb?: (err?: unknown) => void) => unknown;
interface NodeResponse {
  headersSent: boolean;
  statusCode: number;
  setHeader(name: string, value: string): void;
  end(body: string): void;
}

let installed = false;

export function answerBodyParseErrorsAsJson(): void {
  if (installed) return;
  installed = true;
  try {
    const expressPath = require.resolve('express', { paths: [require.resolve('@google-cloud/functions-framework')] });
    const express = require(expressPath) as { application: { handle: Handle } };
    const finalhandler = require(require.resolve('finalhandler', { paths: [dirname(expressPath)] })) as (
      req: unknown,
      res: unknown,
      opts: { env: unknown },
    ) => (err?: unknown) => void;
    const original = express.application.handle;
    express.application.handle = function handle(req, res, callback) {
      return original.call(this, req, res, (err?: unknown) => {
        const type = (err as { type?: string } | undefined)?.type;
        if (err && type && type.startsWith('entity.') && !res.headersSent) {
          const tooLarge = type === 'entity.too.large';
          res.statusCode = tooLarge ? 413 : 400;
          res.setHeader('Content-Type', 'application/json');
          const message = tooLarge ? 'The body is too large.' : 'The body is not valid JSON.';
          const code = tooLarge ? 'payload_too_large' : 'invalid_argument';
          res.end(JSON.stringify({ error: { code, status: 'INVALID_ARGUMENT', message } }));
          return;
        }
        (callback ?? finalhandler(req, res, { env: this.get('env') }))(err);
      });
    };
  } catch {
    // An unexpected framework layout: keep its own behaviour rather than fail to start.
  }
}
