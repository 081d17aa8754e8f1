// The routes (HUNT_ROUTES, read by routes-file.ts): checked as a whole (every problem reported,
// each with its JSON path), and compiled into matchers, field requirements, key templates and
// value resolvers that the front end runs per event. Workers never see routes: the front end
// resolves each update into literal operator documents (update-ops.ts), so a reload takes effect
// between two frames.
//
// {
//   "unmatched": "merge" | "reject",                      default "merge" (DESIGN.md's default merge)
//   "routes": [{
//     "name": "…",                                        optional
//     "type": "clue.*",                                   exact, or a glob (* any run, ? one char)
//     "keyPrefix": "player:",                             optional
//     "require": { "points": "number", … },               data fields and their kinds
//     "drop": true,                                       optional: accept and apply nothing
//     "update": { "$inc": { "points": "$data.points" } }, the event's own key
//     "also": [{ "key": "hunt:${data.hunt}", "update": { … } }]   other keys (fan-out)
//   }]
// }
//
// Values: literals, or "$data.a.b", "$ts", "$type", "$key"; {"$literal": "$text"} for a string
// that starts with "$". `$push` also takes {"$each": [values], "$slice": N}, `$addToSet` {"$each": [values]}.
import { BinaryWriter } from '../../shared/binary-writer.js';
import { FORBIDDEN_NAMES, UPDATE_OPERATORS, type UpdateOperator } from '../../shared/update-ops.js';
import { isPlainObject } from '../../shared/event-checks.js';

export const FIELD_KINDS = ['number', 'string', 'boolean', 'array', 'map', 'any'] as const;
export type FieldKind = (typeof FIELD_KINDS)[number];

/** What a value or template may read from an event. */
export interface EventContext {
  key: string;
  type: string;
  ts: number;
  data: Record<string, unknown> | undefined;
}

type Resolver = (event: EventContext) => unknown;

/**
 * An operand as the routes file writes it, checked: the resolvers below are made from it, and so
 * are the byte templates of the pub fast path (route-bytes.ts), so both read the file one way.
 */
export type ValueNode =
  | { kind: 'literal'; value: unknown }
  | { kind: 'ts' | 'type' | 'key' }
  | { kind: 'data'; path: string[] }
  | { kind: 'array'; items: ValueNode[] }
  | { kind: 'map'; entries: [name: string, value: ValueNode][] };

/** A part of a key template: literal text, or what the event gives (a required scalar data field). */
export type KeyPart = { kind: 'text'; text: string } | { kind: 'key' | 'type' } | { kind: 'data'; field: string };

export interface CompiledOperation {
  operator: UpdateOperator;
  path: string;
  /** The path as a MessagePack string, encoded once. */
  pathBytes: Uint8Array;
  /** The operand, resolved per event; for an `each` operation, the list of values to add. */
  value: Resolver;
  /** What `value` resolves (for an `each` operation, an array node of the values to add). */
  node: ValueNode;
  /** The operand was given as {"$each": [...]} (`$push`, `$addToSet`): `value` resolves to a list. */
  each: boolean;
  /** `$push`'s `$slice`, if any. */
  slice: number | undefined;
}

export interface CompiledUpdate {
  /** One group per operator, in file order: the shape of the resolved update document. */
  groups: { operator: UpdateOperator; header: Uint8Array; operations: CompiledOperation[] }[];
  /** Every operation, in document order (the index of a resolved value in update-fold.ts). */
  operations: CompiledOperation[];
  /** Whether updates of this shape from one pub can be folded into one (update-fold.ts). */
  foldable: boolean;
}

export interface CompiledRoute {
  index: number;
  name: string;
  type: string;
  matchesType: (type: string) => boolean;
  keyPrefix: string;
  require: [field: string, kind: FieldKind][];
  drop: boolean;
  own: CompiledUpdate | null;
  also: { key: (event: EventContext) => string; keyParts: KeyPart[]; update: CompiledUpdate }[];
}

export interface RoutesConfig {
  unmatched: 'merge' | 'reject';
  routes: CompiledRoute[];
}

