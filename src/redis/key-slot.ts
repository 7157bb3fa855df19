/**
 * The Redis Cluster slot of a key name, as the server computes it (cluster.c, keyHashSlot): the
 * CRC16-CCITT (XMODEM) of the part between the first `{` and the first `}` after it when that
 * part is not empty, otherwise of the whole name, modulo 16384. The guard uses it to know which
 * node a call's keys live on (its circuit breaker is per node).
 */
export function keySlot(name: string): number {
  return crc16(Buffer.from(hashedPart(name), 'utf8')) % 16384;
}

export function crc16(data: Uint8Array): number {
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

/** What Redis Cluster hashes of a name: its hash tag when it has a non-empty one. */
export function hashedPart(name: string): string {
  const open = name.indexOf('{');
  if (open === -1) return name;
  const close = name.indexOf('}', open + 1);
  if (close === -1 || close === open + 1) return name;
  return name.slice(open + 1, close);
}
