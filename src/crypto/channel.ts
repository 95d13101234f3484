/**
 * The encrypted channel: an AEAD (ChaCha20-Poly1305 or AES-256-GCM, chosen in the handshake:
 * aead.ts) with one key per direction and a 96-bit frame counter as nonce. Because the receiver
 * computes the nonce it expects, a replayed, dropped, reordered or altered frame fails
 * authentication. Runs on native/aead.cc (the OpenSSL inside Node), libsodium or node:crypto,
 * the fastest that loads (hot path; aead.ts and docs/ARCHITECTURE.md say why).
 */
import { createHmac } from 'node:crypto';
import { ParleyError } from '../protocol/errors.ts';
import { FRAME_HEADER_BYTES } from '../protocol/frame.ts';
import type { Scratch } from '../protocol/scratch.ts';
import { AEAD_TAG_BYTES, aeadFor, DEFAULT_CIPHER, type Aead, type CipherName } from './aead.ts';

export const KEY_BYTES = 32;
export const SECRET_BYTES = 32;
export const NONCE_BYTES = 12;
export const TAG_BYTES = AEAD_TAG_BYTES;
export const INFO_CLIENT_TO_SERVER = 'parley/1 c2s';
export const INFO_SERVER_TO_CLIENT = 'parley/1 s2c';

export interface DirectionKeys {
  clientToServer: Buffer;
  serverToClient: Buffer;
  /** the frame cipher both sides agreed on */
  cipher: CipherName;
}

/**
 * HKDF-SHA256(secret, salt = the server's hello nonce) into the two direction keys (RFC 5869).
 * Written out with HMAC: one extract for both keys, and a 32-byte key is one expand block, T(1).
 * hkdfSync extracts once per key and costs twice as much, on every handshake (the test checks
 * the two agree). The info names the cipher (but for AES-256-GCM, whose info predates the
 * choice): the client's choice travels in clear, and a choice changed on the way then gives the
 * two sides different keys, so the server's first frame fails instead of being read with another
 * cipher.
 */
export function deriveKeys(secret: Uint8Array, salt: Uint8Array, cipher: CipherName = DEFAULT_CIPHER): DirectionKeys {
  const pseudoRandomKey = createHmac('sha256', salt).update(secret).digest();
  const suffix = cipher === DEFAULT_CIPHER ? '' : ` ${cipher}`;
  const expand = (info: string) => createHmac('sha256', pseudoRandomKey).update(info + suffix).update(FIRST_BLOCK).digest();
  return { clientToServer: expand(INFO_CLIENT_TO_SERVER), serverToClient: expand(INFO_SERVER_TO_CLIENT), cipher };
}
const FIRST_BLOCK = Buffer.from([1]);

/** The nonce of frame number `counter`: 4 zero bytes, then the counter as u64 big-endian. */
export function counterNonce(counter: bigint): Buffer {
  const nonce = Buffer.alloc(NONCE_BYTES);
  nonce.writeBigUInt64BE(counter, 4);
  return nonce;
}

/**
 * Writes frame number `counter` into the last 8 bytes of `nonce`, as counterNonce does. Counters
 * are plain numbers on the hot path (a BigInt per frame was 1% of the server's time): exact up to
 * 2^53 frames, which no connection reaches.
 */
function writeCounter(nonce: Buffer, counter: number): void {
  nonce.writeUInt32BE(Math.floor(counter / 0x1_0000_0000), 4);
  nonce.writeUInt32BE(counter >>> 0, 8);
}

/**
 * The nonce of the frame being sealed or opened: 4 zero bytes, then the counter (see
 * counterNonce). One for every channel: each seal or open reads it right after its counter is
 * written and is done with it when it returns, so no two uses overlap.
 */
const sharedNonce = Buffer.alloc(NONCE_BYTES);

/** One side of a channel: seals what it sends, opens what it receives, each with its own counter. */
export class Channel {
  private sendCounter = 0;
  private receiveCounter = 0;
  private readonly sendKey: Buffer;
  private readonly receiveKey: Buffer;
  private readonly aead: Aead;

  constructor(sendKey: Uint8Array, receiveKey: Uint8Array, cipher: CipherName = DEFAULT_CIPHER) {
    this.aead = aeadFor(cipher);
    // Both keys in one array buffer, not one each: a server holds a channel per connection
    // (bench/connection-heap). Not from Node's shared pool: a slice that lives as long as its
    // connection would keep a whole 8 KiB slab of short-lived ones alive.
    const keys = Buffer.allocUnsafeSlow(2 * KEY_BYTES);
    this.sendKey = keys.subarray(0, KEY_BYTES);
    this.receiveKey = keys.subarray(KEY_BYTES);
    this.sendKey.set(sendKey);
    this.receiveKey.set(receiveKey);
  }

  static forServer(keys: DirectionKeys): Channel {
    return new Channel(keys.serverToClient, keys.clientToServer, keys.cipher);
  }

  static forClient(keys: DirectionKeys): Channel {
    return new Channel(keys.clientToServer, keys.serverToClient, keys.cipher);
  }

  /** Encrypts one frame payload: ciphertext followed by the 16-byte tag. */
  seal(plaintext: Uint8Array): Buffer {
    return this.sealInto(plaintext, 0);
  }

  /**
   * Encrypts a payload into a whole frame (4-byte length, ciphertext, tag), in one buffer: the
   * send path's one allocation and copy instead of two (seal, then encodeFrame).
   */
  sealFrame(plaintext: Uint8Array, into?: Scratch): Buffer {
    const frame = this.sealInto(plaintext, FRAME_HEADER_BYTES, into);
    frame.writeUInt32BE(frame.length - FRAME_HEADER_BYTES, 0);
    return frame;
  }

  /** Seals into a fresh buffer, or into `into` (valid until its next take). */
  private sealInto(plaintext: Uint8Array, offset: number, into?: Scratch): Buffer {
    writeCounter(sharedNonce, this.sendCounter++);
    const size = offset + plaintext.length + TAG_BYTES;
    const out = into ? into.take(size) : Buffer.allocUnsafe(size);
    this.aead.sealInto(this.sendKey, sharedNonce, plaintext, out, offset);
    return out;
  }

  /** Decrypts one frame payload into a fresh buffer; any failure is fatal for the connection (E_DECRYPT). */
  open(sealed: Buffer): Buffer {
    return this.openTo(sealed, undefined);
  }

  /**
   * Decrypts one frame payload into `into` (valid until its next take: a reader that is done with
   * the plaintext before it reads the next frame), and returns `into`'s buffer whole, the
   * plaintext being its first `sealed.length - TAG_BYTES` bytes: no view made a frame. Fails as
   * open does.
   */
  openInto(sealed: Buffer, into: Scratch): Buffer {
    return this.openTo(sealed, into.room(sealed.length - TAG_BYTES));
  }

  private openTo(sealed: Buffer, out: Buffer | undefined): Buffer {
    if (sealed.length < TAG_BYTES) {
      throw new ParleyError('E_DECRYPT', 'sealed frame shorter than its tag', { fatal: true });
    }
    writeCounter(sharedNonce, this.receiveCounter);
    const plain = this.aead.open(this.receiveKey, sharedNonce, sealed, out);
    if (plain === null) throw new ParleyError('E_DECRYPT', undefined, { fatal: true });
    this.receiveCounter++;
    return plain;
  }

  /** The frame cipher (aead.ts). */
  get cipher(): CipherName {
    return this.aead.name;
  }
}
