import { toPort, toSubscriberPort } from '../../src/redis/adapt.js';
import type { SupportedRedisClient } from '../../src/redis/client.js';
import type { SubscriberPort } from '../../src/redis/port.js';

/** A test's own subscriber connection as the notifier sees it (the seam of its library). */
export function asSubscriber(client: SupportedRedisClient): SubscriberPort {
  return toSubscriberPort(client, toPort(client));
}
