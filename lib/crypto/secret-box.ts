// Project secrets at rest: AES-256-GCM under the operator's master key, bound to project and name.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { utf8 } from './bytes.ts';

const IV_BYTES = 12;
const TAG_BYTES = 16;

function additionalData(projectId: string, name: string): Uint8Array {
  return utf8(`gw/secret/v1\u0000${projectId}\u0000${name}`);
}

/** Seals `value` as base64(iv || tag || ciphertext); the project id and name are authenticated too. */
export function sealSecret(masterKey: Uint8Array, projectId: string, name: string, value: string): string {
  if (masterKey.length !== 32) throw new RangeError('master key must be 32 bytes');
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
  cipher.setAAD(additionalData(projectId, name));
  const ciphertext = Buffer.concat([cipher.update(value, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64');
}

/** Opens a sealed secret. Throws if it was altered, moved to another project or name, or sealed under another key. */
export function openSecret(masterKey: Uint8Array, projectId: string, name: string, sealed: string): string {
  const bytes = Buffer.from(sealed, 'base64');
  if (bytes.length < IV_BYTES + TAG_BYTES) throw new RangeError('sealed secret too short');
  const decipher = createDecipheriv('aes-256-gcm', masterKey, bytes.subarray(0, IV_BYTES));
  decipher.setAAD(additionalData(projectId, name));
  decipher.setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
  return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
}
