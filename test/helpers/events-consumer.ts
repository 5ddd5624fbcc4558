import { PubSub, type Message, type Subscription } from '@google-cloud/pubsub';

export interface ReceivedEvent {
  id: string;
  type: string;
  uid: string;
  data: Record<string, any>;
  orderingKey: string;
}

export interface EventsConsumer {
  received: ReceivedEvent[];
  /** An outage: the topic is deleted, so publishes fail. */
  dropTopic(): Promise<void>;
  /** The topic again, with a new subscription feeding the same `received`. */
  restoreTopic(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A consumer of the entitlement events topic on the Pub/Sub emulator (PUBSUB_EMULATOR_HOST set by
 * the caller): creates the topic and an ordered subscription, and collects every message it acks.
 */
export async function consumeEvents(projectId: string, topicName: string): Promise<EventsConsumer> {
  const pubsub = new PubSub({ projectId });
  const received: ReceivedEvent[] = [];
  const onMessage = (m: Message) => {
    const a = m.attributes;
    received.push({ id: a.id!, type: a.type!, uid: a.uid!, data: JSON.parse(m.data.toString()), orderingKey: m.orderingKey ?? '' });
    m.ack();
  };
  let subscriptions = 0;
  const subscribe = async (): Promise<Subscription> => {
    const [topic] = await pubsub.createTopic(topicName);
    const [sub] = await topic.createSubscription(`consumer-${++subscriptions}`, { enableMessageOrdering: true });
    return sub.on('message', onMessage);
  };
  let sub = await subscribe();
  return {
    received,
    async dropTopic() {
      await pubsub.topic(topicName).delete();
    },
    async restoreTopic() {
      await sub.close();
      sub = await subscribe();
    },
    async close() {
      await sub.close();
      await pubsub.close();
    },
  };
}
