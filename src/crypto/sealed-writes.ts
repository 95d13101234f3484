/**
 * Sealed frames onto sockets with one shared buffer (writeFrame): the server's write path, and
 * the load generator's (bench/lib/light-client.ts), which writes for thousands of clients.
 */
import type { Socket } from 'node:net';
import type { Channel } from './channel.ts';
import { Scratch } from '../protocol/scratch.ts';

/**
 * Where sealed frames are written for sockets that take them at once (writeFrame). 16 KB at the
 * least: when a socket keeps one, it keeps the whole buffer until its queue drains.
 */
const sealedFrames = new Scratch(1024 * 1024, 16 * 1024);

/**
 * Seals `plaintext` into a frame and writes it to `socket`. A socket with nothing queued writes at
 * once and keeps nothing (Node hands a buffer to the kernel and lets go of it when the write
 * completes there and then), so its frame is sealed into one buffer shared by all connections and
 * reused for the next frame: a fresh buffer per frame was 6% of a fan-out to 1,000 (Node's pool
 * cuts two of these frames from each 8 KB slab it makes). If the kernel takes only part of it,
 * the socket keeps the rest queued, referring to the shared buffer: that buffer is the socket's
 * from then on, and the next frame gets new memory. A socket that already has a queue gets a
 * frame of its own.
 */
export function writeFrame(socket: Pick<Socket, 'write' | 'writableLength'>, channel: Channel, plaintext: Buffer): void {
  if (socket.writableLength === 0) {
    socket.write(channel.sealFrame(plaintext, sealedFrames));
    if (socket.writableLength !== 0) sealedFrames.giveAway();
  } else socket.write(channel.sealFrame(plaintext));
}
