/**
 * The handshake under fast-check: hellos and key messages, valid ones mutated field by field or
 * byte by byte, or junk. Each side either accepts or refuses with a fatal E_HANDSHAKE or
 * E_PROTOCOL_VERSION, within a bounded time; a valid exchange always agrees on the keys.
 * RSA is slow, so one key pair per file and fewer runs for the properties that use it.
 */
import { generateKeyPairSync, KeyObject, type webcrypto } from 'node:crypto';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CIPHERS } from '../../src/crypto/aead.ts';
import { Channel, type DirectionKeys } from '../../src/crypto/channel.ts';
import { acceptKeyExchange, acceptKeyExchangeNow, chooseCipher, clientKeyExchange, createHello, importUnwrapKey, parseHello, type Hello } from '../../src/crypto/handshake.ts';
import { ParleyError } from '../../src/protocol/errors.ts';
import { anyJson } from './arbitraries.ts';
import { anyString, fuzzOptions } from './settings.ts';
import { pemKeyPair } from '../helpers/rsa.ts';
import { within } from '../e2e/helpers.ts';

const server = pemKeyPair(2048);
const MODULUS_BYTES = 256;
// Keys a hostile or broken server might present instead of its own.
const otherKeys = [
  pemKeyPair(512).publicKey,
  pemKeyPair(1024).publicKey,
  generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } }).publicKey,
  generateKeyPairSync('ed25519', { publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } }).publicKey,
  server.privateKey,
];
let unwrapKey: webcrypto.CryptoKey;

test.before(async () => {
  unwrapKey = await importUnwrapKey(server.privateKey);
});

const HANDSHAKE_CODES = ['E_HANDSHAKE', 'E_PROTOCOL_VERSION'];

function assertHandshakeError(err: unknown): void {
  assert.instance(err, ParleyError, `not a ParleyError: ${String(err)}`);
  const e = err as ParleyError;
  assert.ok(HANDSHAKE_CODES.includes(e.code), `${e.code}: ${e.message}`);
  assert.ok(e.fatal, `${e.code} must be fatal`);
}

const base64Of = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

/** Field values a mutation may put in: near misses first, then anything. */
const fieldValues = fc.oneof(
  fc.constantFrom<unknown>(0, 2, -1, 1.5, 1e308, '1', null, true, [], {}, '', '====', 'not base64!', 'hello', 'key', '-----BEGIN PUBLIC KEY-----'),
  fc.constantFrom<unknown>('aes-256-gcm', 'chacha20-poly1305', 'AES-256-GCM', ['aes-256-gcm'], ['chacha20-poly1305'], ['rot13'], ['rot13', 'aes-256-gcm'], [1, 'chacha20-poly1305']),
  fc.uint8Array({ maxLength: 300 }).map(base64Of),
  fc.constantFrom(...otherKeys),
  anyString({ maxLength: 120 }),
  anyJson,
);

/**
 * A mutation of a JSON handshake message: set or delete a field, edit bytes of its text, or
 * replace it wholesale. Returned as data so fast-check can show and shrink it.
 */
type Mutation =
  | { op: 'set'; field: string; value: unknown }
  | { op: 'delete'; field: string }
  | { op: 'bytes'; edits: Array<[number, number, 'flip' | 'set' | 'insert' | 'delete']> }
  | { op: 'replace'; bytes: Uint8Array };

function mutation(fields: string[]): fc.Arbitrary<Mutation> {
  return fc.oneof(
    { weight: 4, arbitrary: fc.record({ op: fc.constant('set' as const), field: fc.constantFrom(...fields, 'extra'), value: fieldValues }) },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('delete' as const), field: fc.constantFrom(...fields) }) },
    {
      weight: 4,
      arbitrary: fc.record({
        op: fc.constant('bytes' as const),
        edits: fc.array(fc.tuple(fc.nat(), fc.nat(255), fc.constantFrom('flip' as const, 'set' as const, 'insert' as const, 'delete' as const)), { minLength: 1, maxLength: 4 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ op: fc.constant('replace' as const), bytes: fc.oneof(fc.uint8Array({ maxLength: 600 }), anyJson.map((v) => Buffer.from(JSON.stringify(v) ?? ''))) }) },
  );
}

function mutate(payload: Buffer, m: Mutation): Buffer {
  switch (m.op) {
    case 'set':
    case 'delete': {
      const object = JSON.parse(payload.toString('utf8')) as Record<string, unknown>;
      if (m.op === 'set') object[m.field] = m.value;
      else delete object[m.field];
      return Buffer.from(JSON.stringify(object));
    }
    case 'bytes': {
      const bytes = [...payload];
      for (const [at, value, edit] of m.edits) {
        const i = at % (bytes.length + 1);
        if (edit === 'insert') bytes.splice(i, 0, value);
        else if (i < bytes.length) {
          if (edit === 'flip') bytes[i] ^= 1 << (value % 8);
          else if (edit === 'set') bytes[i] = value;
          else bytes.splice(i, 1);
        }
      }
      return Buffer.from(bytes);
    }
    case 'replace':
      return Buffer.from(m.bytes);
  }
}

const serverName = anyString({ maxLength: 100 });

