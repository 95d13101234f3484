import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { KeyObject, type webcrypto } from 'node:crypto';
import {
  acceptKeyExchange,
  acceptKeyExchangeNow,
  clientKeyExchange,
  createHello,
  Hellos,
  HELLO_NONCE_BYTES,
  importUnwrapKey,
  parseHello,
  wrapSecret,
} from '../../src/crypto/handshake.ts';
import { AEAD_IMPLEMENTATION, CIPHERS, DEFAULT_CIPHER, NATIVE_HARDWARE_AES, SERVER_CIPHERS, type CipherName } from '../../src/crypto/aead.ts';
import { Channel, type DirectionKeys } from '../../src/crypto/channel.ts';
import { generateKeyPair } from '../../src/crypto/keys.ts';
import type { ParleyError } from '../../src/protocol/errors.ts';
import { PROTOCOL_VERSION } from '../../src/protocol/messages.ts';
import { rejectsCode, throwsCode } from '../helpers/codes.ts';
import { pemKeyPair } from '../helpers/rsa.ts';

const MODULUS_BYTES = 256;
const server = generateKeyPair();
// A second 2048-bit key.
const other = pemKeyPair();
let unwrapKey: webcrypto.CryptoKey;

test.before(async () => {
  unwrapKey = await importUnwrapKey(server.privatePem);
});

/**
 * The server unwraps either with WebCrypto on the thread pool or with privateDecrypt on the loop
 * (server/unwraps.ts): both must give the same keys, or refuse with the same code and message.
 */
async function acceptBothWays(nonce: Buffer, payload: Buffer): Promise<DirectionKeys> {
  let now: { keys?: DirectionKeys; err?: ParleyError } = {};
  try {
    now = { keys: acceptKeyExchangeNow(KeyObject.from(unwrapKey), MODULUS_BYTES, nonce, payload) };
  } catch (err) {
    now = { err: err as ParleyError };
  }
  let keys: DirectionKeys;
  try {
    keys = await acceptKeyExchange(unwrapKey, MODULUS_BYTES, nonce, payload);
  } catch (err) {
    assert.ok(now.err, `privateDecrypt accepted what WebCrypto refused (${(err as Error).message})`);
    assert.is(now.err!.code, (err as ParleyError).code);
    assert.is(now.err!.message, (err as Error).message);
    throw err;
  }
  assert.ok(now.keys, `privateDecrypt refused what WebCrypto accepted (${now.err?.message})`);
  assert.ok(now.keys!.clientToServer.equals(keys.clientToServer) && now.keys!.serverToClient.equals(keys.serverToClient));
  assert.is(now.keys!.cipher, keys.cipher);
  return keys;
}

/** Handshake failures close the connection: each must also be fatal. */
function fatal(err: ParleyError): ParleyError {
  assert.is(err.fatal, true, `${err.code} is fatal`);
  return err;
}

const throwsSync = (fn: () => unknown, code: string) => fatal(throwsCode(fn, code));
const rejects = async (promise: Promise<unknown>, code: string) => fatal(await rejectsCode(promise, code));

const helloJson = (fields: Record<string, unknown>) =>
  Buffer.from(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, server: 'test', key: server.publicPem, nonce: Buffer.alloc(32, 1).toString('base64'), ...fields }));

test('createHello → parseHello round trip', () => {
  const { payload, nonce } = createHello(server.publicPem, 'parley-test');
  assert.is(nonce.length, HELLO_NONCE_BYTES);
  const hello = parseHello(payload);
  assert.is(hello.type, 'hello');
  assert.is(hello.protocol, PROTOCOL_VERSION);
  assert.is(hello.server, 'parley-test');
  assert.is(hello.key, server.publicPem);
  assert.ok(Buffer.from(hello.nonce, 'base64').equals(nonce));
  // a fresh nonce every time
  assert.not.ok(createHello(server.publicPem, 'x').nonce.equals(nonce));
});

test('Hellos: the same JSON as the hello written out whole, and no nonce twice, past one random draw', () => {
  const hellos = new Hellos(server.publicPem, 'parley "test"');
  const seen = new Set<string>();
  for (let i = 0; i < 600; i++) {
    const { payload, nonce } = hellos.next();
    const expected = { type: 'hello', protocol: PROTOCOL_VERSION, server: 'parley "test"', key: server.publicPem, nonce: nonce.toString('base64'), ciphers: SERVER_CIPHERS };
    assert.is(payload.toString(), JSON.stringify(expected));
    assert.is(nonce.length, HELLO_NONCE_BYTES);
    seen.add(nonce.toString('hex'));
  }
  assert.is(seen.size, 600);
});

