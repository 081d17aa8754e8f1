// TLS for the stream and HTTP (HUNT_TLS_CERT / HUNT_TLS_KEY). uWS reads the PEM files itself when
// the app is built; they are checked here first, so a missing, unreadable or mismatched file is a
// start-up error naming the variable instead of a server whose handshakes fail.
import { createPrivateKey, X509Certificate } from 'node:crypto';
import fs from 'node:fs';

export interface TlsFiles {
  certFile: string;
  keyFile: string;
}

/** Problems with the TLS settings, each naming the variable, the value and what is allowed. */
export function tlsProblems(certFile: string | undefined, keyFile: string | undefined): string[] {
  if (certFile === undefined && keyFile === undefined) return [];
  if (certFile === undefined || keyFile === undefined) {
    const missing = certFile === undefined ? 'HUNT_TLS_CERT' : 'HUNT_TLS_KEY';
    return [`${missing} is unset while ${missing === 'HUNT_TLS_CERT' ? 'HUNT_TLS_KEY' : 'HUNT_TLS_CERT'} is set: allowed is both set (TLS) or neither`];
  }
  const problems: string[] = [];
  let cert: X509Certificate | null = null;
  try {
    cert = new X509Certificate(fs.readFileSync(certFile));
  } catch (error) {
    problems.push(`HUNT_TLS_CERT=${JSON.stringify(certFile)} is invalid: allowed is a readable PEM certificate file (${(error as Error).message})`);
  }
  try {
    const key = createPrivateKey(fs.readFileSync(keyFile));
    if (cert !== null && !cert.checkPrivateKey(key)) {
      problems.push(`HUNT_TLS_KEY=${JSON.stringify(keyFile)} is invalid: allowed is the private key of the certificate in HUNT_TLS_CERT (it is another key)`);
    }
  } catch (error) {
    problems.push(`HUNT_TLS_KEY=${JSON.stringify(keyFile)} is invalid: allowed is a readable, unencrypted PEM private key file (${(error as Error).message})`);
  }
  return problems;
}
