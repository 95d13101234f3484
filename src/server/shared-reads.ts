/**
 * Reads every client socket into one buffer, instead of a fresh buffer per read.
 *
 * For each read, Node allocates 64 KB with malloc, shrinks it to what arrived, wraps it in an
 * ArrayBuffer that the garbage collector tracks, and frees it later: with one small frame per
 * read (a chat message), that was ~5% of the server's CPU in the relay with 1 in flight
 * (malloc, realloc and free, the backing-store registry, the ArrayBuffer sweeper). A socket
 * made with the `onread` option reads into a buffer of the caller's and hands it over in a
 * callback, but `net.Server` gives no way to pass that option for the sockets it accepts. So an
 * accepted socket is given the same setup that option makes: the handle reads into the shared
 * buffer (`useUserBuffer`), and the socket's three internal slots for it are set. The slots'
 * symbols are found, by their descriptions, on a socket made with `onread`. Where they are not
 * found (another Node version), sockets keep emitting 'data' events; a test holds that they are
 * found on the Node this project runs on.
 *
 * The reader must be done with the bytes when it returns (FrameDecoder.write with `transient`
 * copies a partial frame's bytes, and the connection copies what it keeps). Reads run one at a
 * time on the event loop, so one buffer serves every socket. Pausing and resuming such a socket
 * (a connection does, while a login runs) stops and starts its reads as for any other.
 */
import { Socket } from 'node:net';

/** As big as the buffer Node allocates for each read: a socket's backlog still comes in one read. */
const SHARED_READ_BYTES = 64 * 1024;

const sharedReadBuffer = Buffer.allocUnsafe(SHARED_READ_BYTES);

export interface SharedReader {
  /** `chunk` is a view of the shared buffer, valid until this returns. */
  onSharedRead(chunk: Buffer): void;
}

interface UserBufferSlots {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

/** The socket's slots that the `onread` option sets, or null if this Node has no such slots. */
function findUserBufferSlots(): UserBufferSlots | null {
  const probe = new Socket({ onread: { buffer: Buffer.alloc(1), callback: () => undefined } } as ConstructorParameters<typeof Socket>[0]);
  const byName = new Map(Object.getOwnPropertySymbols(probe).map((symbol) => [symbol.description, symbol]));
  probe.destroy();
  const buffer = byName.get('kBuffer');
  const callback = byName.get('kBufferCb');
  const generator = byName.get('kBufferGen');
  return buffer && callback && generator ? { buffer, callback, generator } : null;
}

const slots = findUserBufferSlots();

/** Whether this Node lets accepted sockets read into the shared buffer. */
export const SHARED_READS = slots !== null;

/**
 * Makes `socket` hand what it reads to `reader` in the shared buffer. False, with the socket
 * unchanged, where that cannot be done: the caller listens for 'data' instead.
 */
export function readIntoSharedBuffer(socket: Socket, reader: SharedReader): boolean {
  const handle = (socket as unknown as { _handle: { useUserBuffer?(buffer: Uint8Array): void } | null })._handle;
  if (slots === null || handle === null || typeof handle.useUserBuffer !== 'function') return false;
  handle.useUserBuffer(sharedReadBuffer);
  const internals = socket as unknown as Record<symbol, unknown>;
  internals[slots.buffer] = sharedReadBuffer;
  internals[slots.callback] = (bytesRead: number, buffer: Buffer) => reader.onSharedRead(buffer.subarray(0, bytesRead));
  internals[slots.generator] = null;
  return true;
}
