// Reading a routes file (HUNT_ROUTES at start-up and on reload, `hunt check-config`): JSON, or YAML
// when the name ends in .yaml or .yml, compiled by routes.ts, and every problem given the line of the
// part its path names. YAML 1.2 is a superset of JSON, so a JSON file's lines come from the same
// YAML parser; its values still come from JSON.parse, so JSON files mean exactly what JSON says.
import fs from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Document } from 'yaml';
import { compileRoutes, RoutesError, type RouteProblem, type RoutesConfig } from './routes.js';

/** Aliases a YAML file may expand: a few are handy, thousands are a memory attack. */
const MAX_YAML_ALIASES = 100;

/** Reads and compiles a routes file; throws RoutesError listing every problem. */
export function loadRoutes(file: string): RoutesConfig {
  return parseRoutes(file, readRoutesFile(file));
}

/** The text of a routes file; throws RoutesError if it cannot be read. */
export function readRoutesFile(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new RoutesError(file, [{ path: '(file)', message: `cannot be read: ${(error as Error).message}` }]);
  }
}

/**
 * Compiles the text of routes file `file` (its name says JSON or YAML); throws RoutesError listing
 * every problem. Acceptor threads compile the text the control thread read, so all of them run
 * the same routes even if the file changes meanwhile.
 */
export function parseRoutes(file: string, text: string): RoutesConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false });
  const yaml = /\.ya?ml$/i.test(file);
  const parsed = yaml ? fromYaml(file, doc, lines) : fromJson(file, text);
  // JSON.parse keeps the last of a repeated key and drops the rest unseen (two "$set" maps of
  // one update, say): the YAML parser's duplicate-key errors make that a problem.
  const problems: RouteProblem[] = yaml
    ? []
    : doc.errors
        .filter((error) => error.code === 'DUPLICATE_KEY')
        .map((error) => ({ path: '(file)', line: lines.linePos(error.pos[0]).line, message: 'repeats a key of its map; JSON.parse would keep only the last' }));
  const config = compileRoutes(parsed, problems);
  if (problems.length > 0) throw new RoutesError(file, problems.map((problem) => withLine(problem, doc, lines)));
  return config;
}

function fromJson(file: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new RoutesError(file, [{ path: '(file)', message: `is not valid JSON: ${syntaxPosition(text, error as Error)}` }]);
  }
}

function fromYaml(file: string, doc: Document, lines: LineCounter): unknown {
  // Warnings too (an unknown tag, say): a routes file must mean one thing.
  const problems = [...doc.errors, ...doc.warnings];
  if (problems.length > 0) {
    throw new RoutesError(
      file,
      problems.map((problem) => ({ path: '(file)', line: lines.linePos(problem.pos[0]).line, message: `is not valid YAML: ${problem.message}` })),
    );
  }
  try {
    return doc.toJS({ maxAliasCount: MAX_YAML_ALIASES });
  } catch (error) {
    throw new RoutesError(file, [{ path: '(file)', message: `is not valid YAML: ${(error as Error).message}` }]);
  }
}

/** JSON.parse's message with the line and column of the position it names. */
function syntaxPosition(text: string, error: Error): string {
  const match = /position (\d+)/.exec(error.message);
  if (match === null) return error.message;
  const before = text.slice(0, Number(match[1]));
  const line = before.split('\n').length;
  const column = before.length - before.lastIndexOf('\n');
  return `${error.message} (line ${line}, column ${column})`;
}

/**
 * The problem with the line of the deepest part of its path found in the file (a map entry's key,
 * an array's item). Map keys may hold dots ("deep.obj" under $set), so at each map the longest key
 * that the rest of the path starts with is taken (the last of repeated ones, as JSON.parse keeps).
 */
function withLine(problem: RouteProblem, doc: Document, lines: LineCounter): RouteProblem {
  let node: unknown = doc.contents;
  let rest = problem.path;
  let line: number | undefined;
  while (rest.length > 0) {
    const index = /^\[(\d+)\]/.exec(rest);
    if (index !== null) {
      const item: unknown = isSeq(node) ? node.items[Number(index[1])] : undefined;
      const range = (item as { range?: [number, number, number] } | undefined)?.range;
      if (range === undefined) break;
      line = lines.linePos(range[0]).line;
      node = item;
      rest = rest.slice(index[0].length);
      continue;
    }
    if (rest.startsWith('.')) rest = rest.slice(1);
    if (!isMap(node)) break;
    let best: { key: string; value: unknown; start: number } | null = null;
    for (const pair of node.items) {
      if (!isScalar(pair.key) || pair.key.range === undefined || pair.key.range === null) continue;
      const key = String(pair.key.value);
      const follows = rest.charAt(key.length);
      if (rest.startsWith(key) && (follows === '' || follows === '.' || follows === '[') && (best === null || key.length >= best.key.length)) {
        best = { key, value: pair.value, start: pair.key.range[0] };
      }
    }
    if (best === null) break;
    line = lines.linePos(best.start).line;
    node = best.value;
    rest = rest.slice(best.key.length);
  }
  return line === undefined ? problem : { ...problem, line };
}
