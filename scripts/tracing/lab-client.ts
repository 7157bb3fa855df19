import { BullMQOtel } from 'bullmq-otel';
import { createGetValueClient, type GetValueClient, type GetValueClientOptions } from '../../src/bullmq/client.js';
import { startLabTracing, type LabTracing } from './lab-tracing.js';
import { traceRequests } from './traced-client.js';

/** The lab's producer processes trace under this service name (`OTEL_SERVICE_NAME` overrides it). */
export const PRODUCER_SERVICE = 'cache-stampede-producer';

/** The producer process's tracing, shared by the lab clients open in it (a demo opens one per scenario). */
let shared: { tracing: LabTracing; clients: number } | null = null;

/**
 * The get-value client of the lab's producers (burst, demo, load). With tracing on (see
 * startLabTracing: on unless `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`), the
 * process traces as `cache-stampede-producer` (spans to `<logDir>/spans-producer.jsonl` or OTLP),
 * each get is the root span of its job's trace (traceRequests), and the job carries its context
 * to the worker (BullMQ telemetry). `close` ends the client and, with the process's last lab
 * client, exports the last spans and stops tracing.
 */
export function createLabClient(options: GetValueClientOptions & { logDir: string }): GetValueClient {
  const { logDir, ...clientOptions } = options;
  const tracing = shared?.tracing ?? startLabTracing({ serviceName: PRODUCER_SERVICE, logDir, fileName: 'producer' });
  if (!tracing) return createGetValueClient(clientOptions);
  shared ??= { tracing, clients: 0 };
  shared.clients += 1;
  const release = async () => {
    if (!shared || --shared.clients > 0) return;
    const ending = shared.tracing;
    shared = null;
    await ending.shutdown();
  };
  let client: GetValueClient;
  try {
    client = traceRequests(createGetValueClient({ ...clientOptions, telemetry: new BullMQOtel() }));
  } catch (err) {
    void release();
    throw err;
  }
  let closing: Promise<void> | null = null;
  return {
    get: (key, getOptions) => client.get(key, getOptions),
    request: (data, requestOptions) => client.request(data, requestOptions),
    get pending() {
      return client.pending;
    },
    close: () => {
      closing ??= client.close().finally(release);
      return closing;
    },
  };
}
