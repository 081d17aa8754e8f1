// Loads uWebSockets.js and refuses to run on its slow JavaScript fallback: the package silently
// falls back to a `ws`-based implementation when its native build does not load.
import { createRequire } from 'node:module';

type Uws = typeof import('uWebSockets.js');

const require = createRequire(import.meta.url);

function loadNativeUws(): Uws {
  const uws = require('uWebSockets.js') as Uws & Record<string, unknown>;
  // Only the native addon has these; the fallback exports App and little else.
  if (typeof uws.SSLApp !== 'function' || typeof uws.getParts !== 'function' || uws.LIBUS_LISTEN_EXCLUSIVE_PORT === undefined) {
    throw new Error(
      `the native uWebSockets.js build did not load (Node ABI ${process.versions.modules}, ${process.platform}-${process.arch}); ` +
        'the engine will not run on the slow fallback',
    );
  }
  return uws;
}

export const uws = loadNativeUws();
