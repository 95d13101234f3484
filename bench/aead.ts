/**
 * What sealing and opening a frame costs with each implementation of each cipher this machine
 * has (src/crypto/aead.ts): native/aead.cc (OpenSSL inside Node), libsodium (sodium-native) and
 * node:crypto. Frames of 300 bytes (a relayed message) and 4,000 (a fan-out's frame of 16), each
 * under one of 1,000 keys in turn, as a server's frames to its clients are. Prints ns a call, the
 * best of 3 rounds (docs/BENCHMARKS.md, "Twentieth session"). Pin it for steadier figures:
 *
 *   taskset -c 1 node --import tsx bench/aead.ts [--calls N]
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { AEAD_TAG_BYTES, NATIVE_ADDON_PATH, NativeAead, NodeAead, SodiumChaCha, type Aead, type CipherName } from '../src/crypto/aead.ts';
import { numberArg } from './lib/proc.ts';

const CALLS = numberArg('--calls', 100_000);
const KEYS = 1_000;
const SIZES = [300, 4_000];

const require = createRequire(import.meta.url);
const native = existsSync(NATIVE_ADDON_PATH) ? require(NATIVE_ADDON_PATH) : null;
let sodium: SodiumChaCha | null = null;
try {
  sodium = new SodiumChaCha(require('sodium-native'));
} catch {
  sodium = null;
}

function implementations(cipher: CipherName): Array<[string, Aead]> {
  const all: Array<[string, Aead]> = [];
  if (native) all.push(['native', new NativeAead(native, cipher)]);
  if (sodium && cipher === 'chacha20-poly1305') all.push(['libsodium', sodium]);
  all.push(['node:crypto', new NodeAead(cipher)]);
  return all;
}

/** ns a call of `run(i)`, the best of 3 rounds of CALLS calls. */
function timed(run: (i: number) => void): number {
  let best = Infinity;
  for (let round = 0; round < 3; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i++) run(i);
    best = Math.min(best, Number(process.hrtime.bigint() - start) / CALLS);
  }
  return best;
}

console.log(`bench/aead: ns a call, best of 3 rounds of ${CALLS.toLocaleString('en')}, ${KEYS} keys in turn${native ? '' : ' (native/aead.cc not built: run make)'}`);
const keys = Array.from({ length: KEYS }, () => randomBytes(32));
const nonce = randomBytes(12);
for (const cipher of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
  for (const [name, aead] of implementations(cipher)) {
    const figures: string[] = [];
    for (const size of SIZES) {
      const plaintext = randomBytes(size);
      const sealed = keys.map((key) => {
        const out = Buffer.alloc(size + AEAD_TAG_BYTES);
        aead.sealInto(key, nonce, plaintext, out, 0);
        return out;
      });
      const out = Buffer.alloc(size + AEAD_TAG_BYTES);
      const seal = timed((i) => aead.sealInto(keys[i % KEYS], nonce, plaintext, out, 0));
      const open = timed((i) => aead.open(keys[i % KEYS], nonce, sealed[i % KEYS]));
      figures.push(`${size} B seal ${seal.toFixed(0).padStart(5)} open ${open.toFixed(0).padStart(5)}`);
    }
    console.log(`${cipher.padEnd(18)} ${name.padEnd(12)} ${figures.join('   ')}`);
  }
}