export interface RouteProblem {
  /** JSON path of the offending part, e.g. routes[2].update.$inc.points. */
  path: string;
  /** Line of that part in the file, when read from one (routes-file.ts). */
  line?: number;
  message: string;
}

/** A problem as printed: `path (line N): message`. */
export const describeProblem = (problem: RouteProblem): string =>
  `${problem.path}${problem.line === undefined ? '' : ` (line ${problem.line})`}: ${problem.message}`;

/** What a reload of HUNT_ROUTES did (engine.ts): the new routes took over, or the old stay. */
export type RoutesReload =
  | { outcome: 'reloaded'; file: string; routes: number }
  | { outcome: 'invalid'; file: string; problems: RouteProblem[] }
  | { outcome: 'no-file' };

export class RoutesError extends Error {
  constructor(
    readonly file: string,
    readonly problems: RouteProblem[],
  ) {
    super(`routes file ${file} is invalid:\n  ${problems.map(describeProblem).join('\n  ')}`);
    this.name = 'RoutesError';
  }
}

const NOT_JSON = 'is not a JSON value; use null, true/false, a finite number, a string, an array or a map';

/** Whether `value` is what JSON can hold: YAML can also give ±.inf, .nan and !!binary bytes. */
function isJsonValue(value: unknown): boolean {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (Array.isArray(value)) return value.every(isJsonValue);
  return isPlainObject(value) && Object.values(value).every(isJsonValue);
}

export function compileRoutes(input: unknown, problems: RouteProblem[]): RoutesConfig {
  const config: RoutesConfig = { unmatched: 'merge', routes: [] };
  if (!isPlainObject(input)) {
    problems.push({ path: '$', message: 'must be a map with "routes" (and optionally "unmatched")' });
    return config;
  }
  for (const name of Object.keys(input)) {
    if (name !== 'routes' && name !== 'unmatched') problems.push({ path: name, message: 'unknown field; allowed are routes, unmatched' });
  }
  if (input.unmatched !== undefined) {
    if (input.unmatched === 'merge' || input.unmatched === 'reject') config.unmatched = input.unmatched;
    else problems.push({ path: 'unmatched', message: `is ${JSON.stringify(input.unmatched)}; allowed are "merge" (default) and "reject"` });
  }
  if (!Array.isArray(input.routes)) {
    problems.push({ path: 'routes', message: 'must be an array of routes' });
    return config;
  }
  input.routes.forEach((route, i) => {
    const compiled = compileRoute(route, i, `routes[${i}]`, problems);
    if (compiled !== null) config.routes.push(compiled);
  });
  findUnreachable(config.routes, problems);
  return config;
}

const ROUTE_FIELDS = new Set(['name', 'type', 'keyPrefix', 'require', 'drop', 'update', 'also']);

