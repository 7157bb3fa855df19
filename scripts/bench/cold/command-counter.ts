import { Redis } from 'ioredis';

/**
 * Counts the commands this process sends, over every ioredis client (including ones a
 * library creates or duplicates), by wrapping `sendCommand` once. Each command sent is one
 * round trip's worth of request, whatever the server then runs inside a script, so this is
 * the client-side counterpart of INFO commandstats.
 */
let counting = false;
let sent = 0;
let installed = false;

export function installCommandCounter(): void {
  if (installed) return;
  installed = true;
  const proto = Redis.prototype as unknown as { sendCommand: (...args: unknown[]) => unknown };
  const original = proto.sendCommand;
  proto.sendCommand = function (this: unknown, ...args: unknown[]) {
    if (counting) sent += 1;
    return original.apply(this, args);
  };
}

export function startCounting(): void {
  sent = 0;
  counting = true;
}

export function stopCounting(): number {
  counting = false;
  return sent;
}
