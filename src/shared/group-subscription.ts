// Cluster mode: what each member of the hosts' consumer group (one partition worker of one host)
// tells the others in its subscription's user data. The group's leader deals stores by it
// (workers/store-assigner.ts); the control threads read it to check a joining host's layout
// (main/cluster/kafka-startup.ts) and to learn which host applies each partition
// (main/cluster/owner-directory.ts).
import { AssignerProtocol } from 'kafkajs';

export interface MemberInfo {
  /** The host's id: stable across its restarts (machine name and data directory). */
  host: string;
  /** Where clients reach the host (HUNT_ADVERTISED_URL). */
  url: string;
  worker: number;
  workers: number;
  stores: number;
  /** The events topic's partitions (the engine checked they are the layout's at start-up). */
  partitions: number;
}

export interface Subscription extends MemberInfo {
  /** The stores the member holds now. */
  holds: number[];
}

export const encodeSubscription = (subscription: Subscription): Buffer => Buffer.from(JSON.stringify(subscription));

/** The subscription in a member's metadata (as the group's description gives it); undefined for another kind of client. */
export function subscriptionOfMetadata(metadata: Buffer): Subscription | undefined {
  try {
    const info = JSON.parse(AssignerProtocol.MemberMetadata.decode(metadata)!.userData.toString()) as Partial<Subscription>;
    const numbers = [info.worker, info.workers, info.stores, info.partitions];
    if (typeof info.host !== 'string' || typeof info.url !== 'string' || !numbers.every(Number.isSafeInteger) || !Array.isArray(info.holds)) return undefined;
    return info as Subscription;
  } catch {
    return undefined;
  }
}