function compileRoute(input: unknown, index: number, at: string, problems: RouteProblem[]): CompiledRoute | null {
  if (!isPlainObject(input)) {
    problems.push({ path: at, message: 'must be a map' });
    return null;
  }
  const before = problems.length;
  for (const name of Object.keys(input)) {
    if (!ROUTE_FIELDS.has(name)) problems.push({ path: `${at}.${name}`, message: `unknown field; allowed are ${[...ROUTE_FIELDS].join(', ')}` });
  }
  const name = input.name === undefined ? `route ${index}` : input.name;
  if (typeof name !== 'string') problems.push({ path: `${at}.name`, message: 'must be a string' });
  const type = input.type;
  let matchesType: (type: string) => boolean = () => false;
  if (typeof type !== 'string' || type.length === 0) problems.push({ path: `${at}.type`, message: 'must be a non-empty string: an event type, or a glob with * and ?' });
  else matchesType = typeMatcher(type);
  const keyPrefix = input.keyPrefix ?? '';
  if (typeof keyPrefix !== 'string') problems.push({ path: `${at}.keyPrefix`, message: 'must be a string' });

  const require: [string, FieldKind][] = [];
  if (input.require !== undefined) {
    if (!isPlainObject(input.require)) problems.push({ path: `${at}.require`, message: 'must be a map of data field → kind' });
    else {
      for (const [field, kind] of Object.entries(input.require)) {
        if (FORBIDDEN_NAMES.has(field)) problems.push({ path: `${at}.require.${field}`, message: 'this field name is not allowed' });
        else if (!(FIELD_KINDS as readonly unknown[]).includes(kind)) {
          problems.push({ path: `${at}.require.${field}`, message: `is ${JSON.stringify(kind)}; allowed are ${FIELD_KINDS.join(', ')}` });
        } else require.push([field, kind as FieldKind]);
      }
    }
  }
  const required = new Map(require);
  const drop = input.drop ?? false;
  if (typeof drop !== 'boolean') problems.push({ path: `${at}.drop`, message: 'must be true or false' });
  if (drop === true && (input.update !== undefined || input.also !== undefined)) {
    problems.push({ path: `${at}.drop`, message: 'a dropping route cannot also have update or also' });
  }
  const own = input.update === undefined ? null : compileUpdate(input.update, `${at}.update`, required, problems);
  const also: CompiledRoute['also'] = [];
  if (input.also !== undefined) {
    if (!Array.isArray(input.also)) problems.push({ path: `${at}.also`, message: 'must be an array of {key, update}' });
    else {
      input.also.forEach((target, j) => {
        const where = `${at}.also[${j}]`;
        if (!isPlainObject(target)) return problems.push({ path: where, message: 'must be a map with key and update' });
        for (const field of Object.keys(target)) {
          if (field !== 'key' && field !== 'update') problems.push({ path: `${where}.${field}`, message: 'unknown field; allowed are key, update' });
        }
        const keyParts = compileTemplate(target.key, `${where}.key`, required, problems);
        const update = compileUpdate(target.update, `${where}.update`, required, problems);
        if (keyParts !== null && update !== null) also.push({ key: concatenation(keyParts), keyParts, update });
      });
    }
  }
  if (problems.length > before) return null;
  return { index, name: name as string, type: type as string, matchesType, keyPrefix: keyPrefix as string, require, drop: drop as boolean, own, also };
}

function typeMatcher(pattern: string): (type: string) => boolean {
  if (!/[*?]/.test(pattern)) return (type) => type === pattern;
  const source = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.');
  const regex = new RegExp(`^${source}$`, 's');
  return (type) => regex.test(type);
}

/** A later route that an earlier one always takes first can never match: that is a mistake. */
function findUnreachable(routes: CompiledRoute[], problems: RouteProblem[]): void {
  for (const later of routes) {
    for (const earlier of routes) {
      if (earlier.index >= later.index) break;
      const coversKeys = later.keyPrefix.startsWith(earlier.keyPrefix);
      const coversTypes = earlier.type === later.type || (!/[*?]/.test(later.type) && earlier.matchesType(later.type)) || /^\*+$/.test(earlier.type);
      if (coversKeys && coversTypes) {
        problems.push({
          path: `routes[${later.index}].type`,
          message: `can never match: routes[${earlier.index}] (type ${JSON.stringify(earlier.type)}${earlier.keyPrefix ? `, keyPrefix ${JSON.stringify(earlier.keyPrefix)}` : ''}) takes every event it would`,
        });
        break;
      }
    }
  }
}

