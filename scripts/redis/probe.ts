import { readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

/**
 * A tiny one-shot RESP2 client for managing redis-server processes: PING while one starts,
 * INFO for a status line, SHUTDOWN to stop it. Deliberately not ioredis: no reconnects, no
 * offline queue, no error events to silence, and SHUTDOWN's "no reply, connection closed"
 * is a normal outcome here rather than an error.
 */

export type RespValue = string | number | null | RespValue[] | RespErrorReply;

/** An error reply (`-ERR ...`) from the server; a value, not a thrown error. */
export class RespErrorReply {
  constructor(readonly message: string) {}
}

export interface ProbeTarget {
  host: string;
  port: number;
  /** Sent with AUTH before the commands when set; its reply is not returned. */
  password?: string | undefined;
  username?: string | undefined;
  /** A TLS-only server: trust this CA's PEM file (the servers the lab starts with a test CA). */
  tls?: { caFile: string } | undefined;
}

/**
 * Send commands in one pipeline and collect their replies. Resolves with the replies received
 * before the server closed the connection (so SHUTDOWN yields fewer replies than commands).
 * Rejects on connection errors (ECONNREFUSED, ...) and when `timeoutMs` passes.
 */
export function sendCommands(target: ProbeTarget, commands: string[][], timeoutMs = 1000): Promise<RespValue[]> {
  const auth = target.password ? [target.username ? ['AUTH', target.username, target.password] : ['AUTH', target.password]] : [];
  const all = [...auth, ...commands];
  return new Promise((resolve, reject) => {
    const socket = target.tls
      ? tls.connect({ host: target.host, port: target.port, ca: readFileSync(target.tls.caFile) })
      : net.connect({ host: target.host, port: target.port });
    let buffer = Buffer.alloc(0);
    const replies: RespValue[] = [];
    const finish = (err?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(replies.slice(auth.length));
    };
    const timer = setTimeout(() => finish(new Error(`no answer from ${target.host}:${target.port} within ${timeoutMs} ms`)), timeoutMs);
    socket.on(target.tls ? 'secureConnect' : 'connect', () => socket.write(all.map(encode).join('')));
    socket.on('data', (chunk) => {
      buffer = Buffer.concat([buffer, chunk]);
      try {
        for (;;) {
          const parsed = parse(buffer, 0);
          if (!parsed) break;
          replies.push(parsed.value);
          buffer = buffer.subarray(parsed.end);
        }
      } catch (err) {
        // Not a Redis on that port (or a protocol we do not speak): say so, do not crash.
        return finish(err as Error);
      }
      if (replies.length >= all.length) finish();
    });
    socket.on('error', (err) => finish(err));
    socket.on('close', () => finish());
  });
}

/** `PONG` when a server answers PING, the error reply's text (e.g. NOAUTH, LOADING) otherwise. */
export async function ping(target: ProbeTarget, timeoutMs = 1000): Promise<string> {
  const [reply] = await sendCommands(target, [['PING']], timeoutMs);
  if (reply instanceof RespErrorReply) return reply.message;
  if (reply === undefined) throw new Error('connection closed before PING was answered');
  return String(reply);
}

/** True when something answers PING with PONG on that port. Never throws. */
export async function answersPing(target: ProbeTarget, timeoutMs = 1000): Promise<boolean> {
  try {
    return (await ping(target, timeoutMs)) === 'PONG';
  } catch {
    return false;
  }
}

/** INFO's `field:value` lines as a map. */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !line.startsWith('#')) fields.set(line.slice(0, i), line.slice(i + 1));
  }
  return fields;
}

function encode(args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

/** Parse one reply at `start`; undefined when the buffer does not hold a whole one yet. */
function parse(buf: Buffer, start: number): { value: RespValue; end: number } | undefined {
  const eol = buf.indexOf('\r\n', start);
  if (eol < 0) return undefined;
  const type = String.fromCharCode(buf[start]!);
  const line = buf.toString('utf8', start + 1, eol);
  const next = eol + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new RespErrorReply(line), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, end: next };
      if (buf.length < next + len + 2) return undefined;
      return { value: buf.toString('utf8', next, next + len), end: next + len + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, end: next };
      const items: RespValue[] = [];
      let at = next;
      for (let i = 0; i < count; i++) {
        const item = parse(buf, at);
        if (!item) return undefined;
        items.push(item.value);
        at = item.end;
      }
      return { value: items, end: at };
    }
    default:
      throw new Error(`unexpected RESP reply type ${JSON.stringify(type)}`);
  }
}
