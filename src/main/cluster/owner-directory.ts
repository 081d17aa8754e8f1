// Cluster mode, in the control thread: which host applies each partition, read from the group's
// description every POLL_MS (each member's subscription names its host and URL, its assignment its
// partitions) and handed to the acceptors when it changes (ownership.ts). While the group is
// rebalancing the last stable deal is kept: its hosts still serve reads of what they applied.
import { AssignerProtocol, type Admin } from 'kafkajs';
import type { KafkaConfig } from '../../shared/config.js';
import { subscriptionOfMetadata } from '../../shared/group-subscription.js';
import { createKafka } from '../../shared/kafka-client.js';
import type { Logger } from '../../shared/logger.js';
import { OWNER_HERE, OWNER_NONE, type PartitionOwners } from './ownership.js';

const POLL_MS = 1000;

export class OwnerDirectory {
  private readonly admin: Admin;
  private timer: NodeJS.Timeout | null = null;
  private last = '';

  constructor(
    private readonly config: KafkaConfig,
    private readonly partitions: number,
    /** This host's id in the group (its members' `host`), and its URL. */
    private readonly host: string,
    private readonly url: string,
    private readonly log: Logger,
    private readonly onChange: (owners: PartitionOwners) => void,
  ) {
    this.admin = createKafka(config, 'hunt-owner-directory', log).admin();
  }

  async start(): Promise<void> {
    await this.admin.connect();
    const poll = async (): Promise<void> => {
      try {
        await this.look();
      } catch (error) {
        this.log.warn({ err: error }, 'could not read which host applies each partition; the last deal stays');
      }
      if (this.timer !== null) this.timer = setTimeout(() => void poll(), POLL_MS);
    };
    this.timer = setTimeout(() => void poll(), 0);
  }

  async stop(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.admin.disconnect();
  }

  private async look(): Promise<void> {
    const [group] = (await this.admin.describeGroups([this.config.group])).groups;
    if (group === undefined || group.state !== 'Stable') return;
    const urls: string[] = [];
    const owners = new Array<number>(this.partitions).fill(OWNER_NONE);
    for (const member of group.members) {
      const info = subscriptionOfMetadata(member.memberMetadata);
      if (info === undefined || member.memberAssignment.length === 0) continue;
      const assigned = AssignerProtocol.MemberAssignment.decode(member.memberAssignment)?.assignment[this.config.topic] ?? [];
      let owner = OWNER_HERE;
      if (info.host !== this.host) {
        owner = urls.indexOf(info.url);
        if (owner === -1) owner = urls.push(info.url) - 1;
      }
      for (const p of assigned) if (p < this.partitions) owners[p] = owner;
    }
    const key = JSON.stringify([urls, owners]);
    if (key === this.last) return;
    this.last = key;
    this.log.info({ hosts: urls.length + 1, partitionsHere: owners.filter((o) => o === OWNER_HERE).length, partitionsWithoutHost: owners.filter((o) => o === OWNER_NONE).length }, 'partitions dealt between hosts');
    this.onChange({ here: this.url, urls, owners });
  }
}
