// Subscriber connections for the benchmark: `count` sockets, each subscribed to one key of the
// workload (player:0, player:1, …), reading and counting the updates they get.
import WebSocket from 'ws';

export interface Subscribers {
  updates(): number;
  close(): Promise<void>;
}

export async function openSubscribers(url: string, count: number, keyPrefix: string): Promise<Subscribers> {
  let updates = 0;
  const sockets = await Promise.all(
    Array.from({ length: count }, (_, i) =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(url);
        ws.on('message', (data: Buffer) => {
          const text = data.toString();
          if (text.startsWith('{"op":"welcome"')) ws.send(JSON.stringify({ op: 'sub', id: 1, keys: [`${keyPrefix}${i}`] }));
          else if (text.startsWith('{"op":"ack"')) resolve(ws);
          else if (text.startsWith('{"op":"update"')) updates++;
        });
        ws.once('error', reject);
      }),
    ),
  );
  return {
    updates: () => updates,
    close: async () => {
      await Promise.all(sockets.map((ws) => new Promise<void>((resolve) => (ws.readyState === WebSocket.CLOSED ? resolve() : (ws.once('close', () => resolve()), ws.close())))));
    },
  };
}
