import net from 'node:net';

/**
 * A real TCP proxy in front of a real redis-server, for faults that only the network makes:
 * a reply lost on the way back, a connection cut at a chosen moment.
 *
 * `dropReplyTo(marker)`: the next request whose bytes contain `marker` goes to Redis, Redis runs
 * it, and its reply is swallowed while the client's connection is cut, exactly what a network
 * blip after the server answered looks like. The client reconnects through the proxy as usual.
 *
 * `holdRequest(marker)`: the next request whose bytes contain `marker` (and everything after it
 * on that connection) waits in the proxy until `release()`, so a test can let other clients act
 * between a command's sending and its arrival.
 *
 * `blackhole()`: from now on nothing passes either way, on every connection, new ones included
 * (they are accepted and then hear nothing): a network that drops packets without a refusal or a
 * reset. `heal()` lets what waited through, in order, as TCP's retransmissions would.
 */
export interface TcpProxy {
  readonly url: string;
  readonly port: number;
  dropReplyTo(marker: string): Promise<void>;
  /** `skip`: let this many matching requests through first. */
  holdRequest(marker: string, skip?: number): { arrived: Promise<void>; release(): void };
  blackhole(): void;
  heal(): void;
  /** Connections accepted so far (a reconnect is a new one). */
  readonly accepted: number;
  /** Chunks clients sent so far: every command sent on its own is one. */
  readonly requests: number;
  /** Chunks passed back to clients so far. */
  readonly replies: number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  let requests = 0;
  let replies = 0;
  let pendingDrop: { marker: Buffer; done: () => void } | null = null;
  let pendingHold: { marker: Buffer; skip: number; arrived: () => void; released: Promise<void> } | null = null;
  /** While blackholed, the promise that `heal()` resolves; every byte waits for it. */
  let healed: Promise<void> = Promise.resolve();
  let heal: () => void = () => {};

  const server = net.createServer((client) => {
    accepted += 1;
    const upstream = net.connect(target.port, target.host);
    sockets.add(client).add(upstream);
    let dropping: (() => void) | null = null;
    // Requests go upstream in order, each after the hold (if any) in front of it ends.
    let queue: Promise<void> = Promise.resolve();
    let back: Promise<void> = Promise.resolve();

    client.on('data', (chunk) => {
      requests += 1;
      if (pendingDrop && chunk.includes(pendingDrop.marker)) {
        dropping = pendingDrop.done;
        pendingDrop = null;
      }
      if (pendingHold && chunk.includes(pendingHold.marker) && pendingHold.skip-- === 0) {
        const hold = pendingHold;
        pendingHold = null;
        hold.arrived();
        queue = queue.then(() => hold.released);
      }
      const gate = healed;
      queue = queue.then(() => gate).then(() => void upstream.write(chunk));
    });
    upstream.on('data', (chunk) => {
      if (dropping) {
        // Redis ran the command and answered; the answer never arrives.
        const done = dropping;
        dropping = null;
        client.destroy();
        upstream.destroy();
        done();
        return;
      }
      const gate = healed;
      back = back
        .then(() => gate)
        .then(() => {
          replies += 1;
          client.write(chunk);
        });
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;

  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    get accepted() {
      return accepted;
    },
    get requests() {
      return requests;
    },
    get replies() {
      return replies;
    },
    blackhole() {
      healed = new Promise<void>((resolve) => (heal = resolve));
    },
    heal() {
      heal();
      healed = Promise.resolve();
    },
    dropReplyTo(marker) {
      return new Promise<void>((resolve) => {
        pendingDrop = { marker: Buffer.from(marker), done: resolve };
      });
    },
    holdRequest(marker, skip = 0) {
      let arrived!: () => void;
      let release!: () => void;
      const arrivedPromise = new Promise<void>((resolve) => (arrived = resolve));
      const released = new Promise<void>((resolve) => (release = resolve));
      pendingHold = { marker: Buffer.from(marker), skip, arrived, released };
      return { arrived: arrivedPromise, release };
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
