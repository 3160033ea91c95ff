/** Emitter is a minimal typed event emitter; listeners run synchronously in order. */
export class Emitter<E extends Record<string, unknown[]>> {
  private readonly listeners: { [K in keyof E]?: Set<(...args: E[K]) => void> } = {};

  /** on adds fn for event and returns a function that removes it. */
  on<K extends keyof E>(event: K, fn: (...args: E[K]) => void): () => void {
    (this.listeners[event] ??= new Set()).add(fn);
    return () => this.off(event, fn);
  }

  /** off removes fn. */
  off<K extends keyof E>(event: K, fn: (...args: E[K]) => void): void {
    this.listeners[event]?.delete(fn);
  }

  protected emit<K extends keyof E>(event: K, ...args: E[K]): void {
    for (const fn of [...(this.listeners[event] ?? [])]) {
      try {
        fn(...args);
      } catch (err) {
        // A broken listener must not break the connection's bookkeeping.
        queueMicrotask(() => {
          throw err;
        });
      }
    }
  }
}
