import { Redis } from 'ioredis';

/**
 * Counts what this process's ioredis clients send (every client, including ones a library
 * creates), by wrapping `Redis.prototype.sendCommand` once:
 * - commands: every command sent, one each, whatever the server then runs inside a script;
 * - requests: what had to cross the network as one write: a command sent on its own is one, a
 *   pipeline (ioredis passes its commands with a stream marked `isPipeline`) is one however many
 *   commands it carries. Requests sent at the same moment on one connection still count one
 *   each: the server answers them one after another, and each costs it a request.
 */
let counting = false;
let commands = 0;
let requests = 0;
let pipelines = new WeakSet<object>();
let installed = false;

export function installRequestCounter(): void {
  if (installed) return;
  installed = true;
  const proto = Redis.prototype as unknown as { sendCommand: (...args: unknown[]) => unknown };
  const original = proto.sendCommand;
  proto.sendCommand = function (this: unknown, ...args: unknown[]) {
    if (counting) {
      commands += 1;
      const stream = args[1] as { isPipeline?: boolean } | undefined;
      if (stream?.isPipeline) {
        if (!pipelines.has(stream)) {
          pipelines.add(stream);
          requests += 1;
        }
      } else {
        requests += 1;
      }
    }
    return original.apply(this, args);
  };
}

export function startCounting(): void {
  commands = 0;
  requests = 0;
  pipelines = new WeakSet();
  counting = true;
}

export function stopCounting(): { commands: number; requests: number } {
  counting = false;
  return { commands, requests };
}
