// The fast native paths are really in use: a silent fallback would only show as slowness.
import t from 'tap';
import { isNativeAccelerationEnabled } from 'msgpackr';
import { uws } from '../src/main/http/uws.js';

t.test('msgpackr runs with its native string extraction', async (t) => {
  t.equal(isNativeAccelerationEnabled, true);
});

t.test('uWebSockets.js is the native build, not its JavaScript fallback', async (t) => {
  // uws.ts refuses to load the fallback; these are what it checks for.
  t.type(uws.SSLApp, 'function');
  t.type((uws as unknown as Record<string, unknown>).getParts, 'function');
  t.ok(['93', '108', '115'].includes(process.versions.modules), `ABI ${process.versions.modules} is one the package ships`);
});
