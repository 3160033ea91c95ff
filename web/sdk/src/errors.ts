/** PublishError is why the server refused an event (schemas.PublishError on the wire). */
export class PublishError extends Error {
  readonly code: string;
  readonly field?: string;
  readonly retryAfter?: number;
  /** until (Unix ms) ends the timeout behind code "banned"; absent for a ban. */
  readonly until?: number;
  constructor(code: string, message: string, field?: string, retryAfter?: number, until?: number) {
    super(field ? `${code}: ${field}: ${message}` : `${code}: ${message}`);
    this.name = "PublishError";
    this.code = code;
    this.field = field;
    this.retryAfter = retryAfter;
    this.until = until;
  }
}

/** QueueFullError means the offline queue is at its bound; the event was not queued. */
export class QueueFullError extends Error {
  constructor(events: number, bytes: number) {
    super(`offline queue is full (${events} events, ${bytes} bytes); the event was not queued`);
    this.name = "QueueFullError";
  }
}

/** ClosedError means the client was closed before the event was acknowledged. */
export class ClosedError extends Error {
  constructor() {
    super("the client was closed before the event was acknowledged");
    this.name = "ClosedError";
  }
}
