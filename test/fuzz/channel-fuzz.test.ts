/**
 * The channel, with each cipher, under fast-check: sealed frames open in order; any bit flip, truncation,
 * reorder, drop or replay fails with E_DECRYPT.
 */
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { AEAD_TAG_BYTES, CIPHERS, NATIVE_ADDON_PATH, NativeAead, NodeAead, SodiumChaCha, type Aead, type CipherName } from '../../src/crypto/aead.ts';
import { Channel, deriveKeys } from '../../src/crypto/channel.ts';
import { ParleyError } from '../../src/protocol/errors.ts';
import { fuzzOptions } from './settings.ts';

const keys = fc
  .tuple(fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.uint8Array({ minLength: 32, maxLength: 32 }), fc.constantFrom(...CIPHERS))
  .map(([secret, salt, cipher]) => deriveKeys(secret, salt, cipher));
const plaintexts = fc.array(fc.uint8Array({ maxLength: 1500 }), { minLength: 1, maxLength: 6 });

function pair(k: ReturnType<typeof deriveKeys>): { sender: Channel; receiver: Channel } {
  return { sender: Channel.forClient(k), receiver: Channel.forServer(k) };
}

function assertDecryptFails(open: () => unknown, what: string): void {
  try {
    open();
  } catch (err) {
    assert.instance(err, ParleyError);
    assert.is((err as ParleyError).code, 'E_DECRYPT', what);
    assert.ok((err as ParleyError).fatal);
    return;
  }
  assert.unreachable(`${what} opened`);
}

const require = createRequire(import.meta.url);
const native = existsSync(NATIVE_ADDON_PATH) ? require(NATIVE_ADDON_PATH) : null;
const sodium = new SodiumChaCha(require('sodium-native'));
function implementations(cipher: CipherName): Aead[] {
  return [new NodeAead(cipher), ...(cipher === 'chacha20-poly1305' ? [sodium] : []), ...(native ? [new NativeAead(native, cipher)] : [])];
}

test('every implementation of a cipher seals any plaintext under any key and nonce to the same bytes, opens the others\', and refuses a flipped bit', () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...CIPHERS),
      fc.uint8Array({ minLength: 32, maxLength: 32 }),
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.uint8Array({ maxLength: 5000 }),
      fc.nat(),
      (cipher, keyBytes, nonceBytes, plaintext, flip) => {
        const key = Buffer.from(keyBytes);
        const nonce = Buffer.from(nonceBytes);
        const aeads = implementations(cipher);
        const sealed = aeads.map((aead) => {
          const out = Buffer.alloc(plaintext.length + AEAD_TAG_BYTES);
          aead.sealInto(key, nonce, plaintext, out, 0);
          return out;
        });
        for (const frame of sealed) assert.equal(frame, sealed[0]);
        const flipped = Buffer.from(sealed[0]);
        flipped[flip % flipped.length] ^= 1 << flip % 8;
        for (const aead of aeads) {
          assert.equal(aead.open(key, nonce, sealed[0]), Buffer.from(plaintext));
          assert.is(aead.open(key, nonce, flipped), null);
        }
      },
    ),
    fuzzOptions(0.3),
  );
});

test('seal then open round trips any plaintexts, in order', () => {
  fc.assert(
    fc.property(keys, plaintexts, (k, texts) => {
      const { sender, receiver } = pair(k);
      const sealed = texts.map((t) => sender.seal(t));
      assert.equal(sealed.map((s) => receiver.open(s)), texts.map((t) => Buffer.from(t)));
    }),
    fuzzOptions(),
  );
});

test('any single bit flip in any sealed frame fails with E_DECRYPT', () => {
  fc.assert(
    fc.property(keys, plaintexts, fc.nat(), fc.nat(), (k, texts, which, bit) => {
      const { sender, receiver } = pair(k);
      const sealed = texts.map((t) => sender.seal(t));
      const i = which % sealed.length;
      const target = Buffer.from(sealed[i]);
      const at = bit % (target.length * 8);
      target[at >> 3] ^= 1 << (at & 7);
      for (let j = 0; j < i; j++) receiver.open(sealed[j]);
      assertDecryptFails(() => receiver.open(target), `frame ${i} with bit ${at} flipped`);
    }),
    fuzzOptions(),
  );
});

test('a truncated or extended sealed frame fails with E_DECRYPT', () => {
  fc.assert(
    fc.property(keys, fc.uint8Array({ maxLength: 600 }), fc.nat(), fc.boolean(), fc.uint8Array({ minLength: 1, maxLength: 8 }), (k, text, cut, fromEnd, extra) => {
      const { sender, receiver } = pair(k);
      const sealed = sender.seal(text);
      const n = 1 + (cut % sealed.length);
      const variants = [fromEnd ? sealed.subarray(0, sealed.length - n) : sealed.subarray(n), Buffer.concat([sealed, extra])];
      for (const v of variants) assertDecryptFails(() => receiver.open(v), `${v.length} of ${sealed.length} bytes`);
    }),
    fuzzOptions(),
  );
});

test('frames opened out of order, with one dropped, or replayed fail with E_DECRYPT', () => {
  fc.assert(
    fc.property(keys, fc.array(fc.uint8Array({ maxLength: 200 }), { minLength: 2, maxLength: 6 }), fc.nat(), fc.nat(), fc.constantFrom('swap', 'drop', 'replay'), (k, texts, a, b, how) => {
      const { sender, receiver } = pair(k);
      const sealed = texts.map((t) => sender.seal(t));
      const i = a % (sealed.length - 1);
      for (let j = 0; j < i; j++) receiver.open(sealed[j]);
      if (how === 'swap') {
        const j = i + 1 + (b % (sealed.length - 1 - i)); // a later frame first
        assertDecryptFails(() => receiver.open(sealed[j]), `frame ${j} before frame ${i}`);
      } else if (how === 'drop') {
        assertDecryptFails(() => receiver.open(sealed[i + 1]), `frame ${i + 1} after frame ${i} was dropped`);
      } else {
        receiver.open(sealed[i]);
        assertDecryptFails(() => receiver.open(sealed[i]), `frame ${i} replayed`);
        if (i > 0) assertDecryptFails(() => receiver.open(sealed[b % i]), `earlier frame ${b % i} replayed`);
      }
    }),
    fuzzOptions(),
  );
});

test('a frame sealed for the other direction or with other keys fails with E_DECRYPT', () => {
  fc.assert(
    fc.property(keys, keys, fc.uint8Array({ maxLength: 300 }), (k1, k2, text) => {
      fc.pre(!k1.clientToServer.equals(k2.clientToServer));
      assertDecryptFails(() => Channel.forClient(k1).open(Channel.forClient(k1).seal(text)), 'own direction reflected back');
      assertDecryptFails(() => Channel.forServer(k2).open(Channel.forClient(k1).seal(text)), 'other session keys');
    }),
    fuzzOptions(0.5),
  );
});

test.run();
