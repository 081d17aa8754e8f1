// Acceptors share their port with SO_REUSEPORT, which would also let another process (a second
// engine started by mistake) join in and silently take part of the traffic. So before they listen,
// the control thread binds the port alone, without SO_REUSEPORT, which fails while anyone else
// listens there; for port 0 this picks the port they all take. (uWS sets SO_REUSEPORT only on a
// port other than 0, so the acceptors cannot resolve port 0 themselves.)
import net from 'node:net';

/** Resolves with the port once `host`:`port` was free (port 0: a free one); rejects naming why not. */
export function probePort(host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      const why = error.code === 'EADDRINUSE' ? 'in use' : error.code === 'EADDRNOTAVAIL' ? 'not an address of this host' : error.message;
      reject(new Error(`cannot listen on ${host}:${port} (${why})`));
    });
    probe.listen({ host, port, exclusive: true }, () => {
      const { port: bound } = probe.address() as net.AddressInfo;
      probe.close(() => resolve(bound));
    });
  });
}
