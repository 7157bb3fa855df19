import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { errorMessage } from '../../src/errors.js';
import { ConfigError } from '../common/errors.js';
import { isClusterUrl, parseClusterUrl } from './cluster-url.js';

/**
 * TLS for `rediss://` and `rediss+cluster://` URLs, beyond what a URL can say. A Redis whose
 * certificate a public CA signed needs none of it: Node trusts those CAs. Managed services that
 * sign with a CA of their own hand out its certificate: name that file. When the certificate
 * names another host than the one connected to (an IP address, a tunnel, a private endpoint),
 * name the host it carries. NODE_EXTRA_CA_CERTS works as well: it adds to Node's list of CAs
 * for every connection of the process, where REDIS_TLS_CA_FILE is the list for Redis alone.
 */
export interface TlsSettings {
  /** PEM file of the CA certificate(s) that Redis connections trust. @default Node's list (env REDIS_TLS_CA_FILE) */
  readonly caFile?: string;
  /** The certificates of `caFile`, read once with the configuration. */
  readonly ca?: string;
  /** The host name the server's certificate must carry, also sent as SNI. @default the URL's host (env REDIS_TLS_SERVERNAME) */
  readonly servername?: string;
}

/** Check and read the TLS settings; `urls` are the Redis URLs in use, one of which must use TLS if any is set. */
export function loadTlsSettings(caFile: string | undefined, servername: string | undefined, urls: readonly string[]): TlsSettings {
  if (caFile === undefined && servername === undefined) return {};
  const setting = caFile !== undefined ? 'REDIS_TLS_CA_FILE' : 'REDIS_TLS_SERVERNAME';
  if (!urls.some(usesTls)) {
    throw new ConfigError(`${setting} is set, but no Redis URL uses TLS (rediss:// or rediss+cluster://)`);
  }
  if (servername !== undefined && (isIP(servername) !== 0 || !/^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/.test(servername))) {
    throw new ConfigError(`REDIS_TLS_SERVERNAME must be a host name such as redis.example.com, got "${servername}"`);
  }
  return {
    ...(caFile !== undefined && { caFile, ca: readCaFile(caFile) }),
    ...(servername !== undefined && { servername }),
  };
}

function readCaFile(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    const why = { ENOENT: 'no such file', EACCES: 'permission denied', EISDIR: 'it is a directory' }[code ?? ''] ?? errorMessage(err);
    throw new ConfigError(`REDIS_TLS_CA_FILE: cannot read ${file}: ${why}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError(`REDIS_TLS_CA_FILE: ${file} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`);
  }
  return pem;
}

/** True for `rediss://` and `rediss+cluster://`. */
export function usesTls(url: string): boolean {
  return isClusterUrl(url) ? parseClusterUrl('url', url).tls : /^rediss:/i.test(url.trim());
}

/** Node's TLS options for the settings (for ioredis's `tls`); empty means Node's defaults. */
export function tlsConnectionOptions(settings: TlsSettings): ConnectionOptions {
  return {
    ...(settings.ca !== undefined && { ca: settings.ca }),
    ...(settings.servername !== undefined && { servername: settings.servername }),
  };
}

/** Node's codes for a certificate chain that does not lead to a trusted CA. */
const UNTRUSTED = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
]);

/** A TLS failure as its cause and what to do about it; undefined for an error that is not about TLS. */
export function explainTlsError(err: unknown): string | undefined {
  const e = err as { code?: string; message?: string; reason?: string };
  const message = e?.message ?? String(err);
  if (e?.code && UNTRUSTED.has(e.code)) {
    return `TLS: the server's certificate is not signed by a CA this process trusts (${message}); name the CA's certificate file in REDIS_TLS_CA_FILE`;
  }
  if (e?.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return `TLS: the server's certificate is not for this host (${e.reason ?? message}); connect by a name it carries, or name that one in REDIS_TLS_SERVERNAME`;
  }
  if (e?.code === 'CERT_HAS_EXPIRED') return "TLS: the server's certificate has expired";
  if (e?.code === 'CERT_NOT_YET_VALID') return "TLS: the server's certificate is not valid yet (is this machine's clock right?)";
  if (/wrong version number|EPROTO|SSL|TLS/i.test(message)) return 'TLS handshake failed (rediss:// to a plain-text port?)';
  return undefined;
}