function compileUpdate(input: unknown, at: string, required: Map<string, FieldKind>, problems: RouteProblem[]): CompiledUpdate | null {
  if (!isPlainObject(input) || Object.keys(input).length === 0) {
    problems.push({ path: at, message: `must be a map of operators (${UPDATE_OPERATORS.join(', ')})` });
    return null;
  }
  const groups: CompiledUpdate['groups'] = [];
  const paths: [string, string][] = [];
  let foldable = true;
  for (const [operator, fields] of Object.entries(input)) {
    const where = `${at}.${operator}`;
    if (!(UPDATE_OPERATORS as readonly string[]).includes(operator)) {
      problems.push({ path: where, message: `unknown operator; allowed are ${UPDATE_OPERATORS.join(', ')}` });
      continue;
    }
    if (!isPlainObject(fields)) {
      problems.push({ path: where, message: 'must be a map of field path → value' });
      continue;
    }
    const operations: CompiledOperation[] = [];
    for (const [path, value] of Object.entries(fields)) {
      const pathAt = `${where}.${path}`;
      const segments = path.split('.');
      if (segments.some((s) => s.length === 0)) problems.push({ path: pathAt, message: 'is not a dotted path of non-empty names' });
      else if (segments.some((s) => FORBIDDEN_NAMES.has(s))) problems.push({ path: pathAt, message: 'uses __proto__, constructor or prototype, which are not allowed' });
      const clash = paths.find(([other]) => other === path || other.startsWith(`${path}.`) || path.startsWith(`${other}.`));
      if (clash !== undefined) problems.push({ path: pathAt, message: `conflicts with ${clash[1]}.${clash[0]}: one operator per path` });
      paths.push([path, operator]);
      const operand = compileOperand(operator as UpdateOperator, value, pathAt, required, problems);
      if (operand === null) continue;
      operations.push({ operator: operator as UpdateOperator, path, pathBytes: preEncoded((w) => w.msgpackString(path)), value: resolverOf(operand.node), node: operand.node, each: operand.each, slice: operand.slice });
      // Folding keeps the smallest/largest of the folded values: they must be comparable.
      if (operator === '$min' || operator === '$max') {
        const kind = valueKind(value, required);
        if (kind !== 'number' && kind !== 'string') foldable = false;
      }
    }
    if (operations.length > 0) groups.push({ operator: operator as UpdateOperator, header: preEncoded((w) => (w.msgpackString(operator), w.msgpackMapHeader(operations.length))), operations });
  }
  return { groups, operations: groups.flatMap((g) => g.operations), foldable };
}

/** MessagePack written once at compile time, copied per event. */
function preEncoded(write: (writer: BinaryWriter) => void): Uint8Array {
  const writer = new BinaryWriter(64);
  write(writer);
  return Uint8Array.from(writer.bytes());
}

interface Operand {
  node: ValueNode;
  each: boolean;
  slice: number | undefined;
}

function compileOperand(operator: UpdateOperator, value: unknown, at: string, required: Map<string, FieldKind>, problems: RouteProblem[]): Operand | null {
  const plain = (node: ValueNode | null): Operand | null => (node === null ? null : { node, each: false, slice: undefined });
  switch (operator) {
    case '$unset':
      if (value !== '' && value !== true) problems.push({ path: at, message: '$unset takes "" or true' });
      return plain({ kind: 'literal', value: '' });
    case '$inc': {
      const kind = valueKind(value, required);
      if (kind !== 'number') {
        problems.push({ path: at, message: `$inc needs a number or a reference to a required number field, got ${describeOperand(value)}` });
        return null;
      }
      return plain(compileValue(value, at, required, problems));
    }
    case '$push':
    case '$addToSet':
      if (isPlainObject(value) && Object.hasOwn(value, '$each')) {
        const slice = value.$slice;
        const allowed = operator === '$push' ? ['$each', '$slice'] : ['$each'];
        if (!Array.isArray(value.$each)) problems.push({ path: `${at}.$each`, message: 'must be an array of values' });
        if (slice !== undefined && !Number.isSafeInteger(slice)) problems.push({ path: `${at}.$slice`, message: 'must be an integer (negative: keep the last N)' });
        for (const name of Object.keys(value)) {
          if (!allowed.includes(name)) problems.push({ path: `${at}.${name}`, message: `unknown; allowed are ${allowed.join(', ')}` });
        }
        const items = Array.isArray(value.$each) ? value.$each.map((v, i) => compileValue(v, `${at}.$each[${i}]`, required, problems)) : [];
        if (items.includes(null)) return null;
        return { node: { kind: 'array', items: items as ValueNode[] }, each: true, slice: slice as number | undefined };
      }
      return plain(compileValue(value, at, required, problems));
    default:
      return plain(compileValue(value, at, required, problems));
  }
}

function describeOperand(value: unknown): string {
  return typeof value === 'string' && value.startsWith('$') ? `a reference to ${value}` : JSON.stringify(value);
}

