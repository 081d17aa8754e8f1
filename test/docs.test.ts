// The docs must not drift from the code: every setting the configuration knows is in the settings
// reference with its default, every error code of the protocol is in the error table, and every
// relative link in the README and the docs (files and #anchors) resolves.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { ErrorCode } from '../src/shared/wire.js';
import { documentedDefaults } from '../src/shared/config.js';
import { ROOT } from './vectors/replay.js';

const read = (file: string) => fs.readFileSync(path.join(ROOT, file), 'utf8');
const docs = fs.readdirSync(path.join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`);
const pages = ['README.md', ...docs, 'native-bench/results/HISTORY.md', 'clients/python/README.md'];

/** The table row (`| … |` line) whose first cell names `name` in backticks. */
function rowOf(text: string, name: string): string[] | undefined {
  const line = text.split('\n').find((l) => l.startsWith('|') && l.split('|')[1]!.includes(`\`${name}\``));
  return line?.split('|').map((cell) => cell.trim());
}

t.test('every setting is in docs/operations.md with its default', async (t) => {
  const text = read('docs/operations.md');
  for (const [name, fallback] of Object.entries(documentedDefaults())) {
    const row = rowOf(text, name);
    t.ok(row !== undefined, `${name} has a row in the settings table`);
    if (row !== undefined) t.ok(row[2]!.includes(fallback), `${name}'s default is stated as ${JSON.stringify(fallback)} (the row says ${JSON.stringify(row[2])})`);
  }
});

t.test('every error code is in the error table of docs/protocol.md', async (t) => {
  const text = read('docs/protocol.md');
  for (const code of Object.values(ErrorCode)) t.ok(rowOf(text, code) !== undefined, `${code} has a row`);
});

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of a Markdown page's headings (repeats numbered as GitHub numbers them). */
function anchorsOf(text: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of text.split('\n')) {
    if (line.startsWith('```')) fenced = !fenced;
    const heading = /^#{1,6} (.*)$/.exec(line);
    if (fenced || heading === null) continue;
    const base = slug(heading[1]!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Links outside code: [text](target). */
function linksOf(text: string): string[] {
  const prose = text.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...prose.matchAll(/\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
}

t.test('every relative link in the README and the docs resolves', async (t) => {
  let checked = 0;
  for (const page of pages) {
    for (const link of linksOf(read(page))) {
      if (/^[a-z]+:/i.test(link)) continue;
      const [target, anchor] = link.split('#') as [string, string | undefined];
      const file = target === '' ? page : path.posix.normalize(path.posix.join(path.posix.dirname(page), target));
      const exists = fs.existsSync(path.join(ROOT, file));
      t.ok(exists, `${page}: ${link} (${file} exists)`);
      if (exists && anchor !== undefined) t.ok(anchorsOf(read(file)).has(anchor), `${page}: ${link} (#${anchor} is a heading of ${file})`);
      checked++;
    }
  }
  t.ok(checked > 30, `${checked} links checked`);
});
