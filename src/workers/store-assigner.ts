// Cluster mode: how the events topic's partitions are dealt to the group's members. A member is one
// partition worker of one host; it can apply only partitions whose store it owns, and a store has
// one writer, so whole stores are dealt: every partition of store s (p mod S = s) goes to the same
// member. Stores go to hosts, then, within a host, store s to its worker s mod W (as on one host).
//
// Until state moves between hosts with its partitions (the changelog), every store goes to one
// host: the one whose members joined first (the lowest `since`, then the host id), so a host that
// joins later cannot take over partitions whose state it does not have.
import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';

export const STORE_ASSIGNER = 'HuntStoreAssigner';
const VERSION = 0;

/** What a member tells the group's leader about itself (the subscription's user data). */
export interface MemberInfo {
  host: string;
  /** When the host started (ms since the epoch). */
  since: number;
  worker: number;
  workers: number;
  stores: number;
  /** The events topic's partitions (the engine checked they are the layout's at start-up). */
  partitions: number;
}

export function storeAssigner(me: MemberInfo): PartitionAssigner {
  return () => ({
    name: STORE_ASSIGNER,
    version: VERSION,
    async assign({ members, topics }) {
      const infos = members.map(({ memberId, memberMetadata }) => ({ memberId, info: JSON.parse(AssignerProtocol.MemberMetadata.decode(memberMetadata)!.userData.toString()) as MemberInfo }));
      const hosts = [...new Map(infos.map(({ info }) => [info.host, info])).values()].sort((a, b) => a.since - b.since || (a.host < b.host ? -1 : 1));
      const host = hosts[0]!;
      const assignment = new Map<string, number[]>(infos.map(({ memberId }) => [memberId, []]));
      for (let s = 0; s < host.stores; s++) {
        const owner = infos.find(({ info }) => info.host === host.host && info.worker === s % host.workers);
        // A worker of the host that has not joined yet: its stores wait for the rebalance it makes.
        if (owner === undefined) continue;
        for (let p = s; p < host.partitions; p += host.stores) assignment.get(owner.memberId)!.push(p);
      }
      return [...assignment].map(([memberId, partitions]) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: VERSION, assignment: { [topics[0]!]: partitions }, userData: Buffer.alloc(0) }),
      }));
    },
    protocol({ topics }) {
      return { name: STORE_ASSIGNER, metadata: AssignerProtocol.MemberMetadata.encode({ version: VERSION, topics, userData: Buffer.from(JSON.stringify(me)) }) };
    },
  });
}
