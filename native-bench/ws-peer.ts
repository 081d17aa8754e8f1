// What the bench's `ws`-based servers share: announcing their port the way startServerProcess
// (engine-process.ts) waits for, and closing on SIGTERM.
import type { WebSocketServer } from 'ws';

/** Prints {"port":N,"msg":"listening on"} once listening; on SIGTERM closes, runs `cleanup`, exits. */
export function announceAndServe(server: WebSocketServer, cleanup: () => Promise<unknown>): void {
  server.on('listening', () => {
    const address = server.address();
    console.log(JSON.stringify({ port: typeof address === 'object' && address !== null ? address.port : 0, msg: 'listening on' }));
  });
  process.on('SIGTERM', () => {
    server.close();
    void cleanup().then(() => process.exit(0));
  });
}
