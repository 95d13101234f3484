/**
 * RSA key pairs for tests, in the PEM forms Parley's own keys use (SPKI public, PKCS#8 private).
 * node:crypto makes them much faster than node-forge's generateKeyPair.
 */
import { generateKeyPairSync } from 'node:crypto';

export function pemKeyPair(bits = 2048): { publicKey: string; privateKey: string } {
  return generateKeyPairSync('rsa', { modulusLength: bits, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
}
