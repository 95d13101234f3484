/**
 * Key material, handled with node-forge: generating the server's RSA key pair, reading and
 * writing PEM, and SSH-style fingerprints. This runs at start-up and on the client, never per
 * connection on the server (see docs/ARCHITECTURE.md, "Crypto split").
 */
import { mkdirSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';
import { ParleyError } from '../protocol/errors.ts';

export const RSA_BITS = 2048;
export const PRIVATE_KEY_FILE = 'server.key';
export const PUBLIC_KEY_FILE = 'server.pub';

export interface ServerKeyPair {
  privatePem: string;
  publicPem: string;
  fingerprint: string;
  /** RSA modulus size in bytes: exactly the size of a wrapped key */
  modulusBytes: number;
}

/** Makes a fresh RSA key pair (forge uses Node's native generator when it can). */
export function generateKeyPair(bits = RSA_BITS): { privatePem: string; publicPem: string } {
  const pair = forge.pki.rsa.generateKeyPair({ bits, e: 0x10001 });
  return {
    privatePem: forge.pki.privateKeyToPem(pair.privateKey),
    publicPem: forge.pki.publicKeyToPem(pair.publicKey),
  };
}

/** `SHA256:<base64 without padding>` of the DER SubjectPublicKeyInfo, as SSH prints keys. */
export function fingerprint(publicPem: string): string {
  const key = forge.pki.publicKeyFromPem(publicPem);
  const der = forge.asn1.toDer(forge.pki.publicKeyToAsn1(key)).getBytes();
  const digest = forge.md.sha256.create().update(der).digest().getBytes();
  return 'SHA256:' + forge.util.encode64(digest).replace(/=+$/, '');
}

/** The short form shown in status bars: the first 12 characters of the hash. */
export function shortFingerprint(full: string): string {
  return full.replace(/^SHA256:/, '').slice(0, 12);
}

/** PKCS#8 DER of a PEM private key, the form WebCrypto imports. */
export function privateKeyPkcs8Der(privatePem: string): Buffer {
  const key = forge.pki.privateKeyFromPem(privatePem);
  const info = forge.pki.wrapRsaPrivateKey(forge.pki.privateKeyToAsn1(key));
  return Buffer.from(forge.asn1.toDer(info).getBytes(), 'binary');
}

/** Writes a new key pair into `dir` (private key mode 0600). Refuses to overwrite. */
export function createServerKeys(dir: string, bits = RSA_BITS): ServerKeyPair {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const privatePath = join(dir, PRIVATE_KEY_FILE);
  if (existsSync(privatePath)) {
    throw new ParleyError('E_KEY_INVALID', `${privatePath} already exists; remove it first to make a new key`);
  }
  const { privatePem, publicPem } = generateKeyPair(bits);
  writeFileSync(privatePath, privatePem, { mode: 0o600, flag: 'wx' });
  writeFileSync(join(dir, PUBLIC_KEY_FILE), publicPem, { mode: 0o644 });
  return { privatePem, publicPem, fingerprint: fingerprint(publicPem), modulusBytes: bits / 8 };
}

/**
 * Loads the server key pair from `dir`. A private key that group or others can read is refused,
 * as ssh refuses one: a leaked server key lets anyone impersonate the server.
 */
export function loadServerKeys(dir: string): ServerKeyPair {
  const privatePath = join(dir, PRIVATE_KEY_FILE);
  const mode = statSync(privatePath).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    throw new ParleyError(
      'E_KEY_PERMISSIONS',
      `${privatePath} has mode ${mode.toString(8).padStart(4, '0')}, readable by others; fix it with: chmod 600 ${privatePath}`,
    );
  }
  let privateKey: forge.pki.rsa.PrivateKey;
  try {
    privateKey = forge.pki.privateKeyFromPem(readFileSync(privatePath, 'utf8'));
  } catch (err) {
    throw new ParleyError('E_KEY_INVALID', `${privatePath} is not a PEM RSA private key (${(err as Error).message})`);
  }
  // The public key is derived, not read, so a mismatched server.pub can never be served.
  const publicKey = forge.pki.setRsaPublicKey(privateKey.n, privateKey.e);
  const publicPem = forge.pki.publicKeyToPem(publicKey);
  const modulusBytes = Math.ceil(privateKey.n.bitLength() / 8);
  return { privatePem: forge.pki.privateKeyToPem(privateKey), publicPem, fingerprint: fingerprint(publicPem), modulusBytes };
}

/** Loads the key pair, creating it on first start. `created` tells the caller to announce it. */
export function ensureServerKeys(dir: string): ServerKeyPair & { created: boolean } {
  if (!existsSync(join(dir, PRIVATE_KEY_FILE))) return { ...createServerKeys(dir), created: true };
  return { ...loadServerKeys(dir), created: false };
}
