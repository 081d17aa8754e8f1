// Which acceptor holds each idempotent producer, so that `hello` fencing works across acceptors:
// a producer's marks live in exactly one acceptor at a time (ingest/producers.ts). A claim from
// another acceptor has the holder fence its connection off (4001) and hand the marks over once
// everything the producer sent there is settled; a crashed holder's producers are reloaded from
// what the workers committed once its rings are drained. Claims of one name are served in order.
import type { ProducerClaim, ProducerMarks } from '../acceptor/acceptor-messages.js';

export interface DirectoryAcceptors {
  /** Has acceptor `holder` give up `name`; rejects if that thread ends first. */
  release(holder: number, name: string): Promise<ProducerMarks | null>;
  /**
   * Resolves once crashed acceptor `holder`'s rings are drained (its producers then forgotten
   * here); null if it is running.
   */
  drained(holder: number): Promise<void> | null;
  /** Has every acceptor forget its idle producers. */
  expireIdle(): Promise<void>;
}

export class ProducerDirectory {
  private readonly holders = new Map<string, number>();
  /** The claim of each name being served (the next waits for it). */
  private readonly claims = new Map<string, Promise<unknown>>();

  constructor(
    private readonly acceptors: DirectoryAcceptors,
    private readonly maxProducers: number,
  ) {}

  has(name: string): boolean {
    return this.holders.has(name);
  }

  /** Acceptor `by` claims producer `name` (it said hello there, and `by` does not hold it). */
  claim(name: string, by: number): Promise<ProducerClaim> {
    const previous = this.claims.get(name) ?? Promise.resolve();
    const claim = previous.then(() => this.serve(name, by));
    const settled = claim.catch(() => {});
    this.claims.set(name, settled);
    void settled.then(() => {
      if (this.claims.get(name) === settled) this.claims.delete(name);
    });
    return claim;
  }

  /** Acceptor `by` forgot these producers on its own (idle past the TTL). */
  forgotten(by: number, names: string[]): void {
    for (const name of names) if (this.holders.get(name) === by) this.holders.delete(name);
  }

  /** A crashed acceptor's rings are drained: its producers' committed marks are the truth now. */
  dropHolder(holder: number): void {
    for (const [name, by] of this.holders) if (by === holder) this.holders.delete(name);
  }

  private async serve(name: string, by: number): Promise<ProducerClaim> {
    const holder = this.holders.get(name);
    let marks: ProducerMarks | null = null;
    if (holder === undefined) {
      if (this.holders.size >= this.maxProducers) await this.acceptors.expireIdle();
      if (this.holders.size >= this.maxProducers) return { outcome: 'full' };
    } else if (holder !== by) {
      marks = await this.takeFrom(holder, name);
    }
    this.holders.set(name, by);
    return { outcome: 'granted', marks };
  }

  /** The holder's marks of `name`, or null where the committed ones must be loaded. */
  private async takeFrom(holder: number, name: string): Promise<ProducerMarks | null> {
    const crashed = this.acceptors.drained(holder);
    if (crashed !== null) {
      await crashed;
      return null;
    }
    try {
      return await this.acceptors.release(holder, name);
    } catch (error) {
      // The holder ended meanwhile: once its rings are drained, the committed marks are complete.
      const drained = this.acceptors.drained(holder);
      if (drained === null) throw error;
      await drained;
      return null;
    }
  }
}
