import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createRequire } from 'node:module';
import { createCipheriv, randomBytes } from 'node:crypto';
import { AEAD_IMPLEMENTATION, AEAD_TAG_BYTES, aeadFor, NATIVE_ADDON_PATH, NATIVE_HARDWARE_AES, NativeAead, NodeAead, SERVER_CIPHERS, SodiumChaCha, type Aead, type CipherName } from '../../src/crypto/aead.ts';

const key = Buffer.alloc(32, 0x42);
const nonce = Buffer.from('000000000000000000000007', 'hex');
const require = createRequire(import.meta.url);
const sodium = new SodiumChaCha(require('sodium-native'));
const built = existsSync(NATIVE_ADDON_PATH);
const nativeModule = built ? require(NATIVE_ADDON_PATH) : null;

/** Every implementation of `cipher` this machine has. */
function implementations(cipher: CipherName): Aead[] {
  const all: Aead[] = [new NodeAead(cipher)];
  if (cipher === 'chacha20-poly1305') all.push(sodium);
  if (nativeModule) all.push(new NativeAead(nativeModule, cipher));
  return all;
}
const everyAead = [...implementations('chacha20-poly1305'), ...implementations('aes-256-gcm')];
const label = (aead: Aead) => `${aead.constructor.name} ${aead.name}`;

function seal(aead: Pick<Aead, 'sealInto'>, plaintext: Buffer, offset = 0): Buffer {
  const out = Buffer.alloc(offset + plaintext.length + AEAD_TAG_BYTES, 0xee);
  aead.sealInto(key, nonce, plaintext, out, offset);
  return out;
}

test('every implementation opens into the buffer it is given, and reports a forgery there as null', () => {
  for (const aead of everyAead) {
    for (const size of [0, 1, 300, 5000]) {
      const plaintext = randomBytes(size);
      const out = Buffer.alloc(size, 0xee);
      assert.is(aead.open(key, nonce, seal(aead, plaintext), out), out, `${label(aead)}, ${size} bytes: into out`);
      assert.equal(out, plaintext, `${label(aead)}, ${size} bytes`);
    }
    const forged = seal(aead, Buffer.from('pay alice 10 coins'));
    forged[0] ^= 1;
    assert.is(aead.open(key, nonce, forged, Buffer.alloc(forged.length - AEAD_TAG_BYTES)), null, `${label(aead)}: forged`);
  }
});

test('the fastest implementation that loads runs each cipher: native/aead.cc once `make` has built it, and the server prefers AES-256-GCM on AES instructions', () => {
  // `make` builds native/aead.cc with Node's own headers, where its installation has them (the Makefile's NODEDIR).
  const headers = existsSync(resolve(process.execPath, '../../include/node/node_api.h'));
  assert.is(built, headers, `native/aead.cc is built (${NATIVE_ADDON_PATH}) where Node's headers are`);
  if (!built) return; // the fallbacks are tested below
  assert.equal(AEAD_IMPLEMENTATION, { 'chacha20-poly1305': 'native', 'aes-256-gcm': 'native' });
  assert.instance(aeadFor('chacha20-poly1305'), NativeAead);
  assert.instance(aeadFor('aes-256-gcm'), NativeAead);
  assert.is(NATIVE_HARDWARE_AES, /\baes\b/.test(readCpuFlags()) && /\bpclmulqdq\b/.test(readCpuFlags()));
  assert.is(SERVER_CIPHERS[0], NATIVE_HARDWARE_AES ? 'aes-256-gcm' : 'chacha20-poly1305');
});

function readCpuFlags(): string {
  return execFileSync('sh', ['-c', "grep -m1 '^flags' /proc/cpuinfo || true"], { encoding: 'utf8' });
}

