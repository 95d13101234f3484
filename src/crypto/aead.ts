/**
 * The frame ciphers a channel can run (docs/PROTOCOL.md, "Encrypted channel"): ChaCha20-Poly1305 (RFC 8439)
 * and AES-256-GCM, both with a 256-bit key, a 96-bit nonce and a 16-byte tag. The server offers
 * them in its hello, in its order of preference, and the client names its choice in its key
 * message; a peer that names none means AES-256-GCM, the only cipher before the choice existed.
 *
 * Three implementations, the fastest that loads first; all give the same bytes
 * (test/crypto/aead.test.ts), so each side may run any of them:
 * - native/aead.cc, built by `make` (node-gyp, against Node's own headers): both ciphers on the
 *   OpenSSL inside Node, with one cipher context per cipher and direction, re-keyed per frame.
 *   300 bytes sealed in ~0.45 µs (AES-256-GCM) or ~0.67 µs (ChaCha20-Poly1305), 4,000 bytes in
 *   ~1.1 or ~1.3 µs (docs/BENCHMARKS.md).
 * - libsodium (sodium-native, whose prebuilt addon loads without install scripts): ChaCha20-
 *   Poly1305 with no context to set up, but its prebuilt ChaCha20 is the portable C one: ~0.9 µs
 *   for 300 bytes, ~3.3 µs for 4,000, which was a sixth of the server's CPU in a fan-out to 1,000.
 * - node:crypto: a new OpenSSL context for every frame, and OpenSSL 3 looks the cipher up in its
 *   providers at every initialisation, ~2.5 µs of setup however small the frame.
 *
 * The server prefers AES-256-GCM where OpenSSL runs it on the CPU's AES instructions (fast, and
 * constant-time), else ChaCha20-Poly1305 where libsodium or the native addon runs it, else
 * AES-256-GCM, which node:crypto runs a little faster than its own ChaCha20.
 */
import { createCipheriv, createDecipheriv, type CipherGCMTypes } from 'node:crypto';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export type CipherName = 'chacha20-poly1305' | 'aes-256-gcm';

/** What a peer that names no cipher means (hellos and key messages from before the choice). */
export const DEFAULT_CIPHER: CipherName = 'aes-256-gcm';

export const AEAD_TAG_BYTES = 16;

/** One AEAD: a 32-byte key, a 12-byte nonce, no associated data, the tag after the ciphertext. */
export interface Aead {
  readonly name: CipherName;
  /** Writes the ciphertext and tag of `plaintext` into `out` at `offset` (room for both). */
  sealInto(key: Buffer, nonce: Buffer, plaintext: Uint8Array, out: Buffer, offset: number): void;
  /**
   * The plaintext of `sealed` (ciphertext, then tag), or null when it does not authenticate. It
   * is written into the start of `out` when given (at least the plaintext's length; it may hold
   * garbage after a null), which is returned whole, else into a new buffer of its length.
   */
  open(key: Buffer, nonce: Buffer, sealed: Buffer, out?: Buffer): Buffer | null;
}

/** An AEAD on node:crypto: a cipher object per frame. */
export class NodeAead implements Aead {
  private readonly algorithm: CipherGCMTypes | 'chacha20-poly1305';

  constructor(readonly name: CipherName) {
    this.algorithm = name === 'aes-256-gcm' ? 'aes-256-gcm' : 'chacha20-poly1305';
  }

  sealInto(key: Buffer, nonce: Buffer, plaintext: Uint8Array, out: Buffer, offset: number): void {
    const cipher = createCipheriv(this.algorithm as CipherGCMTypes, key, nonce, { authTagLength: AEAD_TAG_BYTES });
    const head = cipher.update(plaintext);
    const tail = cipher.final();
    head.copy(out, offset);
    tail.copy(out, offset + head.length);
    cipher.getAuthTag().copy(out, offset + head.length + tail.length);
  }

  open(key: Buffer, nonce: Buffer, sealed: Buffer, out?: Buffer): Buffer | null {
    if (sealed.length < AEAD_TAG_BYTES) return null;
    const decipher = createDecipheriv(this.algorithm as CipherGCMTypes, key, nonce, { authTagLength: AEAD_TAG_BYTES });
    decipher.setAuthTag(sealed.subarray(sealed.length - AEAD_TAG_BYTES));
    const body = decipher.update(sealed.subarray(0, sealed.length - AEAD_TAG_BYTES));
    let plain;
    try {
      const tail = decipher.final();
      plain = tail.length ? Buffer.concat([body, tail]) : body;
    } catch {
      return null;
    }
    if (out === undefined) return plain;
    plain.copy(out);
    return out;
  }
}

/** The part of sodium-native's API used here. */
interface Sodium {
  crypto_aead_chacha20poly1305_ietf_encrypt(out: Buffer, message: Uint8Array, ad: null, nsec: null, nonce: Buffer, key: Buffer): number;
  crypto_aead_chacha20poly1305_ietf_decrypt(out: Buffer, nsec: null, sealed: Buffer, ad: null, nonce: Buffer, key: Buffer): number;
}

/** ChaCha20-Poly1305 on libsodium: no per-frame object, no context to set up. */
export class SodiumChaCha implements Aead {
  readonly name = 'chacha20-poly1305';

