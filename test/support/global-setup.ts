import type { TestProject } from 'vitest/node';
import { startEmbeddedRedis, type EmbeddedRedis } from '../../scripts/redis/redis-server.js';

let server: EmbeddedRedis | undefined;

export async function setup(project: TestProject): Promise<void> {
  server = await startEmbeddedRedis({ log: (line) => process.stderr.write(`${line}\n`) });
  project.provide('redisUrl', server.url);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}
