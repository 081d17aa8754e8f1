// What users would run instead, with Redis: the `ws` package in front of a redis-server (started by
// the bench with an AOF, `everysec` or `always`). The per-event work runs inside Redis, as a Redis
// expert would put it: the front end reads only the pub's id and hands the frame's bytes to a
// Redis Function (one FCALL per pub), which decodes the MessagePack and gives each event three
// writes on its key's hash (HINCRBY count, HINCRBY type:<type>, HSET lastType, lastTs and the data
// fields). The pub is acked when the FCALL answered (with `always`, after Redis fsynced its AOF).
// The function touches keys it does not declare, which standalone Redis allows (a cluster would not).
//
//   node dist/native-bench/redis-peer-server.js <redisPort>   → prints {"port":N,"msg":"listening on"}
import { Packr } from 'msgpackr';
import { createClient } from 'redis';
import { WebSocketServer } from 'ws';
import { pubId } from './pub-id.js';
import { announceAndServe } from './ws-peer.js';

const FUNCTION_LIBRARY = `#!lua name=huntbench
redis.register_function('apply_pub', function(keys, args)
  local pub = cmsgpack.unpack(args[1])
  local now = args[2]
  for _, event in ipairs(pub.events) do
    local key = event.key
    local ts = event.ts or now
    redis.call('HINCRBY', key, 'count', 1)
    redis.call('HINCRBY', key, 'type:' .. event.type, 1)
    local fields = { 'lastType', event.type, 'lastTs', ts }
    if event.data ~= nil then
      for name, value in pairs(event.data) do
        fields[#fields + 1] = 'f:' .. name
        fields[#fields + 1] = cjson.encode(value)
      end
    end
    redis.call('HSET', key, unpack(fields))
  end
  return #pub.events
end)`;

const redisPort = Number(process.argv[2]);
const wire = new Packr({ useRecords: false });
const redis = createClient({ socket: { host: '127.0.0.1', port: redisPort } });
await redis.connect();
await redis.sendCommand(['FUNCTION', 'LOAD', 'REPLACE', FUNCTION_LIBRARY]);

const server = new WebSocketServer({ host: '127.0.0.1', port: 0, maxPayload: 2 * 1024 * 1024 });
server.on('connection', (socket) => {
  socket.send(wire.pack({ op: 'welcome', v: 1 }));
  socket.on('message', (frame: Buffer) => {
    const id = pubId(frame);
    redis.sendCommand(['FCALL', 'apply_pub', '0', frame, String(Date.now())]).then(
      () => socket.send(wire.pack({ op: 'ack', id })),
      (error: Error) => socket.send(wire.pack({ op: 'error', id, code: 'STORAGE', message: error.message })),
    );
  });
});
announceAndServe(server, () => redis.quit());
