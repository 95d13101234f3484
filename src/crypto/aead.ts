/**
 * The frame ciphers a channel can run (docs/PROTOCOL.md, "Encrypted channel"): ChaCha20-Poly1305 (RFC 8439)
 * and AES-256-GCM, both with a 256-bit key, a 96-bit nonce and a 16-byte tag. The server offers
 * them in its hello, in its order of preference, and the client names its choice in its key
 * message; a peer that names none means AES-256-GCM, the only cipher before the choice existed.
 *
 * Why two: node:crypto builds a new OpenSSL context for every frame, and OpenSSL 3 looks the
 * cipher up in its providers at every initialisation, ~3 µs of setup however small the frame
 * (docs/BENCHMARKS.md). libsodium (sodium-native, whose prebuilt addon loads without install
 * scripts) seals from a key with no context to set up: a 200-byte frame in ~1.5 µs against ~4.9,
 * 3.2 KB in ~3.1 against ~6.2. A server that has libsodium prefers ChaCha20-Poly1305; one that does
 * not prefers AES-256-GCM, which node:crypto runs a little faster than its own ChaCha20. Both
 * implementations of ChaCha20-Poly1305 give the same bytes (test/crypto/aead.test.ts), so either
 * side may have libsodium or not.
 */
import { createCipheriv, createDecipheriv, type CipherGCMTypes } from 'node:crypto';
import { createRequire } from 'node:module';

export type CipherName = 'chacha20-poly1305' | 'aes-256-gcm';

/** What a peer that names no cipher means (hellos and key messages from before the choice). */
export const DEFAULT_CIPHER: CipherName = 'aes-256-gcm';

export const AEAD_TAG_BYTES = 16;

/** One AEAD: a 32-byte key, a 12-byte nonce, no associated data, the tag after the ciphertext. */
export interface Aead {
  readonly name: CipherName;
  /** Writes the ciphertext and tag of `plaintext` into `out` at `offset` (room for both). */
  sealInto(key: Buffer, nonce: Buffer, plaintext: Uint8Array, out: Buffer, offset: number): void;
  /** The plaintext of `sealed` (ciphertext, then tag), or null when it does not authenticate. */
  open(key: Buffer, nonce: Buffer, sealed: Buffer): Buffer | null;
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

  open(key: Buffer, nonce: Buffer, sealed: Buffer): Buffer | null {
    if (sealed.length < AEAD_TAG_BYTES) return null;
    const decipher = createDecipheriv(this.algorithm as CipherGCMTypes, key, nonce, { authTagLength: AEAD_TAG_BYTES });
    decipher.setAuthTag(sealed.subarray(sealed.length - AEAD_TAG_BYTES));
    const body = decipher.update(sealed.subarray(0, sealed.length - AEAD_TAG_BYTES));
    try {
      const tail = decipher.final();
      return tail.length ? Buffer.concat([body, tail]) : body;
    } catch {
      return null;
    }
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

  open(key: Buffer, nonce: Buffer, sealed: Buffer): Buffer | null {
    if (sealed.length < AEAD_TAG_BYTES) return null;
    const plain = Buffer.allocUnsafe(sealed.length - AEAD_TAG_BYTES);
    try {
      this.sodium.crypto_aead_chacha20poly1305_ietf_decrypt(plain, null, sealed, null, nonce, key);
      return plain;
    } catch {
      return null; // sodium-native throws when the tag does not verify
    }
  }
}

/** libsodium if its prebuilt addon loads on this platform, else null (node:crypto does it all). */
function loadSodium(): Sodium | null {
  if (process.env.PARLEY_NO_SODIUM === '1') return null;
  try {
    return createRequire(import.meta.url)('sodium-native') as Sodium;
  } catch {
    return null;
  }
}

const sodium = loadSodium();

/** Whether ChaCha20-Poly1305 runs on libsodium in this process. */
export const HAVE_SODIUM = sodium !== null;

const AEADS: Record<CipherName, Aead> = {
  'chacha20-poly1305': sodium ? new SodiumChaCha(sodium) : new NodeAead('chacha20-poly1305'),
  'aes-256-gcm': new NodeAead('aes-256-gcm'),
};

/** Every cipher this process can run. */
export const CIPHERS = Object.keys(AEADS) as CipherName[];

/** The ciphers a server offers, fastest here first. */
export const SERVER_CIPHERS: CipherName[] = HAVE_SODIUM ? ['chacha20-poly1305', 'aes-256-gcm'] : ['aes-256-gcm', 'chacha20-poly1305'];

export function isCipherName(name: unknown): name is CipherName {
  return typeof name === 'string' && Object.hasOwn(AEADS, name);
}

/** The implementation of `name`. */
export function aeadFor(name: CipherName): Aead {
  return AEADS[name];
}
