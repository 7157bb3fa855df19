import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
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

/** A line that defines a user from nothing (`reset`), as opposed to one that adds to it. */
const defines = (entry: DocumentedUser) => entry.rules.includes('reset');

/** The documented line for `user`: the one for a cluster (with `+cluster|slots`) or for one Redis. */
export function documentedUser(user: string, on: 'one Redis' | 'a cluster'): DocumentedUser {
  const found = documentedAcl().find(
    (entry) => entry.user === user && defines(entry) && entry.rules.includes('+cluster|slots') === (on === 'a cluster'),
  );
  if (!found) throw new Error(`${ACL_PAGE} shows no ACL SETUSER line for ${user} on ${on}`);
  return found;
}

/** The line that adds what `npm run demo` needs besides (SCAN, UNLINK) to `user`. */
export function demoAddition(user: string): DocumentedUser {
  const found = documentedAcl().find((entry) => entry.user === user && !defines(entry) && entry.rules.includes('+scan'));
  if (!found) throw new Error(`${ACL_PAGE} shows no line adding the demo's commands to ${user}`);
  return found;
}

/**
 * The commands a line allows, `+name` (or `+name|subcommand`), lower case. Refuses a line that is
 * not built as the page promises: `reset`, then `-@all` before the first command, then commands
 * named one by one, no category and nothing taken back after.
 */
