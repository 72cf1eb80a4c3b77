// An async iterable of buffers fed while it is read: parts (each an async iterable of buffers) are
// queued as they become available and read one after the other; the reader waits when the queue is
// empty until a part is pushed or the queue is closed. The body of a load started before the image
// is complete.

/** A queue of parts read as one stream. */
export class PieceQueue implements AsyncIterable<Buffer> {
  private readonly parts: AsyncIterable<Buffer>[] = [];
  private closed = false;
  private wake?: () => void;

  /** Appends a part (read after those pushed before it). */
  push(part: AsyncIterable<Buffer>): void {
    if (this.closed) throw new Error("the queue is closed");
    this.parts.push(part);
    this.wake?.();
  }

  /** No more parts: the stream ends after the queued ones. */
  close(): void {
    this.closed = true;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (;;) {
      const part = this.parts.shift();
      if (part) {
        yield* part;
        continue;
      }
      if (this.closed) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}
