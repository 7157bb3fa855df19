/**
 * Run the example backend until Ctrl-C:
 *   npx tsx examples/http-backend/serve.ts [--port 8787] [--delay-ms 1000]
 * then point the fleet at it (BACKEND_URL) and ask how many requests reached it: GET /stats.
 */
import { parseArgs } from 'node:util';
import { startBackend } from './backend.js';

const usage =
  'Usage: serve [--port 8787] [--delay-ms 1000]\n  An HTTP backend answering GET /value/<key> after --delay-ms, counting requests (GET /stats).\n  --help  this text\n';
let values: { port: string; 'delay-ms': string; help?: boolean };
try {
  ({ values } = parseArgs({
    options: { port: { type: 'string', default: '8787' }, 'delay-ms': { type: 'string', default: '1000' }, help: { type: 'boolean' } },
  }));
} catch (err) {
  process.stderr.write(`error: ${(err as Error).message}\n`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}
const port = Number(values.port);
const delayMs = Number(values['delay-ms']);
if (!Number.isInteger(port) || port < 0 || port > 65_535 || !Number.isInteger(delayMs) || delayMs < 0) {
  process.stderr.write(
    `error: --port must be 0 to 65535 and --delay-ms a whole number of ms, got ${values.port} and ${values['delay-ms']}\n`,
  );
  process.exit(2);
}

const backend = await startBackend({ port, delayMs }).catch((err: Error) => {
  process.stderr.write(`error: cannot listen on 127.0.0.1:${port}: ${err.message}\n`);
  process.exit(1);
});
process.stdout.write(
  `backend on ${backend.url}: GET /value/<key> answers after ${delayMs} ms, GET /stats counts requests; Ctrl-C stops it\n`,
);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stdout.write(`backend: ${backend.requests()} request(s) in all\n`);
    void backend.close();
  });
}
