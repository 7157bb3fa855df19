/**
 * A password never reaches a log line: when an AUTH fails on a reconnect (the password was
 * rotated, the ACL user disabled), ioredis's error carries the AUTH command with its arguments,
 * and pino would write them out. logEvent blanks them.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { logEvent } from '../src/logger.js';
import { captureLogger } from './support/log-capture.js';
import { closeAll, connect, redisUrl } from './support/redis.js';

describe('logging a failed AUTH', () => {
  const user = `t-auth-${randomBytes(4).toString('hex')}`;
  const password = `pw-${randomBytes(8).toString('hex')}`;
  const admin = connect();

  afterAll(async () => {
    await admin.acl('DELUSER', user);
    await closeAll(admin);
  });

  it('keeps the command name and the reason, never the password', async () => {
    await admin.acl('SETUSER', user, 'on', `>${password}`, '+ping', '+info');
    const url = new URL(redisUrl());
    const client = new Redis({ host: url.hostname, port: Number(url.port), username: user, password, retryStrategy: () => 50 });
    const failed = new Promise<unknown>((resolve) => client.once('error', resolve));
    await client.ping();
    // The password changes under a running client, which then reconnects with the old one.
    await admin.acl('SETUSER', user, 'resetpass', `>new-${password}`);
    await admin.client('KILL', 'USER', user);
    const err = await failed;
    client.disconnect();

    expect((err as { command?: { args: string[] } }).command?.args).toContain(password); // what ioredis hands over
    const capture = captureLogger('info');
    logEvent(capture.logger, 'warn', 'redis.error', { role: 'cache', err });
    const line = JSON.stringify(capture.lines);
    expect(line).not.toContain(password);
    expect(capture.lines[0]).toMatchObject({
      event: 'redis.error',
      err: { message: expect.stringMatching(/^WRONGPASS/), command: { name: 'auth' } },
    });
  });
});
