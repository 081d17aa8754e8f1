// Cluster mode: GET /v1/keys?prefix= lists the keys of every partition, whichever host applies it.
// The host asked lists its own partitions and asks each other host that applies partitions for
// the same page of its own (scope=local, with the client's credentials: each host checks them
// itself); the pages are then merged (listings.ts, mergePages). While some partition has no host (a
// rebalance), or a host does not answer, the listing is refused rather than answered incomplete.
import type { KeyPage } from '../http/listings.js';

/** Longest wait for another host's page. */
const HOST_TIMEOUT_MS = 5000;

export class ListingUnavailable extends Error {
  override name = 'ListingUnavailable';
}

/** What the client presented, passed on as it was. */
export interface Credentials {
  authorization: string;
  token: string;
}

export interface ListingQuery {
  prefix: string;
  after: string | null;
  limit: number;
}

/** The page of `query` from each host in `hosts` (base URLs), of its own partitions. */
export function pagesOfHosts(hosts: string[], query: ListingQuery, credentials: Credentials): Promise<KeyPage[]> {
  return Promise.all(hosts.map((host) => pageOfHost(host, query, credentials)));
}

async function pageOfHost(host: string, query: ListingQuery, credentials: Credentials): Promise<KeyPage> {
  const url = new URL('/v1/keys', host);
  url.searchParams.set('prefix', query.prefix);
  if (query.after !== null) url.searchParams.set('after', query.after);
  url.searchParams.set('limit', String(query.limit));
  url.searchParams.set('scope', 'local');
  if (credentials.token !== '') url.searchParams.set('token', credentials.token);
  let response: Response;
  try {
    response = await fetch(url, { headers: credentials.authorization === '' ? {} : { authorization: credentials.authorization }, signal: AbortSignal.timeout(HOST_TIMEOUT_MS), redirect: 'error' });
  } catch (error) {
    throw new ListingUnavailable(`the host at ${host} did not answer for its partitions: ${(error as Error).message}`);
  }
  const body = (await response.json().catch(() => null)) as (KeyPage & { message?: string }) | null;
  if (response.status !== 200 || body === null || !Array.isArray(body.keys)) {
    throw new ListingUnavailable(`the host at ${host} answered ${response.status} for its partitions${body?.message === undefined ? '' : `: ${body.message}`}`);
  }
  return body;
}
