// The dashboard (GET /) in a real browser: headless Chromium (Debian's `chromium`, driven by
// playwright-core) loads the page from a live engine under load and checks that its numbers move,
// that errors show by code, and that a key lookup follows the key's updates; a screenshot is saved
// in the test's temp dir. `.ci/run` installs Chromium; elsewhere the test is skipped, saying so,
// when no Chromium is on the PATH.
//
// The engine and the load generator (`hunt bench` at a fixed rate) are processes of their own, so
// a busy test event loop cannot starve either, and every check waits for its condition.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { chromium, type Page } from 'playwright-core';
import { startEngineProcess } from '../native-bench/engine-process.js';
import { tempDir, TestClient } from './helpers.js';

const HUNT = fileURLToPath(new URL('../src/cli/hunt.js', import.meta.url));
const CHROMIUM = ['chromium', 'chromium-browser', 'google-chrome']
  .flatMap((name) => (process.env.PATH ?? '').split(path.delimiter).map((dir) => path.join(dir, name)))
  .find((file) => fs.existsSync(file));

// The functions passed to page.waitForFunction / page.evaluate run in the page, where this exists.
declare const document: { getElementById(id: string): { textContent: string | null } | null };

/** Waits until every element (by id) shows a number above 0. */
function untilPositive(page: Page, ids: string[]): Promise<unknown> {
  return page.waitForFunction((list) => list.every((id) => Number(document.getElementById(id)!.textContent!.replaceAll(',', '')) > 0), ids, { timeout: 30_000 });
}

const skip = CHROMIUM === undefined && process.env.CI === undefined ? 'no Chromium on the PATH (apt-get install chromium; .ci/run does)' : false;

t.test('the dashboard shows a live engine: rates, latency, errors, and a followed key', { skip }, async (t) => {
  t.ok(CHROMIUM, 'Chromium is installed (.ci/run installs it)');
  const dir = tempDir(t);
  const token = 'dashboard-token-0123456789';
  const engine = await startEngineProcess({ HUNT_DATA_DIR: path.join(dir, 'data'), HUNT_DURABILITY: 'async', HUNT_AUTH_TOKENS: token, HUNT_WORKERS: '2' });
  t.teardown(() => engine.stop('SIGKILL'));

  // Load: 2,500 events/s in pubs of 50 over 100 keys (bench:0 … bench:99) until the test ends.
  const url = `ws://127.0.0.1:${engine.port}/v1/stream`;
  const load = spawn(process.execPath, [HUNT, 'bench', '--url', url, '--token', token, '--seconds', '300', '--rate', '2500', '--connections', '1', '--batch', '50', '--keys', '100'], { stdio: 'ignore' });
  t.teardown(() => void load.kill('SIGKILL'));
  const client = await TestClient.connect(engine.port, [], { authorization: `Bearer ${token}` });
  await client.welcome();
  t.match(await client.request({ op: 'pub', id: 1, events: [{ key: '', type: 'step' }] }), { code: 'BAD_EVENT' }, 'one refused pub for the error table');

  const browser = await chromium.launch({ executablePath: CHROMIUM!, args: ['--no-sandbox'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`http://127.0.0.1:${engine.port}/?token=${token}`);

  await untilPositive(page, ['events-in']);
  const status = await page.textContent('#status');
  await page.waitForFunction((first) => document.getElementById('status')!.textContent !== first, status, { timeout: 30_000 });
  t.pass('the page keeps polling (its status line changed)');
  await untilPositive(page, ['events-in', 'events-acked']);
  t.pass('events/s in and acked are shown');
  t.match(await page.textContent('#status'), /async, 64 partitions, 2 worker\(s\)/);
  await untilPositive(page, ['ack-p99']);
  t.pass('ack p99 is shown');
  await untilPositive(page, ['connections']);
  await page.waitForFunction(() => /BAD_EVENT\s*1/.test(document.getElementById('errors')!.textContent!), undefined, { timeout: 30_000 });
  t.pass('errors by code');
  t.match(await page.textContent('#workers'), /0.*\n?.*1/s, 'a row per worker');
  const config = JSON.parse((await page.textContent('#config'))!);
  t.equal(config.authTokens, '1 token(s)', 'the configuration is shown with tokens redacted');
  t.notMatch(await page.content(), new RegExp(`"${token}"`), 'the token is not in the page');
  t.equal(await page.locator('#rate-chart canvas').count(), 1, 'the rate chart is drawn');

  await page.fill('#key', 'bench:7');
  await page.click('#lookup button');
  await page.waitForFunction(() => document.getElementById('key-meta')!.textContent!.includes('"version"'), undefined, { timeout: 30_000 });
  const v1 = await page.evaluate(() => JSON.parse(document.getElementById('key-meta')!.textContent!).version as number);
  await page.waitForFunction((v) => JSON.parse(document.getElementById('key-meta')!.textContent!).version > v, v1, { timeout: 30_000 });
  t.pass('the looked-up key follows its updates');

  const screenshot = path.join(dir, 'dashboard.png');
  await page.screenshot({ path: screenshot, fullPage: true });
  t.ok(fs.statSync(screenshot).size > 10_000, `screenshot saved (${screenshot})`);
  t.same(pageErrors, [], 'no script errors on the page');
  await client.close();
});
