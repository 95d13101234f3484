/**
 * Batches redraws: any number of requests in one event-loop pass (a burst of 1,000 incoming
 * messages, a pasted line) become one render, and renders come at most once per frame.
 */

/** Milliseconds between renders during a burst: about 60 a second. */
export const FRAME_MS = 16;

export class RenderScheduler {
  private pending: NodeJS.Immediate | NodeJS.Timeout | null = null;
  private last = 0;
  /** Renders done, for tests and the burst benchmark. */
  renders = 0;

  constructor(
    private readonly render: () => void,
    private readonly frameMs = FRAME_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Asks for a render soon; many asks before it happens cost one render. */
  request(): void {
    if (this.pending) return;
    const wait = this.last + this.frameMs - this.now();
    // After a quiet spell the render comes right after this pass (typing feels instant);
    // in a burst it waits for the frame.
    this.pending = wait > 0 ? setTimeout(() => this.run(), wait) : setImmediate(() => this.run());
  }

  /** Renders now (and cancels a pending one). */
  flush(): void {
    this.cancel();
    this.run();
  }

  cancel(): void {
    if (!this.pending) return;
    clearTimeout(this.pending as NodeJS.Timeout);
    clearImmediate(this.pending as NodeJS.Immediate);
    this.pending = null;
  }

  private run(): void {
    this.pending = null;
    this.last = this.now();
    this.renders++;
    this.render();
  }
}
