// The dashboard (GET /) in a real browser: headless Chromium (Debian's `chromium`, driven by
// playwright-core) loads the page from a live engine under load and checks that its numbers move,
// that errors show by code, and that a key lookup follows the key's updates; a screenshot is saved
// in the test's temp dir. `.ci/run` installs Chromium; elsewhere the test is skipped, saying so,
// when no Chromium is installed.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { chromium } from 'playwright-core';
import { startEngine, tempDir, TestClient } from './helpers.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((file) => fs.existsSync(file));

const number = (text: string | null) => Number((text ?? '').replaceAll(',', ''));

// The functions passed to page.waitForFunction / page.evaluate run in the page, where this exists.
declare const document: { getElementById(id: string): { textContent: string | null } | null };

const skip = CHROMIUM === undefined && process.env.CI === undefined ? 'no Chromium installed (apt-get install chromium; .ci/run does)' : false;

t.test('the dashboard shows a live engine: rates, latency, errors, and a followed key', { skip }, async (t) => {
  t.ok(CHROMIUM, 'Chromium is installed (.ci/run installs it)');
  const dir = tempDir(t);
  const token = 'dashboard-token-0123456789';
  const engine = await startEngine({ HUNT_DATA_DIR: path.join(dir, 'data'), HUNT_DURABILITY: 'async', HUNT_AUTH_TOKENS: token });
  t.teardown(() => engine.stop());

  // Load: pubs of 50 events over 100 players, every 20 ms, until the test ends.
  const producer = await TestClient.connect(engine.port, [], { authorization: `Bearer ${token}` });
  await producer.welcome();
  let id = 0;
  const load = setInterval(() => producer.send({ op: 'pub', id: id++, events: Array.from({ length: 50 }, (_, i) => ({ key: `player:${(id * 50 + i) % 100}`, type: 'step', data: { id } })) }), 20);
  t.teardown(() => clearInterval(load));
  producer.send({ op: 'pub', id: 1_000_000, events: [{ key: '', type: 'step' }] });

  const browser = await chromium.launch({ executablePath: CHROMIUM!, args: ['--no-sandbox'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 1000 } });
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));
  await page.goto(`http://127.0.0.1:${engine.port}/?token=${token}`);

  await page.waitForFunction(() => Number(document.getElementById('events-in')!.textContent!.replaceAll(',', '')) > 0, undefined, { timeout: 20_000 });
  const first = { in: number(await page.textContent('#events-in')), status: await page.textContent('#status') };
  await page.waitForFunction((status) => document.getElementById('status')!.textContent !== status, first.status, { timeout: 20_000 });
  await page.waitForTimeout(1100);
  const second = { in: number(await page.textContent('#events-in')), acked: number(await page.textContent('#events-acked')), status: await page.textContent('#status') };
  t.ok(first.in > 0 && second.in > 0 && second.acked > 0, `events/s in moves: ${first.in} then ${second.in}; acked ${second.acked}`);
  t.not(second.status, first.status, 'the page keeps polling');
  t.match(second.status, /async, 64 partitions, 2 worker\(s\)/);
  t.ok(number(await page.textContent('#ack-p99')) > 0, 'ack p99 shown');
  t.ok(number(await page.textContent('#connections')) >= 1);
  t.match(await page.textContent('#errors'), /BAD_EVENT\s*1/, 'errors by code');
  t.match(await page.textContent('#workers'), /0.*\n?.*1/s, 'a row per worker');
  const config = JSON.parse((await page.textContent('#config'))!);
  t.equal(config.authTokens, '1 token(s)', 'the configuration is shown with tokens redacted');
  t.notMatch(await page.content(), new RegExp(`"${token}"`), 'the token is not in the page');
  t.equal(await page.locator('#rate-chart canvas').count(), 1, 'the rate chart is drawn');

  await page.fill('#key', 'player:7');
  await page.click('#lookup button');
  await page.waitForFunction(() => document.getElementById('key-meta')!.textContent!.includes('"version"'), undefined, { timeout: 20_000 });
  const version = () => page.evaluate(() => JSON.parse(document.getElementById('key-meta')!.textContent!).version as number);
  const v1 = await version();
  await page.waitForFunction((v) => JSON.parse(document.getElementById('key-meta')!.textContent!).version > v, v1, { timeout: 20_000 });
  t.ok((await version()) > v1, 'the looked-up key follows its updates');

  const screenshot = path.join(dir, 'dashboard.png');
  await page.screenshot({ path: screenshot, fullPage: true });
  t.ok(fs.statSync(screenshot).size > 10_000, `screenshot saved (${screenshot})`);
  t.same(pageErrors, [], 'no script errors on the page');
  clearInterval(load);
  await producer.close();
});
