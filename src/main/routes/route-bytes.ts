// Routes compiled for the routed pub fast path (routed-scan.ts). An update document becomes a byte
// template: the MessagePack writeUpdateDocument (routes.ts) would write, made once at compile time,
// with holes that each event fills from its own bytes in the frame (a data field's value, the key,
// the type) or its ts. So a routed event's records are written without decoding the event into
// objects or resolving values. The only difference from the general path's document is that a
// data value keeps the frame's encoding (a float64 1.0 stays one): the worker reads the same value.
//
// A route whose operands reach into nested data ("$data.a.b") has no plan; pubs with an event it
// matches take the general path.
import { BinaryWriter } from '../../shared/binary-writer.js';
import { copyBytes } from '../../shared/byte-ranges.js';
import { readNumber, stringHeaderBytes } from '../../shared/msgpack-scalars.js';
import type { UpdateOperator } from '../../shared/update-ops.js';
import { writeListOperandHead, writeListOperandTail, type CompiledRoute, type CompiledUpdate, type FieldKind, type KeyPart, type ValueNode } from './routes.js';

/** Holes of a template other than data fields (which are their index, ≥ 0, in the route's required fields). */
export const HOLE_TS = -1;
export const HOLE_TYPE = -2;
export const HOLE_KEY = -3;

/** Constant bytes and holes, in writing order. */
export type ByteTemplate = (Uint8Array | number)[];

/** Where each event of a scanned pub has its parts (in `frame`), as the templates read them. */
export interface ScannedEvents {
  frame: Uint8Array;
  view: DataView;
  keyStart: Int32Array;
  keyEnd: Int32Array;
  typeStart: Int32Array;
  typeEnd: Int32Array;
  /** The event's ts, or the pub's arrival time when it has none. */
  ts: Float64Array;
  /** Per event, `fieldsPerEvent` slots: where its route's required data fields' values lie. */
  fieldStart: Int32Array;
  fieldEnd: Int32Array;
  fieldsPerEvent: number;
}

export interface OperationPlan {
  operator: UpdateOperator;
  pathBytes: Uint8Array;
  /** The operand as written, for all but the list operators. */
  value: ByteTemplate;
  /** `$push`, `$addToSet`: each value one update adds. */
  items: ByteTemplate[];
  slice: number | undefined;
  /** A numeric operand ($inc, $min, $max) for folding: a literal (`hole` null) or a hole. */
  numberLiteral: number;
  numberHole: number | null;
}

export interface UpdatePlan {
  /** The whole document of one update. */
  document: ByteTemplate;
  /** Per operator group (in document order): its MessagePack header and operations. */
  groups: { header: Uint8Array; operations: OperationPlan[] }[];
  /** The groups' operations in one list, in document order (what folding walks per event). */
  operations: OperationPlan[];
  foldable: boolean;
}

export interface RoutePlan {
  /** Required data fields (the holes' numbering): names as UTF-8, and kinds. */
  fieldNames: Uint8Array[];
  fieldKinds: FieldKind[];
  own: UpdatePlan | null;
  /** Per fan-out: the key template (text parts as UTF-8 bytes, holes as above) and the update. */
  also: { key: ByteTemplate; update: UpdatePlan }[];
}

/** Thrown while planning a route the templates cannot express. */
const UNPLANNABLE = Symbol('unplannable');

/** The route's plan, or null when it has a part only the general path handles. */
export function planRoute(route: CompiledRoute): RoutePlan | null {
  const fields = route.require.map(([field]) => field);
  try {
    return {
      fieldNames: fields.map((field) => Buffer.from(field, 'utf8')),
      fieldKinds: route.require.map(([, kind]) => kind),
      own: route.own === null ? null : planUpdate(route.own, fields),
      also: route.also.map((also) => ({ key: planKey(also.keyParts, fields), update: planUpdate(also.update, fields) })),
    };
  } catch (error) {
    if (error === UNPLANNABLE) return null;
    throw error;
  }
}

/** Builds a template: constant MessagePack written through a BinaryWriter, holes between. */
class TemplateBuilder {
  readonly pieces: ByteTemplate = [];
  readonly writer = new BinaryWriter(256);

  hole(code: number): void {
    this.flush();
    this.pieces.push(code);
  }

  finish(): ByteTemplate {
    this.flush();
    return this.pieces;
  }

  private flush(): void {
    if (this.writer.length === 0) return;
    this.pieces.push(Uint8Array.from(this.writer.bytes()));
    this.writer.reset();
  }
}

function holeOf(node: ValueNode, fields: string[]): number | null {
  switch (node.kind) {
    case 'ts':
      return HOLE_TS;
    case 'type':
      return HOLE_TYPE;
    case 'key':
      return HOLE_KEY;
    case 'data':
      if (node.path.length !== 1) throw UNPLANNABLE;
      return fields.indexOf(node.path[0]!);
    default:
      return null;
  }
}

