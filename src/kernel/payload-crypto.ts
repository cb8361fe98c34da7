import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from './config';

/**
 * AES-256-GCM for inbox payloads at rest. Each ciphertext records the id of its key, so keys can rotate: the first
 * key encrypts, every listed key still decrypts.
 */
export interface PayloadCipher {
  readonly currentKeyId: string;
  encrypt(plain: unknown): { keyId: string; data: Buffer };
  decrypt(keyId: string, data: Buffer): unknown;
}

/**
 * Keys from `INBOX_KEYS` (`kid:base64key,kid2:base64key`, 32-byte keys), or else one generated at first start in
 * the data directory: fine for one machine; several machines must share `INBOX_KEYS`.
 */
export function loadPayloadCipher(inboxKeys: string | undefined, dataDir: string): PayloadCipher {
  const keys = parseInboxKeys(inboxKeys ?? readOrCreateLocalKey(dataDir));
  const [currentKeyId] = keys.keys();
  if (!currentKeyId) {
    throw new ConfigError('Invalid configuration: INBOX_KEYS: no key given');
  }
  return cipherOf(keys, currentKeyId);
}

/** `kid:base64,kid2:base64` into keys by id; throws a ConfigError unless every key is 32 bytes with an id. */
export function parseInboxKeys(spec: string): Map<string, Buffer> {
  const keys = new Map<string, Buffer>();
  for (const part of spec
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [kid, b64] = part.split(':');
    const key = Buffer.from(b64 ?? '', 'base64');
    if (!kid || key.length !== 32) {
      throw new ConfigError('Invalid configuration: INBOX_KEYS: expected kid:base64 entries of 32-byte keys');
    }
    keys.set(kid, key);
  }
  if (keys.size === 0) {
    throw new ConfigError('Invalid configuration: INBOX_KEYS: no key given');
  }
  return keys;
}

function cipherOf(keys: ReadonlyMap<string, Buffer>, currentKeyId: string): PayloadCipher {
  return {
    currentKeyId,
    encrypt(plain) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', keys.get(currentKeyId) as Buffer, iv);
      const body = Buffer.concat([cipher.update(JSON.stringify(plain), 'utf8'), cipher.final()]);
      return { keyId: currentKeyId, data: Buffer.concat([iv, cipher.getAuthTag(), body]) };
    },
    decrypt(keyId, data) {
      const key = keys.get(keyId);
      if (!key) {
        throw new Error(`Inbox payload key ${keyId} is not configured`);
      }
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, 12));
      decipher.setAuthTag(data.subarray(12, 28));
      return JSON.parse(
        Buffer.concat([decipher.update(data.subarray(28)), decipher.final()]).toString('utf8'),
      ) as unknown;
    },
  };
}

function readOrCreateLocalKey(dataDir: string): string {
  const file = path.join(dataDir, 'inbox-key');
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dataDir, { recursive: true });
    fs.writeFileSync(file, `local:${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  }
  return fs.readFileSync(file, 'utf8').trim();
}
