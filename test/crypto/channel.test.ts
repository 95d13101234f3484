import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import { CIPHERS, type CipherName } from '../../src/crypto/aead.ts';
import { Channel, counterNonce, deriveKeys, KEY_BYTES, NONCE_BYTES, TAG_BYTES } from '../../src/crypto/channel.ts';
import { ParleyError } from '../../src/protocol/errors.ts';
import { FrameDecoder } from '../../src/protocol/frame.ts';
import { Scratch } from '../../src/protocol/scratch.ts';

function throwsDecrypt(fn: () => unknown, what: string): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, ParleyError, what);
    assert.is((err as ParleyError).code, 'E_DECRYPT', what);
    assert.is((err as ParleyError).fatal, true, what);
    return;
  }
  assert.unreachable(`${what}: expected E_DECRYPT`);
}

const secret = Buffer.alloc(32, 7);
const salt = Buffer.alloc(32, 9);

function pair(cipher: CipherName = 'aes-256-gcm') {
  const keys = deriveKeys(secret, salt, cipher);
  return { keys, server: Channel.forServer(keys), client: Channel.forClient(keys) };
}

test('deriveKeys is HKDF-SHA256 (RFC 5869): the same keys as node:crypto hkdfSync', () => {
  for (const [s, n] of [[secret, salt], [randomBytes(32), randomBytes(32)]]) {
    const keys = deriveKeys(s, n);
    assert.equal(keys.clientToServer, Buffer.from(hkdfSync('sha256', s, n, 'parley/1 c2s', 32)));
    assert.equal(keys.serverToClient, Buffer.from(hkdfSync('sha256', s, n, 'parley/1 s2c', 32)));
  }
});

test('deriveKeys gives two 32-byte keys that differ by direction', () => {
  const keys = deriveKeys(secret, salt);
  assert.is(keys.clientToServer.length, KEY_BYTES);
  assert.is(keys.serverToClient.length, KEY_BYTES);
  assert.not.ok(keys.clientToServer.equals(keys.serverToClient));
  // deterministic
  const again = deriveKeys(Buffer.from(secret), Buffer.from(salt));
  assert.ok(again.clientToServer.equals(keys.clientToServer));
  assert.ok(again.serverToClient.equals(keys.serverToClient));
});

test('different salts or secrets give different keys', () => {
  const base = deriveKeys(secret, salt);
  const otherSalt = deriveKeys(secret, Buffer.alloc(32, 10));
  const otherSecret = deriveKeys(Buffer.alloc(32, 8), salt);
  for (const other of [otherSalt, otherSecret]) {
    assert.not.ok(other.clientToServer.equals(base.clientToServer));
    assert.not.ok(other.serverToClient.equals(base.serverToClient));
  }
});

test('past 2^32 frames the channel still uses counterNonce: the high word of the counter is written too', () => {
  const { keys, client } = pair();
  const counter = 2 ** 32 + 5;
  (client as unknown as { sendCounter: number }).sendCounter = counter;
  const sealed = client.seal(Buffer.from('late frame'));
  const decipher = createDecipheriv('aes-256-gcm', keys.clientToServer, counterNonce(BigInt(counter)));
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
  const plain = Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - TAG_BYTES)), decipher.final()]);
  assert.is(plain.toString(), 'late frame');
});

