/** The lab's logger keeps secrets out of every line: passwords and the credentials in URLs. */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../scripts/common/logging.js';

function linesOf(log: (logger: ReturnType<typeof createLogger>) => void): string[] {
  const lines: string[] = [];
  log(createLogger({ level: 'info', destination: { write: (chunk: string) => void lines.push(chunk) } }));
  return lines;
}

describe('createLogger', () => {
  it('redacts password fields and URL credentials, at the top of a line and one level down', () => {
    const [line] = linesOf((logger) =>
      logger.info(
        {
          url: 'redis://app:s3cret-1@cache:6379/0',
          password: 's3cret-2',
          target: { url: 'rediss://:s3cret-3@h:6380', password: 's3cret-4', port: 6380 },
        },
        'connecting',
      ),
    );
    expect(line).not.toMatch(/s3cret/);
    const record = JSON.parse(line!) as Record<string, unknown>;
    expect(record).toMatchObject({
      url: 'redis://app:***@cache:6379/0',
      password: '[Redacted]',
      target: { url: 'rediss://:***@h:6380', password: '[Redacted]', port: 6380 },
    });
  });

  it('leaves a line without secrets as it is, and keeps the contract fields', () => {
    const [line] = linesOf((logger) => logger.info({ event: 'cache.hit', tier: 'l1', key: 'user:42' }, 'cache hit'));
    expect(JSON.parse(line!)).toMatchObject({ event: 'cache.hit', tier: 'l1', key: 'user:42', msg: 'cache hit', pid: process.pid });
  });
});