export function commandsOf(entry: DocumentedUser): Set<string> {
  const commandRules = entry.rules.filter((rule) => /^[-+]/.test(rule));
  if (commandRules[0] !== '-@all') throw new Error(`${entry.user}: the commands must start with -@all: ${entry.line}`);
  const rest = commandRules.slice(1);
  const odd = rest.filter((rule) => !/^\+[a-z]+(\|[a-z-]+)?$/.test(rule));
  if (odd.length > 0) throw new Error(`${entry.user}: not a command named one by one: ${odd.join(' ')}`);
  const commands = rest.map((rule) => rule.slice(1));
  if (new Set(commands).size !== commands.length) throw new Error(`${entry.user}: a command named twice: ${entry.line}`);
  return new Set(commands);
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

// ---------------------------------------------------------------------------------------------
// Where the page's lists come from: what the code sends, by source. The test holds the lines to
// exactly this, and runs the lab as those users.
// ---------------------------------------------------------------------------------------------

/** The BullMQ whose scripts and client calls were read; another version must be read again. */
export const BULLMQ_VERSION = '6.7.0';

/**
 * The BullMQ scripts the lab can run (bullmq 6.7.0, classes/redis-queue-backend.js):
 * - the get-value client's `queue.add` (no delay, no priority): addStandardJob;
 * - a Worker: moveToActive (takes the next job, promotes delayed ones), moveToFinished (a job
 *   completed or failed, with the queue's removeOnComplete/removeOnFail trimming), extendLocks
 *   (the lock of a running job), moveStalledJobsToWait (a job whose worker died), moveToDelayed
 *   (a failed attempt retried after its exponential backoff; with a backoff of 0 it would be
 *   retryJob, which no producer of the lab asks for);
 * - the demo's `queue.obliterate` between runs: pause, then obliterate.
 * Measured too: these ran in a demo, a fleet with bursts and a worker killed mid-job (EVALSHA by
 * SHA under MONITOR), but moveToDelayed and extendLocks, whose commands the others hold already.
 */
export const LAB_BULLMQ_SCRIPTS = [
  'addStandardJob',
  'moveToActive',
  'moveToFinished',
  'extendLocks',
  'moveStalledJobsToWait',
  'moveToDelayed',
  'pause',
  'obliterate',
] as const;

/**
 * What is sent outside Lua scripts, read in the code (src/, scripts/, workers/, BullMQ's classes,
 * ioredis) and seen under MONITOR. AUTH, HELLO, QUIT and RESET need no rule: Redis lets every user
 * run them (`no_auth`).
 */
export const SENT_OUTSIDE_SCRIPTS = {
  /**
   * Every connection: PING (the start-up check), SELECT (ioredis, for a `/db` in the URL), INFO
   * (ioredis's ready check, BullMQ's version check, the start-up and noeviction checks), CLIENT
   * SETNAME (ioredis's connectionName, BullMQ's names).
   */
  connection: ['ping', 'select', 'info', 'client|setname'],
  /** LuaScript (src/redis/script.ts) and ioredis's defineCommand (BullMQ): by hash, in full after NOSCRIPT. */
  scripts: ['evalsha', 'eval'],
  /** The guard: its reads outside a script (store.ts; tags' records, tags.ts), the L1 bus (l1-tier.ts), waiters (notifier.ts). */
  guard: ['hmget', 'mget', 'publish', 'subscribe', 'unsubscribe'],
  /** BullMQ: a Worker waits on the queue's marker, QueueEvents reads the events stream, a Queue writes its meta hash. */
  bullmq: ['bzpopmin', 'xread', 'hset'],
  /** The get-value client (src/bullmq/client.ts) reads the last event before it listens. */
  getValueClient: ['xrevrange'],
} as const;

/**
 * Every command (and `command|subcommand`) a Redis knows, from `COMMAND`, with its arity (negative:
 * at least that many words), and the ones it lets every user run (`no_auth`).
 */
export async function serverCommands(admin: Redis): Promise<{ all: Map<string, number>; noAuth: Set<string> }> {
  const all = new Map<string, number>();
  const noAuth = new Set<string>();
  for (const command of (await admin.call('COMMAND')) as unknown[][]) {
    const [name, arity, flags, , , , , , , subcommands] = command as [string, number, string[], ...unknown[]];
    if (flags.includes('no_auth')) noAuth.add(name);
    const subs = (subcommands ?? []) as [string, number][];
    if (subs.length === 0) all.set(name, arity);
    for (const [sub, subArity] of subs) all.set(sub, subArity);
  }
  return { all, noAuth };
}

/**
 * The commands a Lua source runs: the first argument of every `redis.call`, `redis.pcall` and
 * BullMQ's alias `rcall`: a literal, an expression of literals (`ARGV[4] == '1' and 'SPUBLISH' or
 * 'PUBLISH'`), or a variable given one by an assignment (`local publish = ...`). A variable that
 * gets its value as a function's parameter (BullMQ's `rcall(pushCmd, ...)`) can only be read in a
 * source that is all Lua: there every upper-case string naming a Redis command counts.
 */
export function luaCommands(source: string, known: { has(name: string): boolean }, where: string, allLua: boolean): Set<string> {
  const code = allLua ? source.replace(/--\[\[[\s\S]*?\]\]/g, '').replace(/(^|[ \t])--[^\n]*/gm, '$1') : source;
  if (/\b(?:redis\.p?call|rcall)\s*,/.test(code)) throw new Error(`${where}: passes redis.call as a value; read it by hand`);
  const upperCase = (text: string) => [...text.matchAll(/(['"])([A-Z]+)\1/g)].map((m) => m[2]!.toLowerCase());
  const found = new Set<string>();
  for (const [, raw] of code.matchAll(/\b(?:rcall|redis\.call|redis\.pcall)\(\s*([^,)]+)/g)) {
    const arg = raw!.trim();
    const literal = /^(['"])([A-Za-z]+)\1$/.exec(arg);
    let commands = literal ? [literal[2]!.toLowerCase()] : upperCase(arg);
    if (commands.length === 0 && /^[A-Za-z_]\w*$/.test(arg)) {
      const assigned = [...code.matchAll(new RegExp(`\\b${arg}\\s*=(?!=)([^\\n]*)`, 'g'))].flatMap((m) => upperCase(m[1]!));
      commands = assigned.length > 0 ? assigned : allLua ? upperCase(code).filter((word) => known.has(word)) : [];
    }
    if (commands.length === 0) throw new Error(`${where}: cannot tell which command redis.call(${arg}, ...) runs`);
    for (const command of commands) {
      if (!known.has(command)) throw new Error(`${where}: ${command} is no command of this Redis`);
      found.add(command);
    }
  }
  return found;
}

/** The commands the guard's Lua scripts (in src/, the only place that calls Redis from Lua) run. */
export function guardLuaCommands(known: { has(name: string): boolean }): Set<string> {
  const found = new Set<string>();
  for (const file of tsFiles(projectPath('src'))) {
    for (const command of luaCommands(readFileSync(file, 'utf8'), known, file, false)) found.add(command);
  }
  return found;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return tsFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

interface BullmqScript {
  name: string;
  content: string;
}

/** BullMQ's scripts, as its ioredis client loads them (one module per script). */
export function bullmqScripts(): BullmqScript[] {
  const require = createRequire(import.meta.url);
  const dir = join(projectPath('node_modules/bullmq/dist/cjs/scripts'));
  return readdirSync(dir)
    .filter((name) => /^[A-Za-z]+-\d+\.js$/.test(name))
    .map((name) => Object.values(require(join(dir, name)) as Record<string, BullmqScript>)[0]!);
}

/** The SHA-1 of each BullMQ script (its EVALSHA), by name: which ones ran is `SCRIPT EXISTS`. */
export function bullmqScriptShas(): Map<string, string> {
  return new Map(bullmqScripts().map((script) => [script.name, createHash('sha1').update(script.content).digest('hex')]));
}

export function bullmqLuaCommands(names: readonly string[], known: { has(name: string): boolean }): Set<string> {
  const scripts = new Map(bullmqScripts().map((script) => [script.name, script]));
  const found = new Set<string>();
  for (const name of names) {
    const script = scripts.get(name);
    if (!script) throw new Error(`bullmq has no script ${name}`);
    for (const command of luaCommands(script.content, known, `bullmq ${name}`, true)) found.add(command);
  }
  return found;
}

/**
 * The commands each documented user needs on one Redis: what its side sends. The guard's scripts
 * publish with SPUBLISH on a cluster only, and the cluster lines are these with the cluster's
 * differences (clusterCommands).
 */
export function derivedCommands(side: 'cache' | 'queue' | 'app', known: { has(name: string): boolean }): Set<string> {
  const { connection, scripts, guard, bullmq, getValueClient } = SENT_OUTSIDE_SCRIPTS;
  const cache = [...connection, ...scripts, ...guard, ...[...guardLuaCommands(known)].filter((c) => c !== 'spublish')];
  const queue = [...connection, ...scripts, ...bullmq, ...getValueClient, ...bullmqLuaCommands(LAB_BULLMQ_SCRIPTS, known)];
  return new Set(side === 'cache' ? cache : side === 'queue' ? queue : [...cache, ...queue]);
}

/**
 * On a Redis Cluster: no SELECT (database 0 only); ioredis asks for the slot map (CLUSTER SLOTS)
 * and the state (CLUSTER INFO, its ready check and the start-up check), and sends READONLY to its
 * connections to replicas (READWRITE when one is promoted; cluster/ConnectionPool.js); the guard
 * uses sharded pub/sub and asks a node that dropped its subscribers whether it is still a master
 * (CLUSTER NODES, src/redis/shard-events.ts).
 */
export function clusterCommands(oneRedis: ReadonlySet<string>, side: 'cache' | 'queue' | 'app'): Set<string> {
  const commands = new Set([...oneRedis].filter((c) => c !== 'select'));
  for (const c of ['cluster|slots', 'cluster|info', 'readonly', 'readwrite']) commands.add(c);
  if (side !== 'queue') {
    for (const c of ['publish', 'subscribe', 'unsubscribe']) commands.delete(c);
    for (const c of ['spublish', 'ssubscribe', 'sunsubscribe', 'cluster|nodes']) commands.add(c);
  }
  return commands;
}