test('every implementation of a cipher gives the same bytes, and each opens what the others seal', () => {
  for (const cipher of ['chacha20-poly1305', 'aes-256-gcm'] as const) {
    const aeads = implementations(cipher);
    assert.is(aeads.length, 1 + (cipher === 'chacha20-poly1305' ? 1 : 0) + (built ? 1 : 0), `${cipher}: ${aeads.map(label).join(', ')}`);
    for (const size of [0, 1, 15, 16, 17, 63, 64, 65, 200, 3200, 70_000]) {
      const plaintext = randomBytes(size);
      const sealed = aeads.map((aead) => seal(aead, plaintext));
      for (let i = 1; i < aeads.length; i++) assert.equal(sealed[i], sealed[0], `${label(aeads[i])}, ${size} bytes`);
      for (const opener of aeads) for (const frame of sealed) assert.equal(opener.open(key, nonce, frame), plaintext, `${label(opener)} opens ${size} bytes`);
      // Into room longer than the plaintext (a scratch buffer): written at its start, returned whole.
      for (const opener of aeads) {
        const room = Buffer.alloc(size + 40, 0xee);
        assert.is(opener.open(key, nonce, sealed[0], room), room, `${label(opener)} returns the room`);
        assert.equal(room.subarray(0, size), plaintext, `${label(opener)} opens ${size} bytes into longer room`);
      }
    }
  }
});

test('AES-256-GCM and ChaCha20-Poly1305 are what createCipheriv gives', () => {
  const plaintext = Buffer.from('the same bytes as ever');
  for (const cipher of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
    const reference = createCipheriv(cipher as 'aes-256-gcm', key, nonce, { authTagLength: 16 });
    const expected = Buffer.concat([reference.update(plaintext), reference.final(), reference.getAuthTag()]);
    for (const aead of implementations(cipher)) assert.equal(seal(aead, plaintext), expected, label(aead));
  }
});

test('RFC 8439 2.8.2: every ChaCha20-Poly1305 gives the RFC\'s ciphertext', () => {
  // The RFC's key, nonce and plaintext. Its vector has 12 bytes of additional data, which channels
  // do not use: they change the tag, not the ciphertext, so the ciphertext is checked here.
  const rfcKey = Buffer.from('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f', 'hex');
  const rfcNonce = Buffer.from('070000004041424344454647', 'hex');
  const plaintext = Buffer.from("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.");
  const rfcCiphertext = 'd31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116';
  for (const aead of implementations('chacha20-poly1305')) {
    const out = Buffer.alloc(plaintext.length + AEAD_TAG_BYTES);
    aead.sealInto(rfcKey, rfcNonce, plaintext, out, 0);
    assert.is(out.subarray(0, plaintext.length).toString('hex'), rfcCiphertext, label(aead));
  }
});

test('sealInto writes at the offset and leaves the bytes before it alone', () => {
  for (const aead of everyAead) {
    const plaintext = Buffer.from('after a 4-byte header');
    const framed = seal(aead, plaintext, 4);
    assert.equal([...framed.subarray(0, 4)], [0xee, 0xee, 0xee, 0xee], label(aead));
    assert.equal(framed.subarray(4), seal(aead, plaintext), label(aead));
  }
});

test('every implementation refuses a flipped bit, a wrong nonce or key, and a truncated frame with null', () => {
  for (const aead of everyAead) {
    const sealed = seal(aead, Buffer.from('pay alice 10 coins'));
    for (const i of [0, 5, sealed.length - AEAD_TAG_BYTES, sealed.length - 1]) {
      const flipped = Buffer.from(sealed);
      flipped[i] ^= 0x80;
      assert.is(aead.open(key, nonce, flipped), null, `${label(aead)}: byte ${i}`);
    }
    assert.is(aead.open(key, Buffer.alloc(12), sealed), null, `${label(aead)}: nonce`);
    assert.is(aead.open(Buffer.alloc(32), nonce, sealed), null, `${label(aead)}: key`);
    assert.is(aead.open(key, nonce, sealed.subarray(0, sealed.length - 1)), null, `${label(aead)}: truncated`);
    assert.is(aead.open(key, nonce, sealed.subarray(0, AEAD_TAG_BYTES)), null, `${label(aead)}: tag alone`);
    assert.is(aead.open(key, nonce, sealed.subarray(0, AEAD_TAG_BYTES - 1)), null, `${label(aead)}: shorter than a tag`);
    // and a good frame still opens after all that (no state left behind by a failure)
    assert.equal(aead.open(key, nonce, sealed), Buffer.from('pay alice 10 coins'), `${label(aead)}: after failures`);
  }
});