/** The kind a value will have at run time, when it can be known from the route. */
function valueKind(value: unknown, required: Map<string, FieldKind>): FieldKind | null {
  if (typeof value === 'number') return 'number';
  if (value === '$ts') return 'number';
  if (value === '$type' || value === '$key') return 'string';
  if (typeof value === 'string' && !value.startsWith('$')) return 'string';
  if (typeof value === 'string' && value.startsWith('$data.')) {
    const segments = value.slice('$data.'.length).split('.');
    return segments.length === 1 ? (required.get(segments[0]!) ?? null) : null;
  }
  return null;
}

/** A value: a literal (maps and arrays element by element) or a reference into the event. */
function compileValue(value: unknown, at: string, required: Map<string, FieldKind>, problems: RouteProblem[]): ValueNode | null {
  if (typeof value === 'string' && value.startsWith('$')) return compileReference(value, at, required, problems);
  if (Array.isArray(value)) {
    const items = value.map((item, i) => compileValue(item, `${at}[${i}]`, required, problems));
    return items.includes(null) ? null : { kind: 'array', items: items as ValueNode[] };
  }
  if (isPlainObject(value)) {
    if (Object.hasOwn(value, '$literal')) {
      if (isJsonValue(value.$literal)) return { kind: 'literal', value: value.$literal };
      problems.push({ path: `${at}.$literal`, message: NOT_JSON });
      return null;
    }
    const entries: [string, ValueNode][] = [];
    let ok = true;
    for (const [name, item] of Object.entries(value)) {
      if (FORBIDDEN_NAMES.has(name) || name.startsWith('$')) {
        problems.push({ path: `${at}.${name}`, message: 'map keys in values cannot be __proto__, constructor, prototype or start with $' });
        ok = false;
        continue;
      }
      const node = compileValue(item, `${at}.${name}`, required, problems);
      if (node === null) ok = false;
      else entries.push([name, node]);
    }
    return ok ? { kind: 'map', entries } : null;
  }
  if (isJsonValue(value)) return { kind: 'literal', value };
  problems.push({ path: at, message: NOT_JSON });
  return null;
}

function compileReference(reference: string, at: string, required: Map<string, FieldKind>, problems: RouteProblem[]): ValueNode | null {
  switch (reference) {
    case '$ts':
      return { kind: 'ts' };
    case '$type':
      return { kind: 'type' };
    case '$key':
      return { kind: 'key' };
  }
  if (!reference.startsWith('$data.')) {
    problems.push({ path: at, message: `${JSON.stringify(reference)} is not a reference; use $data.<field>, $ts, $type or $key (or {"$literal": …})` });
    return null;
  }
  const segments = reference.slice('$data.'.length).split('.');
  if (segments.some((s) => s.length === 0 || FORBIDDEN_NAMES.has(s))) {
    problems.push({ path: at, message: `${JSON.stringify(reference)} is not a valid data path` });
    return null;
  }
  if (!required.has(segments[0]!)) {
    problems.push({ path: at, message: `refers to data.${segments[0]}, which the route does not require (add it to "require")` });
    return null;
  }
  return { kind: 'data', path: segments };
}

/** Resolves a value node for one event (maps and arrays built anew each time). */
function resolverOf(node: ValueNode): Resolver {
  switch (node.kind) {
    case 'literal': {
      const literal = node.value;
      return () => literal;
    }
    case 'ts':
      return (event) => event.ts;
    case 'type':
      return (event) => event.type;
    case 'key':
      return (event) => event.key;
    case 'data': {
      const segments = node.path;
      return (event) => {
        let value: unknown = event.data;
        for (const segment of segments) {
          if (!isPlainObject(value) || !Object.hasOwn(value, segment)) return null;
          value = value[segment];
        }
        return value;
      };
    }
    case 'array': {
      const items = node.items.map(resolverOf);
      return (event) => items.map((resolve) => resolve(event));
    }
    case 'map': {
      const entries = node.entries.map(([name, item]): [string, Resolver] => [name, resolverOf(item)]);
      return (event) => {
        const out: Record<string, unknown> = {};
        for (const [name, resolve] of entries) out[name] = resolve(event);
        return out;
      };
    }
  }
}

const TEMPLATE_PART = /\$\{([^}]*)\}/g;