test('parseHello rejects bad JSON, a wrong protocol and a wrong nonce size', () => {
  throwsSync(() => parseHello(Buffer.from('{not json')), 'E_HANDSHAKE');
  throwsSync(() => parseHello(Buffer.from('"hello"')), 'E_HANDSHAKE');
  throwsSync(() => parseHello(helloJson({ type: 'key' })), 'E_HANDSHAKE');
  throwsSync(() => parseHello(helloJson({ key: undefined })), 'E_HANDSHAKE');
  throwsSync(() => parseHello(helloJson({ nonce: 'not base64!' })), 'E_HANDSHAKE');
  throwsSync(() => parseHello(helloJson({ protocol: PROTOCOL_VERSION + 1 })), 'E_PROTOCOL_VERSION');
  throwsSync(() => parseHello(helloJson({ nonce: Buffer.alloc(31).toString('base64') })), 'E_HANDSHAKE');
  throwsSync(() => parseHello(helloJson({ nonce: Buffer.alloc(33).toString('base64') })), 'E_HANDSHAKE');
  assert.is(parseHello(helloJson({})).server, 'test');
});

test('clientKeyExchange → acceptKeyExchange (both ways) gives identical DirectionKeys on both sides', async () => {
  const { payload: helloPayload, nonce } = createHello(server.publicPem, 'parley-test');
  const hello = parseHello(helloPayload);
  const { payload, keys } = clientKeyExchange(hello);
  const serverKeys = await acceptBothWays(nonce, payload);
  assert.ok(serverKeys.clientToServer.equals(keys.clientToServer));
  assert.ok(serverKeys.serverToClient.equals(keys.serverToClient));
  // and the channels built on them talk
  const up = Channel.forClient(keys).seal(Buffer.from('hi server'));
  assert.is(Channel.forServer(serverKeys).open(up).toString(), 'hi server');
});

test('the server offers every cipher it runs, its fastest first', () => {
  assert.equal([...SERVER_CIPHERS].sort(), [...CIPHERS].sort());
  const chachaFast = AEAD_IMPLEMENTATION['chacha20-poly1305'] !== 'node:crypto';
  assert.is(SERVER_CIPHERS[0], NATIVE_HARDWARE_AES || !chachaFast ? 'aes-256-gcm' : 'chacha20-poly1305');
  const hello = parseHello(createHello(server.publicPem, 's').payload);
  assert.equal(hello.ciphers, SERVER_CIPHERS);
});

test('the client takes the first cipher the server offers that it runs, and both sides then use it', async () => {
  for (const [offered, chosen] of [
    [['chacha20-poly1305', 'aes-256-gcm'], 'chacha20-poly1305'],
    [['aes-256-gcm', 'chacha20-poly1305'], 'aes-256-gcm'],
    [['rot13', 'aes-256-gcm'], 'aes-256-gcm'],
    // a server from before the choice offers none: AES-256-GCM
    [undefined, 'aes-256-gcm'],
  ] as Array<[string[] | undefined, CipherName]>) {
    const nonce = Buffer.alloc(32, 9);
    const hello = parseHello(helloJson({ nonce: nonce.toString('base64'), ciphers: offered }));
    const { payload, keys } = clientKeyExchange(hello);
    assert.is(keys.cipher, chosen);
    assert.is(JSON.parse(payload.toString()).cipher, chosen);
    const serverKeys = await acceptBothWays(nonce, payload);
    assert.is(serverKeys.cipher, chosen);
    assert.ok(serverKeys.clientToServer.equals(keys.clientToServer));
    const client = Channel.forClient(keys);
    assert.is(client.cipher, chosen);
    assert.is(Channel.forServer(serverKeys).open(client.seal(Buffer.from('hi'))).toString(), 'hi');
  }
});

test('a hello offering no cipher the client runs is refused, naming both lists', () => {
  const err = throwsSync(() => parseHello(helloJson({ ciphers: ['rot13', 'des'] })), 'E_HANDSHAKE');
  assert.match(err.message, /offers rot13, des; this client runs/);
  throwsSync(() => parseHello(helloJson({ ciphers: [] })), 'E_HANDSHAKE');
  throwsSync(() => parseHello(helloJson({ ciphers: 'aes-256-gcm' })), 'E_HANDSHAKE');
});

test('a key message without a cipher (a client from before the choice) gets AES-256-GCM; one naming a cipher the server does not run is refused', async () => {
  const secret = Buffer.alloc(32, 5);
  const nonce = Buffer.alloc(32, 4);
  const wrapped = wrapSecret(server.publicPem, secret).toString('base64');
  const keys = await acceptBothWays(nonce, keyMessage({ wrapped }));
  assert.is(keys.cipher, DEFAULT_CIPHER);
  const err = fatal(await rejectsCode(acceptBothWays(nonce, keyMessage({ wrapped, cipher: 'rot13' })), 'E_HANDSHAKE'));
  assert.match(err.message, /cipher 'rot13'/);
  await rejects(acceptBothWays(nonce, keyMessage({ wrapped, cipher: 7 })), 'E_HANDSHAKE');
});

