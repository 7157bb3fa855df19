import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { projectPath } from './worker-process.js';

/** The page whose ACL lines the tests apply exactly as written. */
export const ACL_PAGE = 'docs/managed-redis.md';

export interface DocumentedUser {
  /** The line as the page shows it. */
  line: string;
  user: string;
  rules: string[];
  /** From the `>password` rule. */
  password: string | undefined;
}

/** Every `ACL SETUSER` line of the page, in order. */
export function documentedAcl(): DocumentedUser[] {
  return readFileSync(projectPath(ACL_PAGE), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('ACL SETUSER '))
    .map((line) => {
      const [, , user = '', ...rules] = line.trim().split(/\s+/);
      const password = rules.find((rule) => rule.startsWith('>'))?.slice(1);
      return { line, user, rules, password };
    });
}

/** The documented line for `user`: the one for a cluster (with `+cluster|slots`) or for one Redis. */
export function documentedUser(user: string, on: 'one Redis' | 'a cluster'): DocumentedUser {
  const found = documentedAcl().find((entry) => entry.user === user && entry.rules.includes('+cluster|slots') === (on === 'a cluster'));
  if (!found) throw new Error(`${ACL_PAGE} shows no ACL SETUSER line for ${user} on ${on}`);
  return found;
}

export async function applyAcl(admin: Redis, entry: DocumentedUser): Promise<void> {
  await admin.acl('SETUSER', entry.user, ...entry.rules);
}

/** `ACL LOG` as objects: what was refused (`object`), to whom (`username`), why (`reason`). */
export async function aclLog(admin: Redis): Promise<Record<string, string>[]> {
  const entries = (await admin.call('ACL', 'LOG')) as unknown[][];
  return entries.map((entry) => {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < entry.length; i += 2) fields[String(entry[i])] = String(entry[i + 1]);
    return fields;
  });
}
