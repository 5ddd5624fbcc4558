import type { CloudEvent } from '@google-cloud/functions-framework';
import * as z from '../../shared/zod';
import { applyPlayNotification } from '../../shared/core/apply-play-notification';
import type { Runtime } from '../../shared/runtime';
import { instrumentEvent } from '../instrument';

/**
 * The CloudEvent `google.cloud.pubsub.topic.v1.messagePublished` (MessagePublishedData). Returning
 * acks; throwing makes Pub/Sub redeliver, which we want only for transient failures.
 */
const MessagePublishedSchema = z.looseObject({
  message: z.looseObject({
    data: z.optional(z.string()),
    messageId: z.optional(z.string()),
    message_id: z.optional(z.string()),
  }),
});

export function playRtdnHandler(rt: () => Runtime) {
  return instrumentEvent('playRtdn', async (event: CloudEvent<unknown>) => {
    const envelope = MessagePublishedSchema.safeParse(event.data);
    const message = envelope.success ? envelope.data.message : undefined;
    const messageId = message?.messageId ?? message?.message_id ?? event.id ?? 'unknown';
    const { config, play, store, now } = rt();
    const outcome = await applyPlayNotification(
      { catalog: config.catalog, packageNames: config.packageNames, play, store, now },
      { messageId, data: message?.data },
    );
    return { messageId, outcome };
  });
}
