// The ceiling of our front end's stack: a bare uWebSockets.js server that reads each pub's `id`
// and acks it at once. Nothing is decoded past the id (the load's pubs put it before their
// events), validated, queued or stored, so no engine on this stack can ack faster: the engine's
// end-to-end rate is compared with this.
//
//   node dist/native-bench/uws-ceiling-server.js   → prints {"port":N,"msg":"listening on"}
import uws from 'uWebSockets.js';
import { Packr } from 'msgpackr';
import { pubId } from './pub-id.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const WELCOME = packr.pack({ op: 'welcome', v: 1 });

const app = uws.App().ws('/v1/stream', {
  maxPayloadLength: 16 * 1024 * 1024,
  upgrade: (res, req, context) => {
    res.upgrade({}, req.getHeader('sec-websocket-key'), 'hunt.v1.msgpack', req.getHeader('sec-websocket-extensions'), context);
  },
  open: (ws) => {
    ws.send(WELCOME, true);
  },
  message: (ws, frame) => {
    const bytes = new Uint8Array(frame);
    let id = pubId(bytes);
    // A pub whose id follows its events: decoded whole (the bench's load never sends one).
    if (id < 0) id = (packr.unpack(bytes) as { id: number }).id;
    ws.send(packr.pack({ op: 'ack', id }), true);
  },
});
app.listen('127.0.0.1', 0, (token) => {
  if (token === false) throw new Error('cannot listen');
  console.log(JSON.stringify({ port: uws.us_socket_local_port(token), msg: 'listening on' }));
});
process.on('SIGTERM', () => process.exit(0));