/** Appends what resolving `node` and writing it with msgpackValue would give. */
function addValue(builder: TemplateBuilder, node: ValueNode, fields: string[]): void {
  const hole = holeOf(node, fields);
  if (hole !== null) return builder.hole(hole);
  const { writer } = builder;
  switch (node.kind) {
    case 'literal':
      return writer.msgpackValue(node.value);
    case 'array':
      writer.msgpackArrayHeader(node.items.length);
      for (const item of node.items) addValue(builder, item, fields);
      return;
    case 'map':
      writer.msgpackMapHeader(node.entries.length);
      for (const [name, item] of node.entries) {
        writer.msgpackString(name);
        addValue(builder, item, fields);
      }
  }
}

function template(node: ValueNode, fields: string[]): ByteTemplate {
  const builder = new TemplateBuilder();
  addValue(builder, node, fields);
  return builder.finish();
}

const isListOperator = (operator: UpdateOperator): boolean => operator === '$push' || operator === '$addToSet';

function planUpdate(update: CompiledUpdate, fields: string[]): UpdatePlan {
  // The document, as writeUpdateDocument writes an unfolded update.
  const document = new TemplateBuilder();
  const { writer } = document;
  writer.msgpackMapHeader(update.groups.length);
  const groups = update.groups.map((group) => {
    writer.rawBytes(group.header);
    const operations = group.operations.map((operation): OperationPlan => {
      writer.rawBytes(operation.pathBytes);
      const { operator, node, each, slice } = operation;
      if (isListOperator(operator)) {
        writeListOperandHead(writer, slice);
        if (!each) writer.msgpackArrayHeader(1);
        addValue(document, node, fields);
        writeListOperandTail(writer, slice);
      } else addValue(document, node, fields);
      const items = !isListOperator(operator) ? [] : each && node.kind === 'array' ? node.items.map((item) => template(item, fields)) : [template(node, fields)];
      const hole = holeOf(node, fields);
      return {
        operator,
        pathBytes: operation.pathBytes,
        value: isListOperator(operator) ? [] : template(node, fields),
        items,
        slice,
        numberLiteral: node.kind === 'literal' && typeof node.value === 'number' ? node.value : NaN,
        numberHole: hole === HOLE_TYPE || hole === HOLE_KEY ? null : hole,
      };
    });
    return { header: group.header, operations };
  });
  return { document: document.finish(), groups, operations: groups.flatMap((group) => group.operations), foldable: update.foldable };
}

function planKey(parts: KeyPart[], fields: string[]): ByteTemplate {
  return parts.map((part) => {
    switch (part.kind) {
      case 'text':
        return Buffer.from(part.text, 'utf8');
      case 'key':
        return HOLE_KEY;
      case 'type':
        return HOLE_TYPE;
      case 'data':
        return fields.indexOf(part.field);
    }
  });
}

/** Writes template `t` for event `i` of `events`. */
export function writeTemplate(t: ByteTemplate, writer: BinaryWriter, events: ScannedEvents, i: number): void {
  const { frame } = events;
  for (let p = 0; p < t.length; p++) {
    const piece = t[p]!;
    if (typeof piece !== 'number') writer.rawBytes(piece);
    else if (piece >= 0) {
      const slot = i * events.fieldsPerEvent + piece;
      writer.rawRange(frame, events.fieldStart[slot]!, events.fieldEnd[slot]!);
    } else if (piece === HOLE_TS) writer.msgpackValue(events.ts[i]!);
    else if (piece === HOLE_TYPE) writer.msgpackStringBytes(frame, events.typeStart[i]!, events.typeEnd[i]!);
    else writer.msgpackStringBytes(frame, events.keyStart[i]!, events.keyEnd[i]!);
  }
}

/**
 * Writes the key template `t` for event `i` as UTF-8 into `into` at `at`; returns the end, or -1
 * when `into` is too small. A data field is its text: a string's bytes, a number or boolean as
 * String() gives it (as the general path's template does; ASCII either way).
 */
export function writeKey(t: ByteTemplate, into: Uint8Array, at: number, events: ScannedEvents, i: number): number {
  const { frame } = events;
  for (let p = 0; p < t.length; p++) {
    const piece = t[p]!;
    if (typeof piece !== 'number') {
      if (at + piece.length > into.length) return -1;
      at += copyBytes(piece, 0, piece.length, into, at);
      continue;
    }
    let start: number;
    let end: number;
    if (piece === HOLE_KEY) {
      start = events.keyStart[i]!;
      end = events.keyEnd[i]!;
    } else if (piece === HOLE_TYPE) {
      start = events.typeStart[i]!;
      end = events.typeEnd[i]!;
    } else {
      const slot = i * events.fieldsPerEvent + piece;
      start = events.fieldStart[slot]!;
      end = events.fieldEnd[slot]!;
      const head = frame[start]!;
      const header = stringHeaderBytes(head);
      if (header === 0) {
        const text = head === 0xc2 ? 'false' : head === 0xc3 ? 'true' : String(readNumber(frame, events.view, start));
        if (at + text.length > into.length) return -1;
        for (let c = 0; c < text.length; c++) into[at++] = text.charCodeAt(c);
        continue;
      }
      start += header;
    }
    if (at + end - start > into.length) return -1;
    at += copyBytes(frame, start, end, into, at);
  }
  return at;
}
