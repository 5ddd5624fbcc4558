import type { CloudEvent } from '@google-cloud/functions-framework';
import { z } from 'zod';
import { applyPlayNotification } from '../../shared/core/apply-play-notification';
import { toDomainError } from '../../shared/errors';
import { log } from '../../shared/log';
import { withCallCounts } from '../../shared/metrics';
import type { Runtime } from '../../shared/runtime';

/**
 * The CloudEvent `google.cloud.pubsub.topic.v1.messagePublished` (MessagePublishedData). Returning
 * acks; throwing makes Pub/Sub redeliver, which we want only for transient failures.
 */
const MessagePublishedSchema = z.looseObject({
  message: z.looseObject({
    data: z.string().optional(),
    messageId: z.string().optional(),
    message_id: z.string().optional(),
  }),
});

export function playRtdnHandler(rt: () => Runtime) {
  return async (event: CloudEvent<unknown>): Promise<void> => {
    const started = Date.now();
    const envelope = MessagePublishedSchema.safeParse(event.data);
    const message = envelope.success ? envelope.data.message : undefined;
    const messageId = message?.messageId ?? message?.message_id ?? event.id ?? 'unknown';
    const { config, play, store, now } = rt();
    try {
      const { result, calls } = await withCallCounts(() =>
        applyPlayNotification(
          { catalog: config.catalog, packageNames: config.packageNames, play, store, now },
          { messageId, data: message?.data },
        ),
      );
      log('INFO', 'playRtdn', { messageId, outcome: result, latencyMs: Date.now() - started, calls });
    } catch (error) {
      const err = toDomainError(error);
      log('WARNING', 'playRtdn will be retried', { messageId, code: err.code, message: err.message, latencyMs: Date.now() - started });
      throw err;
    }
  };
}
