/**
 * Length-prefixed framing: a 4-byte big-endian payload length, then the payload.
 * The decoder knows nothing of sockets: feed it chunks of any size with `write`.
 */
import { ParleyError } from './errors.ts';

export const FRAME_HEADER_BYTES = 4;
/** Default largest payload accepted, in bytes (1 MiB). */
export const DEFAULT_MAX_FRAME = 1024 * 1024;
/** The largest frame limit a server may be configured with; clients never accept more. */
export const MAX_FRAME_LIMIT = 64 * 1024 * 1024;

/** Prefixes `payload` with its length. */
export function encodeFrame(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + payload.length);
  frame.writeUInt32BE(payload.length, 0);
  frame.set(payload, FRAME_HEADER_BYTES);
  return frame;
}

/**
 * Where a decoder hands what it reads: an object with methods, not two closures, so that a
 * server connection can be its own sink (tsx keeps function names by defining a `name` property
 * on each closure it makes, which turns the closure's properties into a dictionary: ~250 bytes
 * apiece, per connection, that every scavenge of a reconnect storm copied).
 */
export interface FrameSink {
  onFrame(payload: Buffer): void;
  /** Called once; the decoder then ignores further input. */
  onFrameError(err: ParleyError): void;
}

/**
 * Reassembles frames from arbitrary chunks. Buffers at most one frame: an oversize length is
 * refused as soon as its 4 header bytes arrive, before any of its payload is kept.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private expected = -1; // payload length of the frame being read, -1 while reading a header
  private failed = false;

  constructor(
    private readonly sink: FrameSink,
    /** largest payload accepted, in bytes */
    private readonly maxFrame = DEFAULT_MAX_FRAME,
  ) {}

  /** Bytes held waiting for the rest of a frame. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /**
   * Reads `chunk`, handing each whole frame to the sink. `transient`: the chunk's memory is
   * reused once this returns (the server reads every socket into one buffer, shared-reads.ts),
   * so the bytes of a frame still incomplete are copied out of it; whole frames are handed over
   * in place, and the sink copies what it keeps.
   */
  write(chunk: Buffer, transient = false): void {
    if (this.failed || chunk.length === 0) return;
    // With nothing held from earlier chunks (a read nearly always ends where a frame does), the
    // whole frames are read where they lie: a view of each payload, where the queue below made
    // views of each header and of what followed it too (~150 of the ~2,900 bytes a relayed message
    // allocated, docs/BENCHMARKS.md, twenty-ninth session).
    const whole = this.buffered === 0 && this.expected < 0 ? this.readWholeFrames(chunk) : 0;
    if (this.failed || whole === chunk.length) return;
    const rest = whole === 0 ? chunk : chunk.subarray(whole);
    this.chunks.push(rest);
    this.buffered += rest.length;
    this.readFrames();
    // Only the newest chunk can still be the caller's memory: older ones were copied when they came.
    const last = this.chunks.length - 1;
    if (transient && last >= 0 && this.chunks[last].buffer === chunk.buffer) this.chunks[last] = Buffer.from(this.chunks[last]);
  }

  /** Hands the sink each whole frame at the start of `chunk`; returns where the rest begins. */
  private readWholeFrames(chunk: Buffer): number {
    let at = 0;
    while (!this.failed && chunk.length - at >= FRAME_HEADER_BYTES) {
      const length = chunk.readUInt32BE(at);
      if (length > this.maxFrame) {
        this.fail(frameTooLarge(length, this.maxFrame));
        return chunk.length;
      }
      const start = at + FRAME_HEADER_BYTES;
      if (chunk.length - start < length) break;
      at = start + length;
      this.sink.onFrame(chunk.subarray(start, at));
    }
    return at;
  }

  private readFrames(): void {
    while (!this.failed) {
      if (this.expected < 0) {
        if (this.buffered < FRAME_HEADER_BYTES) return;
        const length = this.take(FRAME_HEADER_BYTES).readUInt32BE(0);
        if (length > this.maxFrame) {
          this.fail(frameTooLarge(length, this.maxFrame));
          return;
        }
        this.expected = length;
      }
      if (this.buffered < this.expected) return;
      const payload = this.take(this.expected);
      this.expected = -1;
      this.sink.onFrame(payload);
    }
  }

  private fail(err: ParleyError): void {
    this.failed = true;
    this.chunks = [];
    this.buffered = 0;
    this.sink.onFrameError(err);
  }

  /** Removes and returns the first `n` buffered bytes (n <= buffered). */
  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    this.buffered -= n;
    const first = this.chunks[0];
    if (n === first.length) {
      this.chunks.shift();
      return first;
    }
    if (n < first.length) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let offset = 0;
    while (offset < n) {
      const chunk = this.chunks[0];
      const wanted = n - offset;
      if (chunk.length <= wanted) {
        out.set(chunk, offset);
        offset += chunk.length;
        this.chunks.shift();
      } else {
        out.set(chunk.subarray(0, wanted), offset);
        this.chunks[0] = chunk.subarray(wanted);
        offset = n;
      }
    }
    return out;
  }
}

function frameTooLarge(length: number, maxFrame: number): ParleyError {
  return new ParleyError('E_FRAME_TOO_LARGE', `frame of ${length} bytes exceeds the ${maxFrame}-byte limit`, { fatal: true });
}
