// How often a supervised thread may be replaced: more than MAX_RESTARTS within RESTART_WINDOW_MS
// means it keeps dying, and the engine stops rather than pretend to make progress.
const MAX_RESTARTS = 5;
const RESTART_WINDOW_MS = 60_000;

export class RestartBudget {
  private readonly restarts: number[] = [];

  /** Counts a restart now; returns null while within the budget, else why it is spent. */
  spend(what: string): string | null {
    const now = Date.now();
    this.restarts.push(now);
    while (this.restarts.length > 0 && now - this.restarts[0]! > RESTART_WINDOW_MS) this.restarts.shift();
    if (this.restarts.length <= MAX_RESTARTS) return null;
    return `${what} ${this.restarts.length} times within ${RESTART_WINDOW_MS / 1000} s`;
  }
}
