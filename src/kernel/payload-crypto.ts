import {
  createCipheriv,
  createDecipheriv,
  createSecretKey,
  randomBytes,
  randomFillSync,
  type KeyObject,
} from 'node:crypto';
import { ConfigError } from './config';
import { readOrCreateKeyFile } from './key-file';

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

const IV_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = IV_BYTES + TAG_BYTES;

/** IVs taken per refill of the pool: one system call for this many ciphertexts instead of one each. */
const IVS_PER_REFILL = 256;

/**
 * Random 96-bit IVs for AES-GCM, drawn from a pool that one `randomFillSync` refills (as Node's own `randomUUID`
 * does): the IVs are as random as one `randomBytes(12)` each, and every one is used once.
 */
function ivSource(): () => Buffer {
  const pool = Buffer.alloc(IV_BYTES * IVS_PER_REFILL);
  let next = pool.length;
  return () => {
    if (next === pool.length) {
      randomFillSync(pool);
      next = 0;
    }
    next += IV_BYTES;
    return pool.subarray(next - IV_BYTES, next);
  };
}

function cipherOf(rawKeys: ReadonlyMap<string, Buffer>, currentKeyId: string): PayloadCipher {
  // Key objects made once: given raw bytes, every cipher would import its key again.
  const keys = new Map<string, KeyObject>([...rawKeys].map(([kid, key]) => [kid, createSecretKey(key)]));
  const currentKey = keys.get(currentKeyId) as KeyObject;
  const nextIv = ivSource();
  return {
    currentKeyId,
    encrypt(plain) {
      const iv = nextIv();
      const cipher = createCipheriv('aes-256-gcm', currentKey, iv);
      const body = cipher.update(JSON.stringify(plain), 'utf8');
      const rest = cipher.final();
      // One copy into the stored layout: IV, tag, ciphertext (GCM's final() adds no bytes, but is not assumed to).
      return { keyId: currentKeyId, data: Buffer.concat([iv, cipher.getAuthTag(), body, rest]) };
    },
    decrypt(keyId, data) {
      const key = keys.get(keyId);
      if (!key) {
        throw new Error(`Inbox payload key ${keyId} is not configured`);
      }
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(IV_BYTES, HEADER_BYTES));
      const body = decipher.update(data.subarray(HEADER_BYTES));
      const rest = decipher.final();
      return JSON.parse((rest.length === 0 ? body : Buffer.concat([body, rest])).toString('utf8')) as unknown;
    },
  };
}

function readOrCreateLocalKey(dataDir: string): string {
  return readOrCreateKeyFile(dataDir, 'inbox-key', () => `local:${randomBytes(32).toString('base64')}\n`);
}
