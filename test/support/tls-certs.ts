import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { ServerTls } from '../../scripts/redis/redis-server.js';

const run = promisify(execFile);

export interface TestCertificates extends ServerTls {
  remove(): Promise<void>;
}

/** A CA's certificate may sign others; the server's names the addresses the tests connect to. */
const CA_EXTENSIONS = ['basicConstraints=critical,CA:TRUE', 'keyUsage=critical,keyCertSign'];
const SERVER_EXTENSIONS = ['subjectAltName=IP:127.0.0.1,DNS:localhost', 'basicConstraints=critical,CA:FALSE'];

/** `<name>.key` and `<name>.crt`: an EC key (P-256: milliseconds, unlike RSA), self-signed or signed by `signer`. */
async function certificate(dir: string, name: string, subject: string, extensions: string[], signer?: string): Promise<void> {
  // biome-ignore format: flag and value side by side
  await run('openssl', [
    'req', '-x509', '-nodes', '-days', '2',
    '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
    '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`),
    '-subj', subject,
    ...(signer ? ['-CA', join(dir, `${signer}.crt`), '-CAkey', join(dir, `${signer}.key`)] : []),
    ...extensions.flatMap((extension) => ['-addext', extension]),
  ]);
}

/**
 * A private CA and a server certificate it signed for 127.0.0.1 and localhost, made with openssl
 * in a temporary directory: what a managed service hands out (its CA) and runs (the server's).
 */
export async function makeTestCertificates(): Promise<TestCertificates> {
  const dir = await mkdtemp(join(tmpdir(), 'cs-tls-'));
  try {
    await certificate(dir, 'ca', '/CN=cache-stampede test CA', CA_EXTENSIONS);
    await certificate(dir, 'server', '/CN=localhost', SERVER_EXTENSIONS, 'ca');
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`openssl could not make the test certificates (is openssl 3 on PATH?): ${(err as Error).message}`);
  }
  return {
    caFile: join(dir, 'ca.crt'),
    certFile: join(dir, 'server.crt'),
    keyFile: join(dir, 'server.key'),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}