/** A key template: text with ${data.field}, ${key} or ${type}; data fields must be required scalars. */
function compileTemplate(input: unknown, at: string, required: Map<string, FieldKind>, problems: RouteProblem[]): KeyPart[] | null {
  if (typeof input !== 'string' || input.length === 0) {
    problems.push({ path: at, message: 'must be a non-empty string, e.g. "hunt:${data.hunt}"' });
    return null;
  }
  const parts: KeyPart[] = [];
  const text = (literal: string) => literal.length > 0 && parts.push({ kind: 'text', text: literal });
  let last = 0;
  let ok = true;
  for (const match of input.matchAll(TEMPLATE_PART)) {
    text(input.slice(last, match.index));
    last = match.index! + match[0].length;
    const name = match[1]!;
    if (name === 'key' || name === 'type') parts.push({ kind: name });
    else if (name.startsWith('data.') && !name.slice(5).includes('.')) {
      const field = name.slice(5);
      const kind = required.get(field);
      if (kind === 'string' || kind === 'number' || kind === 'boolean') parts.push({ kind: 'data', field });
      else {
        ok = false;
        problems.push({ path: at, message: `\${${name}}: data.${field} must be required as a string, number or boolean to be used in a key` });
      }
    } else {
      ok = false;
      problems.push({ path: at, message: `\${${name}} is not a template field; use \${data.<field>}, \${key} or \${type}` });
    }
  }
  text(input.slice(last));
  return ok ? parts : null;
}

/** One function joining a template's parts (no array built per event). */
function concatenation(parts: KeyPart[]): (event: EventContext) => string {
  const readers = parts.map((part): string | ((event: EventContext) => string) => {
    switch (part.kind) {
      case 'text':
        return part.text;
      case 'key':
        return (event) => event.key;
      case 'type':
        return (event) => event.type;
      case 'data':
        return (event) => String(event.data![part.field]);
    }
  });
  return (event) => {
    let text = '';
    for (let i = 0; i < readers.length; i++) {
      const part = readers[i]!;
      text += typeof part === 'string' ? part : part(event);
    }
    return text;
  };
}

/**
 * Writes an update of `update`'s shape as the MessagePack of its literal update document
 * (update-ops.ts), from its operations' resolved values (`values[i]` for `update.operations[i]`):
 * no document object is built. `folded` (update-fold.ts): `$addToSet` and `$push` values are
 * lists, written with `$each`.
 */
export function writeUpdateDocument(update: CompiledUpdate, values: unknown[], folded: boolean, writer: BinaryWriter): void {
  writer.msgpackMapHeader(update.groups.length);
  let i = 0;
  for (const group of update.groups) {
    writer.rawBytes(group.header);
    const addsToList = group.operator === '$addToSet' || group.operator === '$push';
    for (const operation of group.operations) {
      writer.rawBytes(operation.pathBytes);
      const value = values[i++];
      if (!addsToList) {
        writer.msgpackValue(value);
        continue;
      }
      writeListOperandHead(writer, operation.slice);
      if (operation.each || folded) writer.msgpackValue(value);
      else {
        writer.msgpackArrayHeader(1);
        writer.msgpackValue(value);
      }
      writeListOperandTail(writer, operation.slice);
    }
  }
}

/**
 * A `$push` or `$addToSet` operand is always written as {$each: [...], $slice}: a value taken from
 * event data that is itself a map with $each then stays a value to add, never a modifier. This
 * writes it up to the list; writeListOperandTail what follows the list.
 */
export function writeListOperandHead(writer: BinaryWriter, slice: number | undefined): void {
  writer.msgpackMapHeader(slice === undefined ? 1 : 2);
  writer.msgpackString('$each');
}

export function writeListOperandTail(writer: BinaryWriter, slice: number | undefined): void {
  if (slice === undefined) return;
  writer.msgpackString('$slice');
  writer.msgpackValue(slice);
}

/** Resolves each operation's value of `update` for one event into `into` (reused by the caller). */
export function resolveValues(update: CompiledUpdate, event: EventContext, into: unknown[]): unknown[] {
  const operations = update.operations;
  for (let i = 0; i < operations.length; i++) into[i] = operations[i]!.value(event);
  return into;
}
