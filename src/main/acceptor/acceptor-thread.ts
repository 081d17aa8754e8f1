// Entry of an acceptor thread (a plain worker_thread, never Piscina: LIBRARY-NOTES): builds the
// acceptor from its workerData, listens, and carries out what the control thread tells it.
//
// A thread that ends while uWS holds a socket aborts the whole process, so every way out closes the
// app first: the control thread's `close`, and an uncaught error (the thread then ends with 1 and
// the control thread replaces it: its connections close and clients re-send what was not acked).
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger, osThreadId } from '../../shared/logger.js';
import { StoreSet } from '../../shared/store.js';
import { Router } from '../routes/router.js';
import { parseRoutes } from '../routes/routes-file.js';
import { Acceptor } from './acceptor.js';
import type { AcceptorReplies, AcceptorRequest, AcceptorThreadData, ControlAsk, ControlReplies, FromAcceptor, ToAcceptor } from './acceptor-messages.js';
import { PendingReplies, replyOf } from './pending-replies.js';

/** How long a closing acceptor waits for what its connections have queued to go out. */
const CLOSE_FRAMES_WAIT_MS = 2000;
/** After the close frames are queued on sockets with nothing else waiting, time for them to be written. */
const CLOSE_FRAMES_GRACE_MS = 50;

const data = workerData as AcceptorThreadData;
const port = parentPort!;
const post = (message: FromAcceptor) => port.postMessage(message);
const log = createLogger(data.config.logLevel, { acceptor: data.acceptor, tid: osThreadId() }, true);
const stores = StoreSet.open(data.config.dataDir, data.layout);
// The control thread checked the routes before starting this thread.
const router = data.routesText === null ? null : new Router(parseRoutes(data.config.routes!, data.routesText));
const asks = new PendingReplies();
const ask = <A extends ControlAsk>(request: A) => asks.ask<ControlReplies[A['op']]>((id) => post({ op: 'ask', id, ask: request }));
const acceptor = Acceptor.create(
  {
    acceptor: data.acceptor,
    config: data.config,
    layout: data.layout,
    links: data.links,
    workerInbound: data.workerInbound,
    recordsTaken: data.recordsTaken.map((buffer) => new Float64Array(buffer)),
    recordsSettled: new Float64Array(data.settledRecords),
    connectionCounts: data.connectionCounts,
    stores,
    router,
    auth: data.auth,
    owners: data.owners,
    control: {
      claimProducer: (name) => ask({ op: 'claim-producer', name }),
      producersForgotten: (names) => post({ op: 'producers-forgotten', names }),
      metrics: () => ask({ op: 'metrics' }),
      stats: () => ask({ op: 'stats' }),
      reloadRoutes: (trigger) => ask({ op: 'reload-routes', trigger }),
    },
    onFatal: (error) => post({ op: 'fatal', message: error.message }),
    ...(data.producerExpiry === undefined ? {} : { producerExpiry: data.producerExpiry }),
  },
  log,
);

process.on('uncaughtException', (error) => {
  log.fatal({ err: error }, 'acceptor thread failed; closing its sockets and ending');
  acceptor.closeSockets();
  process.exit(1);
});

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Resolves once nothing is queued for the connections (or after `ms`). uWS runs a socket's close
 * handler as soon as end() is called and drops what is still queued when the app closes, so a
 * close frame queued behind other data would be lost: the queues must be empty first.
 */
async function flushedWithin(ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (acceptor.unsentBytes > 0 && Date.now() < deadline) await pause(5);
}

async function answer(request: AcceptorRequest): Promise<AcceptorReplies[AcceptorRequest['op']]> {
  switch (request.op) {
    case 'start':
      acceptor.start();
      return null;
    case 'reload-routes':
      acceptor.reloadRoutes(request.text);
      return null;
    case 'reload-auth':
      acceptor.reloadAuth(request.auth);
      return null;
    case 'inspect':
      return acceptor.inspect();
    case 'expire-producers':
      return acceptor.expireProducers(request.nowMs);
    case 'release-producer':
      return acceptor.releaseProducer(request.name);
    case 'metrics':
      return acceptor.ownMetrics();
    case 'stats':
      return acceptor.statsPart();
    case 'drain':
      await acceptor.drain();
      return null;
  }
}

port.on('message', (message: ToAcceptor) => {
  switch (message.op) {
    case 'request':
      void replyOf(message.id, answer(message.request)).then((reply) => post({ op: 'reply', ...reply }));
      return;
    case 'answer':
      return asks.settle(message);
    case 'worker-restarted':
      return acceptor.onWorkerRestart();
    case 'partition-owners':
      return acceptor.updateOwners(message.owners);
    case 'fault':
      setImmediate(() => {
        throw new Error('test fault: an uncaught error in the acceptor thread');
      });
      return;
    case 'close':
      void (async () => {
        // After a fault nothing more may be acked meanwhile: no waiting first.
        if (message.failed) acceptor.fail(message.code, message.reason);
        else {
          await flushedWithin(CLOSE_FRAMES_WAIT_MS);
          acceptor.close(message.code, message.reason);
        }
        await pause(CLOSE_FRAMES_GRACE_MS);
        // Nothing may be left open when the thread ends.
        acceptor.closeSockets();
        await stores.close();
        process.exit(0);
      })();
      return;
  }
});

acceptor.listen().then(
  (listening) => {
    log.info('acceptor thread started');
    post({ op: 'listening', port: listening });
  },
  (error: Error) => {
    acceptor.closeSockets();
    post({ op: 'listen-failed', message: error.message });
    void stores.close().then(() => process.exit(0));
  },
);
