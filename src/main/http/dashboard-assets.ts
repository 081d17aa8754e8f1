// The dashboard's files (GET /): the page, its script and style from public/, and uPlot from its
// npm package. Read once at start-up, so serving them touches no disk; nothing is built at run time.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface StaticFile {
  contentType: string;
  body: Buffer;
}

const PUBLIC_DIR = fileURLToPath(new URL('../../../../public/', import.meta.url));

export function loadDashboardAssets(): Map<string, StaticFile> {
  const uplotDir = path.dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'));
  const files: [string, string, string][] = [
    ['/', path.join(PUBLIC_DIR, 'index.html'), 'text/html; charset=utf-8'],
    ['/dashboard.js', path.join(PUBLIC_DIR, 'dashboard.js'), 'text/javascript; charset=utf-8'],
    ['/dashboard.css', path.join(PUBLIC_DIR, 'dashboard.css'), 'text/css; charset=utf-8'],
    ['/vendor/uPlot.iife.min.js', path.join(uplotDir, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
    ['/vendor/uPlot.min.css', path.join(uplotDir, 'uPlot.min.css'), 'text/css; charset=utf-8'],
  ];
  return new Map(files.map(([url, file, contentType]) => [url, { contentType, body: fs.readFileSync(file) }]));
}
