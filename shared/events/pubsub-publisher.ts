import type { EventPublisher } from '../core/deliver-events';
import { timed } from '../log';
import { countCall } from '../metrics';

/**
 * Entitlement events to a Pub/Sub topic with @google-cloud/pubsub (the emulator via
 * PUBSUB_EMULATOR_HOST), the uid as ordering key. A publish is bounded: past `timeoutMs` it fails and
 * the event stays in the outbox; the key is resumed so that the next try can publish again.
 */
export function createPubSubPublisher(o: { projectId: string; topic: string; timeoutMs?: number }): EventPublisher {
  const timeoutMs = o.timeoutMs ?? 5_000;
  let topic: import('@google-cloud/pubsub').Topic | undefined;
  const get = () => {
    if (topic) return topic;
    // loaded on first use: functions that never publish never load it
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { PubSub } = require('@google-cloud/pubsub') as typeof import('@google-cloud/pubsub');
    topic = new PubSub({ projectId: o.projectId }).topic(o.topic, {
      messageOrdering: true,
      batching: { maxMessages: 1, maxMilliseconds: 0 },
      gaxOpts: { timeout: timeoutMs, retry: { backoffSettings: { totalTimeoutMillis: timeoutMs } } as never },
    });
    return topic;
  };
  return {
    async publish({ data, attributes, orderingKey }) {
      const t = get();
      countCall('pubsub:publish');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`Pub/Sub did not take the event within ${timeoutMs} ms`)), timeoutMs);
      });
      try {
        await timed('pubsub', 'publish', () => Promise.race([t.publishMessage({ data: Buffer.from(data), attributes, orderingKey }), late]));
      } catch (e) {
        t.resumePublishing(orderingKey);
        throw e;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
