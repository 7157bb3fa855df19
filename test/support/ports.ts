import { createServer, type AddressInfo } from 'node:net';

/** A loopback port with nothing listening on it (bound, then closed). */
export async function closedPort(): Promise<number> {
  const { port, close } = await occupyPort();
  await close();
  return port;
}

/**
 * `count` consecutive loopback ports that nothing listens on now, for a fleet's metrics
 * (worker i on first + i - 1). Taken below the kernel's ephemeral range (32768 and up), so an
 * outgoing connection of another process cannot be handed one of them meanwhile.
 */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const first = 20_000 + Math.floor(Math.random() * (12_000 - count));
    const ports = Array.from({ length: count }, (_, i) => first + i);
    if ((await Promise.all(ports.map(isFree))).every(Boolean)) return first;
  }
  throw new Error(`found no ${count} free consecutive ports`);
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Hold a loopback port (as another program would; 0: any free one) until `close`. */
export async function occupyPort(wanted = 0): Promise<{ port: number; close(): Promise<void> }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(wanted, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
