// Buffer's own UTF-8 primitives. Buffer.prototype.write/toString reach them through argument
// normalisation that cost a measurable share of the per-event path; they are public in Node but
// missing from @types/node.
export interface Utf8Buffer extends Buffer {
  utf8Write(text: string, offset: number): number;
  utf8Slice(start: number, end: number): string;
}
