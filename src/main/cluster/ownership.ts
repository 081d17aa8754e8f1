// Cluster mode, in each acceptor: which host applies each partition, as the control thread last saw
// the group (owner-directory.ts). Reads of a key (GET /v1/keys/<key>, get, sub of keys, replay) are
// served by the host that applies its partition: this one serves its own, sends HTTP clients to the
// owner with a redirect, and answers WebSocket ops with NOT_OWNER naming the owner's URL.
import { ErrorCode, ProtocolError } from '../../shared/wire.js';

/** owners[p]: an index into urls, or one of these. */
export const OWNER_HERE = -2;
export const OWNER_NONE = -1;

export interface PartitionOwners {
  /** This host's URL (as the others see it). */
  here: string;
  urls: string[];
  owners: number[];
}

export class Ownership {
  /** Per partition, 1 while the last host seen applying it is this one (it stays so through a rebalance). */
  private readonly servedHere: Uint8Array;

  /** null: one host, or the group not seen yet; every partition is served here. */
  constructor(
    private current: PartitionOwners | null,
    partitions: number,
  ) {
    this.servedHere = new Uint8Array(partitions).fill(1);
    if (current !== null) this.update(current);
  }

  /** Takes the group as last seen; returns the partitions this host served until now and another host applies now. */
  update(owners: PartitionOwners): number[] {
    this.current = owners;
    const left: number[] = [];
    owners.owners.forEach((owner, p) => {
      if (owner === OWNER_HERE) this.servedHere[p] = 1;
      else if (owner !== OWNER_NONE && this.servedHere[p] === 1) {
        this.servedHere[p] = 0;
        left.push(p);
      }
    });
    return left;
  }

  /** The base URL of the host that applies partition p; null when it is this one; undefined while no host does (a rebalance). */
  ownerOf(p: number): string | null | undefined {
    const owner = this.current?.owners[p] ?? OWNER_HERE;
    if (owner === OWNER_HERE) return null;
    return owner === OWNER_NONE ? undefined : this.current!.urls[owner];
  }

  /** Whether the group has been seen (cluster mode): until then every partition counts as served here. */
  get clustered(): boolean {
    return this.current !== null;
  }

  /** The other hosts that apply partitions (base URLs); undefined while some partition has none (a rebalance). */
  otherHosts(): string[] | undefined {
    if (this.current === null) return [];
    return this.current.owners.includes(OWNER_NONE) ? undefined : otherHostsOf(this.current);
  }

  /**
   * Cluster mode: this host's URL and those of every host that applies partitions (this one too),
   * for a prefix subscriber, who subscribes the prefix at each (a prefix spans every partition);
   * null on one host.
   */
  prefixHosts(): { host: string; hosts: string[] } | null {
    const current = this.current;
    return current === null ? null : { host: current.here, hosts: [current.here, ...otherHostsOf(current)] };
  }

  /** Throws NOT_OWNER unless this host applies partition p. */
  requireHere(p: number, what: string, id: number | null): void {
    const owner = this.ownerOf(p);
    if (owner === null) return;
    throw new ProtocolError(ErrorCode.NOT_OWNER, notOwnerMessage(p, what, owner), id, undefined, owner);
  }
}

/** The URLs of the other hosts that apply partitions in `owners`. */
function otherHostsOf(owners: PartitionOwners): string[] {
  return [...new Set(owners.owners.filter((owner) => owner >= 0))].map((owner) => owners.urls[owner]!);
}

export function notOwnerMessage(p: number, what: string, owner: string | undefined): string {
  return owner === undefined
    ? `${what} is in partition ${p}, which no host applies right now (the hosts are rebalancing): retry shortly`
    : `${what} is in partition ${p}, which the host at ${owner} applies: ask it there`;
}
