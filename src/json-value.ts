/**
 * What survives JSON. The guard stores values as JSON and every process reads them back, and a
 * job's data and result travel as JSON, so a value must come back as it went in. JSON.stringify
 * alone does not say so: it drops `undefined` and functions, turns NaN into null and a Map into
 * `{}`, and throws on a BigInt or a cycle with a message that names no place.
 */
export type JsonCheck = { json: string; problem?: undefined } | { json?: undefined; problem: string };

/** Thrown inside the replacer to stop at the first problem. */
class NotJson {
  constructor(readonly problem: string) {}
}

/**
 * Serialize `value`, or say why it would not survive JSON and where (`a BigInt at .user.id`).
 * Accepted: null, booleans, finite numbers, strings, arrays, plain objects (a property set to
 * undefined is left out), and anything with a `toJSON` (a Date becomes its ISO string, as
 * JSON.stringify makes it). The same object may appear twice (it is written twice); an object
 * inside itself is a cycle.
 */
export function toJson(value: unknown): JsonCheck {
  // Where each object being written sits, and the object it sits in (to tell a cycle from a
  // shared object: only an ancestor makes a cycle).
  const paths = new WeakMap<object, string>();
  const parents = new WeakMap<object, object>();
  function replacer(this: object, key: string, v: unknown): unknown {
    const path = pathOf(paths.get(this), this, key);
    // A property set to undefined is left out and reads back as undefined: that survives.
    // At the top level or in an array (where it becomes null) it does not.
    if (v === undefined && paths.has(this) && !Array.isArray(this)) return v;
    const problem = problemOf(v, this, parents);
    if (problem) throw new NotJson(`${problem} at ${path === '' ? 'the top level' : path}`);
    if (typeof v === 'object' && v !== null) {
      paths.set(v, path);
      parents.set(v, this);
    }
    return v;
  }
  try {
    const json = JSON.stringify(value, replacer);
    // Unreachable after the replacer's checks, but JSON.stringify's type says it may happen.
    return json === undefined ? { problem: 'undefined at the top level' } : { json };
  } catch (err) {
    if (err instanceof NotJson) return { problem: err.problem };
    if (err instanceof RangeError) return { problem: 'nested too deeply to serialize' };
    throw err;
  }
}

function pathOf(parentPath: string | undefined, holder: object, key: string): string {
  // The first call's holder is JSON.stringify's own wrapper around the value: the top level.
  if (parentPath === undefined) return '';
  if (Array.isArray(holder)) return `${parentPath}[${key}]`;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${parentPath}.${key}` : `${parentPath}[${JSON.stringify(key)}]`;
}

function problemOf(v: unknown, holder: object, parents: WeakMap<object, object>): string | null {
  switch (typeof v) {
    case 'undefined':
      return 'undefined';
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
    case 'bigint':
      return 'a BigInt';
    case 'number':
      return Number.isFinite(v) ? null : String(v);
    case 'object': {
      if (v === null || Array.isArray(v)) return cycle(v, holder, parents);
      const proto = Object.getPrototypeOf(v) as object | null;
      if (proto !== Object.prototype && proto !== null) return `${describeInstance(v)} (JSON keeps only plain objects)`;
      return cycle(v, holder, parents);
    }
    default:
      return null;
  }
}

function cycle(v: object | null, holder: object, parents: WeakMap<object, object>): string | null {
  if (v === null) return null;
  for (let ancestor: object | undefined = holder; ancestor !== undefined; ancestor = parents.get(ancestor)) {
    if (ancestor === v) return 'a cycle (an object inside itself)';
  }
  return null;
}

function describeInstance(v: object): string {
  const name = (v.constructor as { name?: unknown } | undefined)?.name;
  if (typeof name !== 'string' || name === '') return 'an object with a prototype';
  return `${/^[AEIOU]/i.test(name) ? 'an' : 'a'} ${name}`;
}