test('counterNonce is 12 bytes: 4 zero bytes then the counter big-endian', () => {
  assert.equal([...counterNonce(0n)], new Array(NONCE_BYTES).fill(0));
  assert.equal([...counterNonce(1n)], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
  assert.equal([...counterNonce(0x0102030405060708n)], [0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]);
});

// The channel's guarantees, for each cipher a handshake can choose.
for (const cipher of CIPHERS) {
  test(`${cipher}: client seals, server opens, and back, many frames in a row`, () => {
    const { server, client } = pair(cipher);
    for (let i = 0; i < 20; i++) {
      const up = Buffer.from(`client frame ${i} 😄`);
      const sealed = client.seal(up);
      assert.is(sealed.length, up.length + TAG_BYTES);
      assert.ok(server.open(sealed).equals(up));
      const down = randomBytes(i * 37);
      assert.ok(client.open(server.seal(down)).equals(down));
    }
    // empty plaintext works too
    assert.is(server.open(client.seal(Buffer.alloc(0))).length, 0);
  });

  test(`${cipher}: frames opened into a scratch buffer, one after another, each in the scratch's memory; a failure there still advances nothing`, () => {
    const { server, client } = pair(cipher);
    const scratch = new Scratch(1 << 20, 64);
    for (const size of [10, 40, 5000, 0, 300]) {
      const text = randomBytes(size);
      const opened = server.openInto(client.seal(text), scratch);
      assert.equal(opened.subarray(0, size), text, `${size} bytes`);
      assert.ok(opened.length >= size);
      assert.is(opened, scratch.room(0), `${size} bytes: the scratch's buffer itself, not a view of it`);
    }
    const forged = client.seal(Buffer.from('pay alice 10 coins'));
    forged[3] ^= 1;
    throwsDecrypt(() => server.openInto(forged, scratch), 'forged, into the scratch');
    // The forgery did not advance the counter: the frame sealed after it does not open.
    throwsDecrypt(() => server.openInto(client.seal(Buffer.from('next')), scratch), 'the frame after a forgery');
  });

  test(`${cipher}: counters advance: the same plaintext seals differently each time`, () => {
    const { client } = pair(cipher);
    const text = Buffer.from('same text');
    const a = client.seal(text);
    const b = client.seal(text);
    assert.not.ok(a.equals(b));
  });

  test(`${cipher}: a channel cannot open what it sealed itself (directions use different keys)`, () => {
    const { client } = pair(cipher);
    const sealed = client.seal(Buffer.from('loop'));
    throwsDecrypt(() => client.open(sealed), 'own frame');
  });

  test(`${cipher}: a tampered byte in the ciphertext or in the tag fails, fatally`, () => {
    const text = Buffer.from('pay alice 10 coins');
    for (let i = 0; i < text.length + TAG_BYTES; i++) {
      const { server, client } = pair(cipher);
      const sealed = client.seal(text);
      sealed[i] ^= 0x01;
      throwsDecrypt(() => server.open(sealed), `flip byte ${i}`);
    }
  });

  test(`${cipher}: a replayed frame fails`, () => {
    const { server, client } = pair(cipher);
    const first = client.seal(Buffer.from('one'));
    server.open(first);
    throwsDecrypt(() => server.open(first), 'replay');
  });

  test(`${cipher}: two frames reordered fail`, () => {
    const { server, client } = pair(cipher);
    const first = client.seal(Buffer.from('one'));
    const second = client.seal(Buffer.from('two'));
    throwsDecrypt(() => server.open(second), 'second first');
    // a failed open does not advance the counter: the in-order frame still opens
    assert.is(server.open(first).toString(), 'one');
  });

  test(`${cipher}: a dropped frame makes the next one fail`, () => {
    const { server, client } = pair(cipher);
    client.seal(Buffer.from('lost'));
    throwsDecrypt(() => server.open(client.seal(Buffer.from('next'))), 'after drop');
  });

  test(`${cipher}: a truncated frame fails: shorter than the tag, and one byte short`, () => {
    const { server, client } = pair(cipher);
    const sealed = client.seal(Buffer.from('hello there'));
    throwsDecrypt(() => server.open(sealed.subarray(0, TAG_BYTES - 1)), 'shorter than tag');
    throwsDecrypt(() => server.open(Buffer.alloc(0)), 'empty');
    throwsDecrypt(() => server.open(sealed.subarray(0, sealed.length - 1)), 'one byte short');
    throwsDecrypt(() => server.open(sealed.subarray(1)), 'first byte missing');
    throwsDecrypt(() => server.open(Buffer.concat([sealed, Buffer.from([0])])), 'one byte extra');
    assert.is(server.open(sealed).toString(), 'hello there');
  });

  test(`${cipher}: a frame sealed under other keys fails`, () => {
    const { server } = pair(cipher);
    const stranger = Channel.forClient(deriveKeys(secret, Buffer.alloc(32, 1), cipher));
    throwsDecrypt(() => server.open(stranger.seal(Buffer.from('hi'))), 'other salt');
  });
}

test('sealFrame is a length-prefixed seal: same bytes, same counter sequence', () => {
  const a = pair();
  const b = pair();
  const decoded: Buffer[] = [];
  const decoder = new FrameDecoder({ onFrame: (payload) => decoded.push(Buffer.from(payload)), onFrameError: (err) => assert.unreachable(err.message) });
  for (const text of ['first', '', 'third, longer than the others'.repeat(20)]) {
    const frame = a.server.sealFrame(Buffer.from(text));
    assert.equal(frame.subarray(4), b.server.seal(Buffer.from(text)), `${text.length} bytes: the payload is what seal gives`);
    assert.is(frame.readUInt32BE(0), frame.length - 4);
    decoder.write(frame);
  }
  assert.equal(decoded.map((payload) => a.client.open(payload).toString()), ['first', '', 'third, longer than the others'.repeat(20)]);
});

test.run();
