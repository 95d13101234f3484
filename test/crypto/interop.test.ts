/**
 * Decision 1: node-forge and node:crypto must interoperate both ways, on the same vectors.
 * RSA-OAEP with SHA-256 for both hash and MGF1, and AES-256-GCM with the counter nonces.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { constants, publicEncrypt, randomBytes, webcrypto } from 'node:crypto';
import forge from 'node-forge';
import { Channel, counterNonce, deriveKeys, TAG_BYTES } from '../../src/crypto/channel.ts';
import { importUnwrapKey, wrapSecret } from '../../src/crypto/handshake.ts';
import { generateKeyPair, privateKeyPkcs8Der } from '../../src/crypto/keys.ts';
import { ParleyError } from '../../src/protocol/errors.ts';

const pair = generateKeyPair();

const secrets = [Buffer.alloc(32, 0), Buffer.alloc(32, 0xff), Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex'), randomBytes(32)];

test('RSA-OAEP-SHA256: forge wraps (wrapSecret), WebCrypto subtle.decrypt unwraps', async () => {
  const key = await importUnwrapKey(pair.privatePem);
  for (const secret of secrets) {
    const wrapped = wrapSecret(pair.publicPem, secret);
    assert.is(wrapped.length, 256);
    const plain = Buffer.from(await webcrypto.subtle.decrypt({ name: 'RSA-OAEP' }, key, wrapped));
    assert.ok(plain.equals(secret), secret.toString('hex'));
  }
});

test('RSA-OAEP-SHA256: node:crypto publicEncrypt wraps, forge privateKey.decrypt unwraps', () => {
  const privateKey = forge.pki.privateKeyFromPem(pair.privatePem);
  for (const secret of secrets) {
    const wrapped = publicEncrypt({ key: pair.publicPem, oaepHash: 'sha256', padding: constants.RSA_PKCS1_OAEP_PADDING }, secret);
    const plain = privateKey.decrypt(wrapped.toString('binary'), 'RSA-OAEP', {
      md: forge.md.sha256.create(),
      mgf1: { md: forge.md.sha256.create() },
    });
    assert.ok(Buffer.from(plain, 'binary').equals(secret), secret.toString('hex'));
  }
});

test('RSA-OAEP: forge with SHA-1 MGF1 does not decrypt what node wrapped with SHA-256 (the parameters matter)', () => {
  const privateKey = forge.pki.privateKeyFromPem(pair.privatePem);
  const wrapped = publicEncrypt({ key: pair.publicPem, oaepHash: 'sha256', padding: constants.RSA_PKCS1_OAEP_PADDING }, secrets[2]);
  assert.throws(() => privateKey.decrypt(wrapped.toString('binary'), 'RSA-OAEP', { md: forge.md.sha256.create(), mgf1: { md: forge.md.sha1.create() } }));
});

test('the PKCS#8 DER that WebCrypto imports is the same key forge holds', async () => {
  const der = privateKeyPkcs8Der(pair.privatePem);
  const key = await webcrypto.subtle.importKey('pkcs8', der, { name: 'RSA-OAEP', hash: 'SHA-256' }, true, ['decrypt']);
  const jwk = await webcrypto.subtle.exportKey('jwk', key);
  const forgeKey = forge.pki.privateKeyFromPem(pair.privatePem);
  assert.is(Buffer.from(jwk.n!, 'base64url').toString('hex').replace(/^0+/, ''), forgeKey.n.toString(16));
});

// ---- AES-256-GCM ------------------------------------------------------------------------

const vectors = [
  { secret: Buffer.alloc(32, 1), salt: Buffer.alloc(32, 2), plaintexts: ['', 'a', 'hello, forge', '日本語 😄 emoji', 'x'.repeat(1000)] },
  { secret: randomBytes(32), salt: randomBytes(32), plaintexts: [randomBytes(17).toString('binary'), randomBytes(4096).toString('binary')] },
];

function forgeSeal(key: Buffer, counter: bigint, plaintext: Buffer): Buffer {
  const cipher = forge.cipher.createCipher('AES-GCM', forge.util.createBuffer(key.toString('binary')));
  cipher.start({ iv: forge.util.createBuffer(counterNonce(counter).toString('binary')), tagLength: 128 });
  cipher.update(forge.util.createBuffer(plaintext.toString('binary')));
  assert.ok(cipher.finish());
  return Buffer.concat([Buffer.from(cipher.output.getBytes(), 'binary'), Buffer.from(cipher.mode.tag.getBytes(), 'binary')]);
}

function forgeOpen(key: Buffer, counter: bigint, sealed: Buffer): Buffer | null {
  const decipher = forge.cipher.createDecipher('AES-GCM', forge.util.createBuffer(key.toString('binary')));
  decipher.start({
    iv: forge.util.createBuffer(counterNonce(counter).toString('binary')),
    tagLength: 128,
    tag: forge.util.createBuffer(sealed.subarray(sealed.length - TAG_BYTES).toString('binary')),
  });
  decipher.update(forge.util.createBuffer(sealed.subarray(0, sealed.length - TAG_BYTES).toString('binary')));
  if (!decipher.finish()) return null;
  return Buffer.from(decipher.output.getBytes(), 'binary');
}

test('AES-256-GCM: what forge seals, Channel.open opens (same keys, counter nonces)', () => {
  for (const { secret, salt, plaintexts } of vectors) {
    const keys = deriveKeys(secret, salt);
    const server = Channel.forServer(keys);
    plaintexts.forEach((text, i) => {
      const plain = Buffer.from(text, 'binary');
      const sealed = forgeSeal(keys.clientToServer, BigInt(i), plain);
      assert.ok(server.open(sealed).equals(plain), `frame ${i}`);
    });
  }
});

test('AES-256-GCM: what Channel.seal seals, forge opens', () => {
  for (const { secret, salt, plaintexts } of vectors) {
    const keys = deriveKeys(secret, salt);
    const server = Channel.forServer(keys);
    plaintexts.forEach((text, i) => {
      const plain = Buffer.from(text, 'binary');
      const sealed = server.seal(plain);
      const opened = forgeOpen(keys.serverToClient, BigInt(i), sealed);
      assert.ok(opened !== null && opened.equals(plain), `frame ${i}`);
    });
  }
});

test('AES-256-GCM: forge and node:crypto produce the same bytes for the same key and nonce', () => {
  const keys = deriveKeys(Buffer.alloc(32, 1), Buffer.alloc(32, 2));
  const client = Channel.forClient(keys);
  for (let i = 0; i < 3; i++) {
    const plain = Buffer.from(`frame ${i}`);
    assert.ok(client.seal(plain).equals(forgeSeal(keys.clientToServer, BigInt(i), plain)), `frame ${i}`);
  }
});

test('AES-256-GCM: a forge frame at the wrong counter or with a flipped bit is refused by Channel.open', () => {
  const keys = deriveKeys(Buffer.alloc(32, 1), Buffer.alloc(32, 2));
  const server = Channel.forServer(keys);
  assert.throws(() => server.open(forgeSeal(keys.clientToServer, 1n, Buffer.from('skipped ahead'))), (e: unknown) => e instanceof ParleyError && e.code === 'E_DECRYPT');
  const sealed = forgeSeal(keys.clientToServer, 0n, Buffer.from('tampered'));
  sealed[0] ^= 1;
  assert.throws(() => server.open(sealed), (e: unknown) => e instanceof ParleyError && e.code === 'E_DECRYPT');
  // and forge refuses a node frame that was tampered with
  const fromNode = Channel.forClient(keys).seal(Buffer.from('x'));
  fromNode[fromNode.length - 1] ^= 1;
  assert.is(forgeOpen(keys.clientToServer, 0n, fromNode), null);
});

test.run();
