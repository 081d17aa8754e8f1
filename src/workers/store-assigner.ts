// Cluster mode: how the events topic's partitions are dealt to the group's members. A member is one
// partition worker of one host; it can apply only partitions whose store it owns, and a store has
// one writer, so whole stores are dealt: every partition of store s (p mod S = s) goes to the same
// member. Stores go to hosts, then, within a host, store s to its worker s mod W (as on one host).
//
// Moving a store costs its new host a restore from the changelog, so the deal is sticky: a store
// stays with the host that holds it while that host is in the group, and only the stores of hosts
// that left, and those over a host's fair share (when a host joins), are dealt again, each to the
// host holding fewest.
import { AssignerProtocol, type PartitionAssigner } from 'kafkajs';
import { partitionsOfStore } from '../shared/partition.js';
import { encodeSubscription, subscriptionOfMetadata, type MemberInfo, type Subscription } from '../shared/group-subscription.js';

export const STORE_ASSIGNER = 'HuntStoreAssigner';
const VERSION = 1;

export function storeAssigner(me: MemberInfo, holds: () => number[]): PartitionAssigner {
  return () => ({
    name: STORE_ASSIGNER,
    version: VERSION,
    async assign({ members, topics }) {
      // Hosts of another layout are refused at their start-up (kafka-startup.ts); any that got in anyway get nothing.
      const infos = members
        .map(({ memberId, memberMetadata }) => ({ memberId, info: subscriptionOfMetadata(memberMetadata) }))
        .filter((m): m is { memberId: string; info: Subscription } => m.info?.stores === me.stores && m.info.partitions === me.partitions);
      const owners = dealStores(infos.map(({ info }) => info), me.stores);
      const assignment = new Map<string, number[]>(members.map(({ memberId }) => [memberId, []]));
      owners.forEach((host, s) => {
        const owner = infos.find(({ info }) => info.host === host && info.worker === s % info.workers);
        // A worker of the host that has not joined yet: its stores wait for the rebalance it makes.
        if (owner === undefined) return;
        assignment.get(owner.memberId)!.push(...partitionsOfStore(s, me));
      });
      return [...assignment].map(([memberId, partitions]) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({ version: VERSION, assignment: { [topics[0]!]: partitions }, userData: Buffer.alloc(0) }),
      }));
    },
    protocol({ topics }) {
      return { name: STORE_ASSIGNER, metadata: AssignerProtocol.MemberMetadata.encode({ version: VERSION, topics, userData: encodeSubscription({ ...me, holds: holds() }) }) };
    },
  });
}

/** The host of each store (index = store): sticky, then balanced (see the file's comment). */
export function dealStores(members: Subscription[], stores: number): string[] {
  const hosts = [...new Set(members.map((m) => m.host))].sort();
  const owners: (string | undefined)[] = new Array(stores).fill(undefined);
  for (const m of members) for (const s of m.holds) if (s < stores) owners[s] ??= m.host;
  const load = new Map(hosts.map((h) => [h, 0]));
  owners.forEach((h) => h !== undefined && load.set(h, load.get(h)! + 1));
  // Each host's fair share: ceil for the first (stores mod hosts) of them, floor for the rest.
  const share = (h: string): number => Math.floor(stores / hosts.length) + (hosts.indexOf(h) < stores % hosts.length ? 1 : 0);
  for (let s = stores - 1; s >= 0; s--) {
    const h = owners[s];
    if (h !== undefined && load.get(h)! > share(h)) {
      load.set(h, load.get(h)! - 1);
      owners[s] = undefined;
    }
  }
  for (let s = 0; s < stores; s++) {
    if (owners[s] !== undefined) continue;
    const h = hosts.reduce((a, b) => (load.get(b)! - share(b) < load.get(a)! - share(a) ? b : a));
    owners[s] = h;
    load.set(h, load.get(h)! + 1);
  }
  return owners as string[];
}
