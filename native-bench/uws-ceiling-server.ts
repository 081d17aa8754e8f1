// The ceiling of our front end's stack: a bare uWebSockets.js server that reads each pub's `id`
// and acks it at once. Nothing is decoded past the id (the load's pubs put it before their
// events), validated, queued or stored, so no engine on this stack can ack faster: the engine's
// end-to-end rate is compared with this.
//
//   node dist/native-bench/uws-ceiling-server.js   → prints {"port":N,"msg":"listening on"}
import uws from 'uWebSockets.js';
import { Packr } from 'msgpackr';
import { collectionSize, mapHeaderBytes, numberBytes, readNumber, valueEnd } from '../src/shared/msgpack-scalars.js';

const packr = new Packr({ useRecords: false, mapsAsObjects: true });
const WELCOME = packr.pack({ op: 'welcome', v: 1 });
/** MessagePack of the string "id". */
const ID_KEY = [0xa2, 0x69, 0x64];

/** The pub's `id`, read from its map without decoding the rest; -1 when it is not found first. */
function pubId(frame: Uint8Array): number {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const header = mapHeaderBytes(frame[0]!);
  if (header === 0) return -1;
  let at = header;
  for (let entry = collectionSize(frame, view, 0); entry > 0; entry--) {
    const isId = frame[at] === ID_KEY[0] && frame[at + 1] === ID_KEY[1] && frame[at + 2] === ID_KEY[2];
    at = valueEnd(frame, view, at);
    if (isId) return numberBytes(frame[at]!) > 0 ? readNumber(frame, view, at) : -1;
    at = valueEnd(frame, view, at);
    if (at < 0) return -1;
  }
  return -1;
}

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
