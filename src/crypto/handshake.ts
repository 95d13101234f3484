/**
 * The two clear-text handshake messages and the key agreement around them
 * (docs/PROTOCOL.md, "Handshake"):
 *
 *   server → client  hello {protocol, server, key (SPKI PEM), nonce (32 bytes), ciphers}
 *   client → server  key   {protocol, wrapped: RSA-OAEP-SHA256(server key, 32-byte secret), cipher}
 *
 * Both sides then derive the direction keys with HKDF(secret, salt = nonce), for the frame cipher
 * the client chose from those the server offers (aead.ts). The client wraps with
 * node-forge; the server unwraps with node:crypto, on libuv's thread pool (WebCrypto) or, when
 * the process has one core, on the event loop a few at a time (server/unwraps.ts).
 */
import { constants, privateDecrypt, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { z } from 'zod';
import { ParleyError } from '../protocol/errors.ts';
import { PROTOCOL_VERSION } from '../protocol/messages.ts';
import { CIPHERS, DEFAULT_CIPHER, isCipherName, SERVER_CIPHERS, type CipherName } from './aead.ts';
import { deriveKeys, SECRET_BYTES, type DirectionKeys } from './channel.ts';
import { privateKeyPkcs8Der } from './keys.ts';

export const HELLO_NONCE_BYTES = 32;
const base64 = z.string().max(4096).regex(/^[A-Za-z0-9+/]*={0,2}$/);

const Hello = z.object({
  type: z.literal('hello'),
  protocol: z.number().int(),
  server: z.string().max(100),
  key: z.string().max(4096),
  nonce: base64,
  /** the frame ciphers the server runs, preferred first; absent: AES-256-GCM alone */
  ciphers: z.array(z.string().max(40)).min(1).max(16).optional(),
});
export type Hello = z.infer<typeof Hello>;

/** `cipher` absent: AES-256-GCM (clients from before the choice). */
const KeyExchange = z.object({ type: z.literal('key'), protocol: z.number().int(), wrapped: base64, cipher: z.string().max(40).optional() });

function handshakeError(message: string): ParleyError {
  return new ParleyError('E_HANDSHAKE', message, { fatal: true });
}

function parseJson<T>(schema: z.ZodType<T>, payload: Buffer, what: string): T {
  let raw: unknown;
  try {
    raw = JSON.parse(payload.toString('utf8'));
  } catch {
    throw handshakeError(`${what} is not JSON`);
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw handshakeError(`${what} is malformed: ${parsed.error.issues[0].message}`);
  return parsed.data;
}

// ---- server side -----------------------------------------------------------------------

/** Nonces drawn from the system at a time (see Hellos). */
const NONCES_PER_DRAW = 256;

/**
 * The server's hellos. All but the nonce is the same in every hello, so it is serialised once; and
 * nonces are cut from a random block drawn NONCES_PER_DRAW at a time: a randomBytes call per
 * handshake was most of a hello's cost (7 of 11 µs). A nonce is public, and none is used twice.
 */
export class Hellos {
  private readonly head: Buffer;
  private readonly tail: Buffer;
  private nonces = Buffer.alloc(0);
  private used = 0;

  constructor(publicPem: string, serverName: string) {
    // The fields in Hello's order, as JSON.stringify would write them.
    this.head = Buffer.from(`{"type":"hello","protocol":${PROTOCOL_VERSION},"server":${JSON.stringify(serverName)},"key":${JSON.stringify(publicPem)},"nonce":"`);
    this.tail = Buffer.from(`","ciphers":${JSON.stringify(SERVER_CIPHERS)}}`);
  }

  /** The next hello's payload and the nonce the server must remember for the key derivation. */
  next(): { payload: Buffer; nonce: Buffer } {
    if (this.used === 0) this.nonces = randomBytes(HELLO_NONCE_BYTES * NONCES_PER_DRAW);
    const nonce = this.nonces.subarray(this.used * HELLO_NONCE_BYTES, (this.used + 1) * HELLO_NONCE_BYTES);
    this.used = (this.used + 1) % NONCES_PER_DRAW;
    return { payload: Buffer.concat([this.head, Buffer.from(nonce.toString('base64')), this.tail]), nonce };
  }
}

/** One hello's payload and nonce (tests; the server keeps one Hellos). */
export function createHello(publicPem: string, serverName: string): { payload: Buffer; nonce: Buffer } {
  return new Hellos(publicPem, serverName).next();
}

/** Imports the server's private key into WebCrypto once, at start-up. */
export function importUnwrapKey(privatePem: string): Promise<webcrypto.CryptoKey> {
  return webcrypto.subtle.importKey('pkcs8', privateKeyPkcs8Der(privatePem), { name: 'RSA-OAEP', hash: 'SHA-256' }, false, ['decrypt']);
}

/** Checks the client's key message: the wrapped secret (modulusBytes long) and the cipher it chose. */
function readKeyExchange(modulusBytes: number, payload: Buffer): { wrapped: Buffer; cipher: CipherName } {
  const message = parseJson(KeyExchange, payload, 'key exchange');
  if (message.protocol !== PROTOCOL_VERSION) {
    throw new ParleyError('E_PROTOCOL_VERSION', `client speaks protocol ${message.protocol}, server speaks ${PROTOCOL_VERSION}`, { fatal: true });
  }
  const cipher = message.cipher ?? DEFAULT_CIPHER;
  // Every cipher the server runs is offered in its hello.
  if (!isCipherName(cipher)) throw handshakeError(`client chose cipher '${cipher.slice(0, 40)}', which this server does not offer (${SERVER_CIPHERS.join(', ')})`);
  const wrapped = Buffer.from(message.wrapped, 'base64');
  if (wrapped.length !== modulusBytes) {
    throw handshakeError(`wrapped key is ${wrapped.length} bytes, expected ${modulusBytes}`);
  }
  return { wrapped, cipher };
}

function keysFromSecret(secret: Uint8Array, helloNonce: Buffer, cipher: CipherName): DirectionKeys {
  if (secret.byteLength !== SECRET_BYTES) throw handshakeError(`secret is ${secret.byteLength} bytes, expected ${SECRET_BYTES}`);
  return deriveKeys(secret, helloNonce, cipher);
}

const UNWRAP_FAILED = 'wrapped key does not decrypt with the server key';

/**
 * Checks the client's key message, unwraps the secret and derives the direction keys, with
 * WebCrypto: the RSA operation runs on libuv's thread pool, off the event loop.
 */
export async function acceptKeyExchange(
  unwrapKey: webcrypto.CryptoKey,
  modulusBytes: number,
  helloNonce: Buffer,
  payload: Buffer,
): Promise<DirectionKeys> {
  const { wrapped, cipher } = readKeyExchange(modulusBytes, payload);
  let secret: ArrayBuffer;
  try {
    secret = await webcrypto.subtle.decrypt({ name: 'RSA-OAEP' }, unwrapKey, wrapped);
  } catch {
    throw handshakeError(UNWRAP_FAILED);
  }
  return keysFromSecret(new Uint8Array(secret), helloNonce, cipher);
}

/**
 * The same as acceptKeyExchange, on the calling thread: `privateDecrypt` with the key as a
 * KeyObject (parsed once; given a PEM it parses the key on every call, 3x the cost). For a
 * process that has one core to run on, where the thread pool's hand-offs are pure cost
 * (server/unwraps.ts).
 */
export function acceptKeyExchangeNow(unwrapKey: KeyObject, modulusBytes: number, helloNonce: Buffer, payload: Buffer): DirectionKeys {
  const { wrapped, cipher } = readKeyExchange(modulusBytes, payload);
  let secret: Buffer;
  try {
    secret = privateDecrypt({ key: unwrapKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' }, wrapped);
  } catch {
    throw handshakeError(UNWRAP_FAILED);
  }
  return keysFromSecret(secret, helloNonce, cipher);
}

// ---- client side -----------------------------------------------------------------------

/** Validates the server's hello. The caller then checks `key` against its known servers. */
export function parseHello(payload: Buffer): Hello {
  const hello = parseJson(Hello, payload, 'server hello');
  if (hello.protocol !== PROTOCOL_VERSION) {
    throw new ParleyError('E_PROTOCOL_VERSION', `server speaks protocol ${hello.protocol}, this client speaks ${PROTOCOL_VERSION}`, { fatal: true });
  }
  if (Buffer.from(hello.nonce, 'base64').length !== HELLO_NONCE_BYTES) throw handshakeError('hello nonce must be 32 bytes');
  chooseCipher(hello);
  return hello;
}

/** The first of the server's ciphers that this client runs (the server lists its preferred first). */
export function chooseCipher(hello: Hello): CipherName {
  const offered = hello.ciphers ?? [DEFAULT_CIPHER];
  const chosen = offered.find(isCipherName);
  if (chosen === undefined) throw handshakeError(`server offers no cipher this client runs (it offers ${offered.join(', ').slice(0, 200)}; this client runs ${CIPHERS.join(', ')})`);
  return chosen;
}

/** Wraps `secret` for the server with node-forge RSA-OAEP, SHA-256 for both hash and MGF1. */
export function wrapSecret(publicPem: string, secret: Uint8Array): Buffer {
  let key: forge.pki.rsa.PublicKey;
  try {
    key = forge.pki.publicKeyFromPem(publicPem);
  } catch {
    throw handshakeError('server key is not an RSA public key');
  }
  let wrapped: string;
  try {
    wrapped = key.encrypt(Buffer.from(secret).toString('binary'), 'RSA-OAEP', {
      md: forge.md.sha256.create(),
      mgf1: { md: forge.md.sha256.create() },
    });
  } catch {
    // forge throws a bare Error when the modulus cannot hold an OAEP-SHA256 block (under 784 bits).
    throw handshakeError('server key is too small to wrap the session secret');
  }
  return Buffer.from(wrapped, 'binary');
}

/** The client's reply to a (trusted) hello, and the keys both sides will derive. */
export function clientKeyExchange(hello: Hello): { payload: Buffer; keys: DirectionKeys } {
  const cipher = chooseCipher(hello);
  const secret = randomBytes(SECRET_BYTES);
  const wrapped = wrapSecret(hello.key, secret);
  const payload = Buffer.from(JSON.stringify({ type: 'key', protocol: PROTOCOL_VERSION, wrapped: wrapped.toString('base64'), cipher }));
  return { payload, keys: deriveKeys(secret, Buffer.from(hello.nonce, 'base64'), cipher) };
}
