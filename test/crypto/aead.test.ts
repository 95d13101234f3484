import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { createCipheriv, randomBytes } from 'node:crypto';
import { AEAD_TAG_BYTES, aeadFor, HAVE_SODIUM, NodeAead, SodiumChaCha } from '../../src/crypto/aead.ts';

const key = Buffer.alloc(32, 0x42);
const nonce = Buffer.from('000000000000000000000007', 'hex');
const sodium = new SodiumChaCha(createRequire(import.meta.url)('sodium-native'));
const nodeChaCha = new NodeAead('chacha20-poly1305');

function seal(aead: { sealInto: SodiumChaCha['sealInto'] }, plaintext: Buffer, offset = 0): Buffer {
  const out = Buffer.alloc(offset + plaintext.length + AEAD_TAG_BYTES, 0xee);
  aead.sealInto(key, nonce, plaintext, out, offset);
  return out;
}

test('sodium-native loads here without install scripts (its prebuilt addon), so the server prefers ChaCha20-Poly1305', () => {
  assert.ok(HAVE_SODIUM);
  assert.instance(aeadFor('chacha20-poly1305'), SodiumChaCha);
  assert.instance(aeadFor('aes-256-gcm'), NodeAead);
});

test('ChaCha20-Poly1305: libsodium and node:crypto (OpenSSL) give the same bytes, and each opens the other', () => {
  for (const size of [0, 1, 63, 64, 65, 200, 3200, 70_000]) {
    const plaintext = randomBytes(size);
    const fromSodium = seal(sodium, plaintext);
    const fromNode = seal(nodeChaCha, plaintext);
    assert.equal(fromSodium, fromNode, `${size} bytes`);
    assert.equal(sodium.open(key, nonce, fromNode), plaintext);
    assert.equal(nodeChaCha.open(key, nonce, fromSodium), plaintext);
  }
});

test('AES-256-GCM on node:crypto is what createCipheriv gives', () => {
  const plaintext = Buffer.from('the same bytes as ever');
  const cipher = createCipheriv('aes-256-gcm', key, nonce);
  const expected = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
  assert.equal(seal(new NodeAead('aes-256-gcm'), plaintext), expected);
});

test('sealInto writes at the offset and leaves the bytes before it alone', () => {
  for (const aead of [sodium, nodeChaCha, aeadFor('aes-256-gcm')]) {
    const plaintext = Buffer.from('after a 4-byte header');
    const framed = seal(aead, plaintext, 4);
    assert.equal([...framed.subarray(0, 4)], [0xee, 0xee, 0xee, 0xee], aead.name);
    assert.equal(framed.subarray(4), seal(aead, plaintext), aead.name);
  }
});

test('every implementation refuses a flipped bit, a wrong nonce or key, and a truncated frame with null', () => {
  for (const aead of [sodium, nodeChaCha, aeadFor('aes-256-gcm')]) {
    const sealed = seal(aead, Buffer.from('pay alice 10 coins'));
    for (const i of [0, 5, sealed.length - AEAD_TAG_BYTES, sealed.length - 1]) {
      const flipped = Buffer.from(sealed);
      flipped[i] ^= 0x80;
      assert.is(aead.open(key, nonce, flipped), null, `${aead.name}: byte ${i}`);
    }
    assert.is(aead.open(key, Buffer.alloc(12), sealed), null, `${aead.name}: nonce`);
    assert.is(aead.open(Buffer.alloc(32), nonce, sealed), null, `${aead.name}: key`);
    assert.is(aead.open(key, nonce, sealed.subarray(0, sealed.length - 1)), null, `${aead.name}: truncated`);
    assert.is(aead.open(key, nonce, sealed.subarray(0, AEAD_TAG_BYTES)), null, `${aead.name}: tag alone`);
    assert.is(aead.open(key, nonce, sealed.subarray(0, AEAD_TAG_BYTES - 1)), null, `${aead.name}: shorter than a tag`);
  }
});

test('without libsodium (PARLEY_NO_SODIUM=1, or no prebuilt addon for the platform) node:crypto runs ChaCha20-Poly1305 and the server prefers AES-256-GCM', () => {
  const script = "const m = await import('./src/crypto/aead.ts'); console.log(JSON.stringify([m.HAVE_SODIUM, m.SERVER_CIPHERS, m.aeadFor('chacha20-poly1305').constructor.name]))";
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env: { ...process.env, PARLEY_NO_SODIUM: '1' }, encoding: 'utf8' });
  assert.equal(JSON.parse(out), [false, ['aes-256-gcm', 'chacha20-poly1305'], 'NodeAead']);
});

test.run();