test('parseHello accepts a well-formed hello or refuses with a fatal handshake code', () => {
  fc.assert(
    fc.property(serverName, mutation(['type', 'protocol', 'server', 'key', 'nonce', 'ciphers']), (name, m) => {
      const payload = mutate(createHello(server.publicKey, name).payload, m);
      let hello: Hello;
      try {
        hello = parseHello(payload);
      } catch (err) {
        assertHandshakeError(err);
        return;
      }
      assert.is(hello.type, 'hello');
      assert.is(hello.protocol, 1);
      assert.is(Buffer.from(hello.nonce, 'base64').length, 32);
      assert.type(hello.key, 'string');
      assert.type(hello.server, 'string');
      assert.ok(CIPHERS.includes(chooseCipher(hello)));
    }),
    fuzzOptions(),
  );
});

test('clientKeyExchange answers any accepted hello, or refuses its key with E_HANDSHAKE', () => {
  fc.assert(
    fc.property(fc.oneof(fc.constantFrom(...otherKeys), fieldValues.filter((v): v is string => typeof v === 'string' && v.length <= 4096)), fc.nat(), (key, seed) => {
      const hello = JSON.parse(createHello(server.publicKey, 'fuzz').payload.toString()) as Hello;
      // A near miss of the real key (one character of the PEM changed), another key, or anything.
      const at = 27 + (seed % 360);
      const pem = [server.publicKey.slice(0, at) + String.fromCharCode(33 + (seed % 90)) + server.publicKey.slice(at + 1), otherKeys[seed % otherKeys.length], key][seed % 3];
      let accepted: Hello;
      try {
        accepted = parseHello(Buffer.from(JSON.stringify({ ...hello, key: pem })));
      } catch (err) {
        assertHandshakeError(err);
        return;
      }
      try {
        const { payload, keys } = clientKeyExchange(accepted);
        assert.is(JSON.parse(payload.toString()).type, 'key');
        assert.is(keys.clientToServer.length, 32);
      } catch (err) {
        assertHandshakeError(err);
      }
    }),
    fuzzOptions(0.5),
  );
});

test('both unwraps (WebCrypto and privateDecrypt) on mutated key messages derive the client keys or refuse with the same fatal code', async () => {
  const hello = parseHello(createHello(server.publicKey, 'fuzz').payload);
  const nonce = Buffer.from(hello.nonce, 'base64');
  await fc.assert(
    fc.asyncProperty(
      mutation(['type', 'protocol', 'wrapped', 'cipher']),
      fc.option(fc.uint8Array({ minLength: MODULUS_BYTES, maxLength: MODULUS_BYTES }), { freq: 4 }),
      async (m, randomWrapped) => {
        const exchange = clientKeyExchange(hello);
        let payload = exchange.payload;
        // A wrapped key of the right size that is not an OAEP encryption of a secret.
        if (randomWrapped) payload = Buffer.from(JSON.stringify({ type: 'key', protocol: 1, wrapped: base64Of(randomWrapped) }));
        payload = mutate(payload, m);
        const outcome = async (unwrap: () => unknown) => {
          try {
            return await unwrap();
          } catch (err) {
            assertHandshakeError(err);
            return (err as ParleyError).code;
          }
        };
        // Bounded: a hang is a failure, not a slow pass.
        const inPool = await outcome(() => within(acceptKeyExchange(unwrapKey, MODULUS_BYTES, nonce, payload), 5000, 'the unwrap'));
        const onLoop = await outcome(() => acceptKeyExchangeNow(KeyObject.from(unwrapKey), MODULUS_BYTES, nonce, payload));
        // Accepted: only the client's own secret can have got through; with the cipher changed on
        // the way, the keys differ from the client's, so its first frame would not open.
        if (typeof inPool !== 'string') {
          const keys = inPool as DirectionKeys;
          if (keys.cipher === exchange.keys.cipher) assert.equal(keys, exchange.keys, `accepted a key message the client did not send: ${payload.toString().slice(0, 120)}`);
          else assert.not.ok(keys.serverToClient.equals(exchange.keys.serverToClient), 'another cipher, the same keys');
        }
        assert.equal(onLoop, inPool, 'privateDecrypt on the loop and WebCrypto agree');
      },
    ),
    fuzzOptions(0.25),
  );
});

test('a valid exchange always derives equal keys on both sides, and the channel works both ways', async () => {
  await fc.assert(
    fc.asyncProperty(serverName, fc.array(fc.uint8Array({ maxLength: 256 }), { minLength: 1, maxLength: 4 }), async (name, plaintexts) => {
      const { payload, nonce } = createHello(server.publicKey, name);
      const hello = parseHello(payload);
      assert.is(hello.server, name);
      const exchange = clientKeyExchange(hello);
      const serverKeys = await within(acceptKeyExchange(unwrapKey, MODULUS_BYTES, nonce, exchange.payload), 5000, 'the unwrap');
      assert.equal(serverKeys, exchange.keys);
      const client = Channel.forClient(exchange.keys);
      const server_ = Channel.forServer(serverKeys);
      for (const p of plaintexts) {
        assert.equal(server_.open(client.seal(p)), Buffer.from(p));
        assert.equal(client.open(server_.seal(p)), Buffer.from(p));
      }
    }),
    fuzzOptions(0.1),
  );
});

test.run();