  constructor(private readonly sodium: Sodium) {}

  sealInto(key: Buffer, nonce: Buffer, plaintext: Uint8Array, out: Buffer, offset: number): void {
    this.sodium.crypto_aead_chacha20poly1305_ietf_encrypt(out.subarray(offset, offset + plaintext.length + AEAD_TAG_BYTES), plaintext, null, null, nonce, key);
  }

  open(key: Buffer, nonce: Buffer, sealed: Buffer, out?: Buffer): Buffer | null {
    if (sealed.length < AEAD_TAG_BYTES) return null;
    const length = sealed.length - AEAD_TAG_BYTES;
    const plain = out ?? Buffer.allocUnsafe(length);
    try {
      // libsodium takes a plaintext buffer of exactly the plaintext's length.
      this.sodium.crypto_aead_chacha20poly1305_ietf_decrypt(plain.length === length ? plain : plain.subarray(0, length), null, sealed, null, nonce, key);
      return plain;
    } catch {
      return null; // sodium-native throws when the tag does not verify
    }
  }
}

/** libsodium if its prebuilt addon loads on this platform, else null. */
function loadSodium(): Sodium | null {
  if (process.env.PARLEY_NO_SODIUM === '1') return null;
  try {
    return createRequire(import.meta.url)('sodium-native') as Sodium;
  } catch {
    return null;
  }
}

/** native/aead.cc's exports. `cipher`: 0 AES-256-GCM, 1 ChaCha20-Poly1305. */
interface NativeCiphers {
  seal(cipher: number, key: Buffer, nonce: Buffer, plaintext: Uint8Array, out: Buffer, offset: number): void;
  open(cipher: number, key: Buffer, nonce: Buffer, sealed: Buffer, out: Buffer): boolean;
  /** the CPU has AES and carry-less multiply instructions */
  readonly hardwareAes: boolean;
}

const NATIVE_CIPHER_NUMBERS: Record<CipherName, number> = { 'aes-256-gcm': 0, 'chacha20-poly1305': 1 };

/** Both ciphers on the OpenSSL inside Node, through native/aead.cc. */
export class NativeAead implements Aead {
  private readonly cipher: number;

  constructor(
    private readonly native: NativeCiphers,
    readonly name: CipherName,
  ) {
    this.cipher = NATIVE_CIPHER_NUMBERS[name];
  }

  sealInto(key: Buffer, nonce: Buffer, plaintext: Uint8Array, out: Buffer, offset: number): void {
    this.native.seal(this.cipher, key, nonce, plaintext, out, offset);
  }

  open(key: Buffer, nonce: Buffer, sealed: Buffer, out?: Buffer): Buffer | null {
    if (sealed.length < AEAD_TAG_BYTES) return null;
    const plain = out ?? Buffer.allocUnsafe(sealed.length - AEAD_TAG_BYTES);
    return this.native.open(this.cipher, key, nonce, sealed, plain) ? plain : null;
  }
}

/** Where `make` builds native/aead.cc. */
export const NATIVE_ADDON_PATH = fileURLToPath(new URL('../../native/build/Release/parley_aead.node', import.meta.url));

/** native/aead.cc if it was built and loads, else null (PARLEY_NO_NATIVE=1: not even tried). */
function loadNative(): NativeCiphers | null {
  if (process.env.PARLEY_NO_NATIVE === '1') return null;
  try {
    return createRequire(import.meta.url)(NATIVE_ADDON_PATH) as NativeCiphers;
  } catch {
    return null;
  }
}

const native = loadNative();
const sodium = loadSodium();

/** Which implementation runs each cipher in this process. */
export const AEAD_IMPLEMENTATION: Record<CipherName, 'native' | 'sodium' | 'node:crypto'> = {
  'chacha20-poly1305': native ? 'native' : sodium ? 'sodium' : 'node:crypto',
  'aes-256-gcm': native ? 'native' : 'node:crypto',
};

const AEADS: Record<CipherName, Aead> = {
  'chacha20-poly1305': native ? new NativeAead(native, 'chacha20-poly1305') : sodium ? new SodiumChaCha(sodium) : new NodeAead('chacha20-poly1305'),
  'aes-256-gcm': native ? new NativeAead(native, 'aes-256-gcm') : new NodeAead('aes-256-gcm'),
};

/** Every cipher this process can run. */
export const CIPHERS = Object.keys(AEADS) as CipherName[];

/** Whether AES-256-GCM runs on OpenSSL through native/aead.cc, on the CPU's AES instructions. */
export const NATIVE_HARDWARE_AES = native?.hardwareAes === true;

/** The ciphers a server offers, fastest here first (see the top of this file). */
export const SERVER_CIPHERS: CipherName[] =
  NATIVE_HARDWARE_AES || AEAD_IMPLEMENTATION['chacha20-poly1305'] === 'node:crypto' ? ['aes-256-gcm', 'chacha20-poly1305'] : ['chacha20-poly1305', 'aes-256-gcm'];

export function isCipherName(name: unknown): name is CipherName {
  return typeof name === 'string' && Object.hasOwn(AEADS, name);
}

/** The implementation of `name`. */
export function aeadFor(name: CipherName): Aead {
  return AEADS[name];
}