test('native/aead.cc trusts no length: wrong sizes and types throw, nothing is written out of bounds', () => {
  if (!nativeModule) return; // not built here: the first test says whether it should have been
  const native = nativeModule;
  const plaintext = Buffer.from('sixteen bytes!!!');
  const out = Buffer.alloc(plaintext.length + AEAD_TAG_BYTES + 8, 0xee);
  const throwsAll = (call: () => unknown, what: string) => assert.throws(call, (err: Error) => err instanceof TypeError || err instanceof RangeError, what);
  throwsAll(() => native.seal(2, key, nonce, plaintext, out, 0), 'cipher 2');
  throwsAll(() => native.seal(-1, key, nonce, plaintext, out, 0), 'cipher -1');
  throwsAll(() => native.seal(0, key.subarray(1), nonce, plaintext, out, 0), 'short key');
  throwsAll(() => native.seal(0, key, Buffer.alloc(16), plaintext, out, 0), 'long nonce');
  throwsAll(() => native.seal(0, key, nonce, plaintext, out, 9), 'no room for the tag at offset 9');
  throwsAll(() => native.seal(0, key, nonce, plaintext, out, -1), 'negative offset');
  throwsAll(() => native.seal(0, key, nonce, plaintext, out, 1e12), 'offset past the end');
  throwsAll(() => native.seal(0, key, nonce, plaintext, out, 2 ** 32 + 8), 'an offset that would wrap to 8 as an int32');
  throwsAll(() => native.seal(0, key, nonce, plaintext, out, 0.5), 'a fractional offset');
  throwsAll(() => native.seal(0, key, nonce, plaintext, out, Number.NaN), 'NaN');
  throwsAll(() => native.seal(2 ** 32, key, nonce, plaintext, out, 0), 'a cipher number that would wrap to 0');
  throwsAll(() => native.seal(0, key, nonce, 'a string', out, 0), 'a string for a plaintext');
  throwsAll(() => native.seal(0, key, nonce, new Uint16Array(4), out, 0), 'a Uint16Array');
  throwsAll(() => native.seal(0, key, nonce, plaintext, out), 'a missing argument');
  assert.ok(out.every((byte: number) => byte === 0xee), 'nothing written by a refused seal');
  native.seal(0, key, nonce, plaintext, out, 8);
  const sealed = out.subarray(8);
  throwsAll(() => native.open(0, key, nonce, sealed, Buffer.alloc(plaintext.length - 1)), 'out too short for the plaintext');
  throwsAll(() => native.open(0, key, nonce, sealed.subarray(0, 15), Buffer.alloc(64)), 'shorter than a tag');
  const opened = Buffer.alloc(plaintext.length);
  assert.ok(native.open(0, key, nonce, sealed, opened));
  assert.equal(opened, plaintext);
});

test('without the native addon (PARLEY_NO_NATIVE=1, or not built) libsodium runs ChaCha20-Poly1305 and the server prefers it; without libsodium too (PARLEY_NO_SODIUM=1), node:crypto runs both and the server prefers AES-256-GCM', () => {
  const script = "const m = await import('./src/crypto/aead.ts'); console.log(JSON.stringify([m.AEAD_IMPLEMENTATION, m.SERVER_CIPHERS]))";
  const run = (env: Record<string, string>) => JSON.parse(execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' }));
  assert.equal(run({ PARLEY_NO_NATIVE: '1' }), [{ 'chacha20-poly1305': 'sodium', 'aes-256-gcm': 'node:crypto' }, ['chacha20-poly1305', 'aes-256-gcm']]);
  assert.equal(run({ PARLEY_NO_NATIVE: '1', PARLEY_NO_SODIUM: '1' }), [{ 'chacha20-poly1305': 'node:crypto', 'aes-256-gcm': 'node:crypto' }, ['aes-256-gcm', 'chacha20-poly1305']]);
});

test.run();
