/**
 * A byte buffer reused for encoding whose result is used up before the next use: a frame's
 * plaintext is sealed at once, a sealed frame handed to its socket's write. Fresh buffers were
 * array buffers for every scavenge to sweep and new memory to fault in (~2 µs per entry of a
 * small journal batch, when journal lines were encoded here; fan-outs to 100 and 1,000 cost 1.2x
 * and 1.6x the server CPU). It grows as needed up to `max`; a request past `max` gets a buffer of
 * its own, so that one burst does not pin megabytes for good.
 */
export class Scratch {
  private buffer = Buffer.allocUnsafeSlow(0);

  constructor(
    private readonly max: number,
    /** the least it allocates */
    private readonly min = 64 * 1024,
  ) {}

  /** `size` bytes of scratch, valid until the next take. */
  take(size: number): Buffer {
    const room = this.room(size);
    return room.length === size ? room : room.subarray(0, size);
  }

  /**
   * At least `size` bytes of scratch, valid until the next take: the whole buffer, where take
   * makes a view of it (each view is ~100 bytes of garbage), for a caller that keeps the length.
   */
  room(size: number): Buffer {
    if (size > this.buffer.length) {
      if (size > this.max) return Buffer.allocUnsafe(size);
      this.buffer = Buffer.allocUnsafeSlow(Math.min(this.max, Math.max(size, 2 * this.buffer.length, this.min)));
    }
    return this.buffer;
  }

  /** The last take is someone else's now: the next take gets new memory. */
  giveAway(): void {
    this.buffer = Buffer.allocUnsafeSlow(0);
  }
}
