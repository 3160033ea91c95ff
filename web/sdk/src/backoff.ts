/** BackoffOptions shape the reconnect delays. */
export interface BackoffOptions {
  /** initialMs is the first delay; default 250. */
  initialMs?: number;
  /** maxMs caps the delay; default 10000. */
  maxMs?: number;
  /** factor multiplies the cap after each failed attempt; default 2. */
  factor?: number;
}

/**
 * Backoff yields exponential reconnect delays with "equal jitter": half the
 * exponential cap plus a random half, so a crowd of clients dropped by one
 * pusher spreads out instead of reconnecting in lock step, yet no client
 * retries immediately in a loop.
 */
export class Backoff {
  private attempt = 0;
  private readonly initial: number;
  private readonly max: number;
  private readonly factor: number;
  private readonly random: () => number;

  constructor(opts: BackoffOptions = {}, random: () => number = Math.random) {
    this.initial = opts.initialMs ?? 250;
    this.max = opts.maxMs ?? 10_000;
    this.factor = opts.factor ?? 2;
    this.random = random;
  }

  /** next returns the delay before the next attempt and counts the attempt. */
  next(): number {
    const cap = Math.min(this.max, this.initial * this.factor ** this.attempt);
    this.attempt++;
    return Math.round(cap / 2 + this.random() * (cap / 2));
  }

  /** reset starts over after a connection proved healthy. */
  reset(): void {
    this.attempt = 0;
  }

  /** attempts is how many delays were handed out since the last reset. */
  get attempts(): number {
    return this.attempt;
  }
}
