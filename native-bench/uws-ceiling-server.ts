// The ceiling of our front end's stack: a bare uWebSockets.js server that decodes each pub (as the
// engine must), counts its events and acks it at once. No validation, no rings, no storage: the
// engine's end-to-end rate is compared with this.
//
//   node dist/native-bench/uws-ceiling-server.js   → prints {"port":N,"msg":"listening on"}
import uws from 'uWebSockets.js';
import { Packr } from 'msgpackr';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const WELCOME = packr.pack({ op: 'welcome', v: 1 });
let events = 0;

const app = uws.App().ws('/v1/stream', {
  maxPayloadLength: 16 * 1024 * 1024,
  upgrade: (res, req, context) => {
    res.upgrade({}, req.getHeader('sec-websocket-key'), 'hunt.v1.msgpack', req.getHeader('sec-websocket-extensions'), context);
  },
  open: (ws) => {
    ws.send(WELCOME, true);
  },
  message: (ws, frame) => {
    const pub = packr.unpack(Buffer.from(frame)) as { id: number; events: unknown[] };
    events += pub.events.length;
    ws.send(packr.pack({ op: 'ack', id: pub.id }), true);
  },
});
app.listen('127.0.0.1', 0, (token) => {
  if (token === false) throw new Error('cannot listen');
  console.log(JSON.stringify({ port: uws.us_socket_local_port(token), msg: 'listening on' }));
});
process.on('SIGTERM', () => {
  console.log(JSON.stringify({ events, msg: 'stopped' }));
  process.exit(0);
});
