import { ConfigError } from '../common/errors.js';

/**
 * How a Redis Cluster is named. Two equivalent forms:
 *
 * - a URL, `redis+cluster://[user:password@]host:port[,host:port...]` (`rediss+cluster://` for
 *   TLS), accepted wherever a Redis URL is (REDIS_URL, QUEUE_REDIS_URL, CACHE_REDIS_URL);
 * - a list, `REDIS_CLUSTER_NODES=host:port,host:port` (and QUEUE_/CACHE_ variants), turned into
 *   that URL by the configuration.
 *
 * The nodes are seeds: any one reachable master or replica is enough, the client discovers the
 * others. A cluster has only database 0, so the URL has no path. Passwords go in the URL's
 * user-info, once for every node; messages built here never repeat them.
 */
export interface ClusterName {
  tls: boolean;
  username?: string;
  password?: string;
  nodes: { host: string; port: number }[];
}

const CLUSTER_SCHEME = /^(rediss?)\+cluster:\/\//i;

export function isClusterUrl(url: string): boolean {
  return CLUSTER_SCHEME.test(url.trim());
}

/** Parse a `redis+cluster://` URL; `name` is the setting it came from, for the error message. */
export function parseClusterUrl(name: string, raw: string): ClusterName {
  const url = raw.trim();
  const scheme = CLUSTER_SCHEME.exec(url);
  if (!scheme) throw new ConfigError(`${name} must start with redis+cluster:// or rediss+cluster://`);
  let rest = url.slice(scheme[0].length);
  // The user-info ends at the last '@' (a password may hold an unencoded '@').
  const at = rest.lastIndexOf('@');
  let username: string | undefined;
  let password: string | undefined;
  if (at >= 0) {
    const auth = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = auth.indexOf(':');
    username = decode(colon >= 0 ? auth.slice(0, colon) : auth) || undefined;
    password = colon >= 0 ? decode(auth.slice(colon + 1)) || undefined : undefined;
  }
  rest = rest.replace(/\/$/, '');
  if (/[/?#]/.test(rest)) {
    throw new ConfigError(`${name}: a cluster URL is a list of host:port and nothing else (a cluster has only database 0); got "${rest}"`);
  }
  const nodes = parseNodeList(name, rest);
  return {
    tls: scheme[1]!.toLowerCase() === 'rediss',
    ...(username !== undefined && { username }),
    ...(password !== undefined && { password }),
    nodes,
  };
}

/** `REDIS_CLUSTER_NODES=host:port,host:port` as the equivalent `redis+cluster://` URL. */
export function clusterUrlFromNodes(name: string, list: string): string {
  if (list.includes('://')) {
    throw new ConfigError(`${name} is a comma-separated list of host:port (a URL goes in the matching _URL variable)`);
  }
  const url = `redis+cluster://${list
    .split(',')
    .map((n) => n.trim())
    .join(',')}`;
  parseClusterUrl(name, url);
  return url;
}

/** The URL naming these nodes (what the embedded and local clusters hand out). */
export function formatClusterUrl(nodes: readonly { host: string; port: number }[], tls = false): string {
  return `${tls ? 'rediss' : 'redis'}+cluster://${nodes.map(hostPort).join(',')}`;
}

/** `cluster host:port,host:port` for messages (never the password). */
export function describeClusterUrl(url: string): string {
  try {
    return `cluster ${parseClusterUrl('url', url).nodes.map(hostPort).join(',')}`;
  } catch {
    return 'cluster (unparsable URL)';
  }
}

export function hostPort({ host, port }: { host: string; port: number }): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function parseNodeList(name: string, list: string): { host: string; port: number }[] {
  const entries = list.split(',').map((e) => e.trim());
  if (entries.length === 0 || entries.some((e) => e === '')) {
    throw new ConfigError(`${name} needs at least one host:port, separated by commas; got "${list}"`);
  }
  return entries.map((entry) => {
    // [v6]:port, host:port, or host alone (port 6379).
    const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]\s]+))(?::(\d{1,5}))?$/.exec(entry);
    const port = Number(match?.[3] ?? 6379);
    if (!match || port < 1 || port > 65535) {
      throw new ConfigError(`${name}: "${entry}" is not host:port`);
    }
    return { host: match[1] ?? match[2]!, port };
  });
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}
