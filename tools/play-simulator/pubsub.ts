import { PubSub, type Topic } from '@google-cloud/pubsub';
import { encodeNotification } from './notifications';
import type { OutgoingNotification } from './types';

/**
 * Publishes the simulator's RTDNs to a Pub/Sub topic, as Play does (message data = the notification
 * JSON; the client base64-encodes it). Point it at the emulator with `emulatorHost` (127.0.0.1:PORT).
 */
export interface RtdnPublisher {
  topic: Topic;
  publish(n: OutgoingNotification): Promise<string>;
  close(): Promise<void>;
}

export async function createRtdnPublisher(opts: { projectId: string; topic: string; emulatorHost: string }): Promise<RtdnPublisher> {
  const pubsub = new PubSub({ projectId: opts.projectId, apiEndpoint: opts.emulatorHost, emulatorMode: true });
  const topic = pubsub.topic(opts.topic);
  const [exists] = await topic.exists();
  if (!exists) await topic.create();
  return {
    topic,
    publish: (n) => topic.publishMessage({ data: Buffer.from(encodeNotification(n), 'utf8') }),
    async close() {
      await topic.flush().catch(() => undefined);
      await pubsub.close();
    },
  };
}

/** A push subscription delivering the topic to a functions-framework CloudEvent function. */
export async function pushToFunction(
  publisher: RtdnPublisher,
  opts: { subscription: string; functionUrl: string; projectId: string; ackDeadlineSeconds?: number },
): Promise<void> {
  // The framework reads the topic from the push path to build the CloudEvent's source.
  const endpoint = new URL(`projects/${opts.projectId}/topics/${publisher.topic.name.split('/').pop()}`, opts.functionUrl);
  const sub = publisher.topic.subscription(opts.subscription);
  const [exists] = await sub.exists();
  if (exists) await sub.delete();
  await publisher.topic.createSubscription(opts.subscription, {
    pushConfig: { pushEndpoint: endpoint.toString() },
    ackDeadlineSeconds: opts.ackDeadlineSeconds ?? 10,
  });
}