test('a cipher choice changed on the way gives the server other keys: the first frame fails, nothing is read with the wrong cipher', async () => {
  const nonce = Buffer.alloc(32, 6);
  const hello = parseHello(helloJson({ nonce: nonce.toString('base64'), ciphers: ['chacha20-poly1305', 'aes-256-gcm'] }));
  const { payload, keys } = clientKeyExchange(hello);
  const tampered = JSON.parse(payload.toString());
  tampered.cipher = 'aes-256-gcm';
  const serverKeys = await acceptBothWays(nonce, Buffer.from(JSON.stringify(tampered)));
  assert.is(serverKeys.cipher, 'aes-256-gcm');
  assert.not.ok(serverKeys.serverToClient.equals(keys.serverToClient));
  const welcome = Channel.forServer(serverKeys).seal(Buffer.from('{"type":"welcome"}'));
  throwsCode(() => Channel.forClient(keys).open(welcome), 'E_DECRYPT');
});

test('two exchanges give different keys (fresh secret each time)', () => {
  const hello = parseHello(createHello(server.publicPem, 's').payload);
  const a = clientKeyExchange(hello);
  const b = clientKeyExchange(hello);
  assert.not.ok(a.keys.clientToServer.equals(b.keys.clientToServer));
  assert.not.ok(a.payload.equals(b.payload));
});

const keyMessage = (fields: Record<string, unknown>) => Buffer.from(JSON.stringify({ type: 'key', protocol: PROTOCOL_VERSION, ...fields }));

test('both unwraps reject a wrapped key of the wrong size', async () => {
  const nonce = Buffer.alloc(32, 3);
  await rejects(acceptBothWays(nonce, keyMessage({ wrapped: Buffer.alloc(255).toString('base64') })), 'E_HANDSHAKE');
  await rejects(acceptBothWays(nonce, keyMessage({ wrapped: Buffer.alloc(257).toString('base64') })), 'E_HANDSHAKE');
  await rejects(acceptBothWays(nonce, keyMessage({ wrapped: '' })), 'E_HANDSHAKE');
});

test('both unwraps reject a key wrapped for a different server key', async () => {
  const wrapped = wrapSecret(other.publicKey, Buffer.alloc(32, 5));
  assert.is(wrapped.length, MODULUS_BYTES);
  await rejects(acceptBothWays(Buffer.alloc(32), keyMessage({ wrapped: wrapped.toString('base64') })), 'E_HANDSHAKE');
  // random bytes of the right size do not decrypt either
  await rejects(acceptBothWays(Buffer.alloc(32), keyMessage({ wrapped: Buffer.alloc(256, 0x42).toString('base64') })), 'E_HANDSHAKE');
});

test('both unwraps reject a secret of the wrong length', async () => {
  const wrapped = wrapSecret(server.publicPem, Buffer.alloc(16, 5));
  await rejects(acceptBothWays(Buffer.alloc(32), keyMessage({ wrapped: wrapped.toString('base64') })), 'E_HANDSHAKE');
});

test('both unwraps reject garbage JSON and a malformed message', async () => {
  const nonce = Buffer.alloc(32);
  await rejects(acceptBothWays(nonce, Buffer.from('\x00\x01garbage')), 'E_HANDSHAKE');
  await rejects(acceptBothWays(nonce, Buffer.from('{"type":"key"}')), 'E_HANDSHAKE');
  await rejects(acceptBothWays(nonce, keyMessage({ type: 'hello', wrapped: '' })), 'E_HANDSHAKE');
  await rejects(acceptBothWays(nonce, keyMessage({ wrapped: '***' })), 'E_HANDSHAKE');
});

test('both unwraps reject a wrong protocol', async () => {
  const wrapped = wrapSecret(server.publicPem, Buffer.alloc(32, 5)).toString('base64');
  await rejects(acceptBothWays(Buffer.alloc(32), keyMessage({ protocol: 99, wrapped })), 'E_PROTOCOL_VERSION');
});

test('wrapSecret refuses something that is not an RSA public key', () => {
  throwsSync(() => wrapSecret('-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n', Buffer.alloc(32)), 'E_HANDSHAKE');
  throwsSync(() => wrapSecret('', Buffer.alloc(32)), 'E_HANDSHAKE');
});

// Found by test/fuzz/handshake-fuzz.test.ts: forge threw a bare Error, which the client showed as E_INTERNAL.
test('a server key too small for RSA-OAEP-SHA256 is refused with E_HANDSHAKE, not a bare error', () => {
  const small = pemKeyPair(512);
  const hello = parseHello(createHello(small.publicKey, 'tiny').payload);
  throwsSync(() => clientKeyExchange(hello), 'E_HANDSHAKE');
});

test.run();
