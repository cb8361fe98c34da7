import { createDecipheriv, randomBytes } from 'node:crypto';
import { loadPayloadCipher } from '../../../src/kernel/payload-crypto';

const rawKey = (): Buffer => randomBytes(32);
const spec = (...keys: [string, Buffer][]): string =>
  keys.map(([kid, key]) => `${kid}:${key.toString('base64')}`).join(',');
const DATA_DIR = '/nonexistent'; // never read: every cipher here is given its keys

/** The stored layout, read without the product's code: 12 bytes of IV, 16 of GCM tag, then the ciphertext. */
function decryptIndependently(key: Buffer, data: Buffer): unknown {
  const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, 12));
  decipher.setAuthTag(data.subarray(12, 28));
  return JSON.parse(Buffer.concat([decipher.update(data.subarray(28)), decipher.final()]).toString('utf8')) as unknown;
}

describe('payload cipher', () => {
  const event = { eventType: 'referral.created', patient: { bsn: '111222333' }, note: 'één “quote” \u2028 😀' };

  it('decrypts what it encrypted, with the current key id', () => {
    const cipher = loadPayloadCipher(spec(['k1', rawKey()]), DATA_DIR);
    const sealed = cipher.encrypt(event);
    expect(sealed.keyId).toBe('k1');
    expect(cipher.decrypt(sealed.keyId, sealed.data)).toEqual(event);
  });

  it('stores IV, tag and AES-256-GCM ciphertext in that order, so rows at rest stay readable across versions', () => {
    const key = rawKey();
    const cipher = loadPayloadCipher(spec(['k1', key]), DATA_DIR);
    const sealed = cipher.encrypt(event);
    expect(decryptIndependently(key, sealed.data)).toEqual(event);
    expect(sealed.data.length).toBe(28 + Buffer.byteLength(JSON.stringify(event)));
  });

  it('still decrypts with a listed older key after rotation, and encrypts with the first', () => {
    const oldKey = rawKey();
    const before = loadPayloadCipher(spec(['old', oldKey]), DATA_DIR).encrypt(event);
    const rotated = loadPayloadCipher(spec(['new', rawKey()], ['old', oldKey]), DATA_DIR);
    expect(rotated.decrypt(before.keyId, before.data)).toEqual(event);
    expect(rotated.encrypt(event).keyId).toBe('new');
  });

  it('refuses a key id it does not have and a ciphertext that was changed', () => {
    const cipher = loadPayloadCipher(spec(['k1', rawKey()]), DATA_DIR);
    const sealed = cipher.encrypt(event);
    expect(() => cipher.decrypt('k2', sealed.data)).toThrow('Inbox payload key k2 is not configured');
    const changed = Buffer.from(sealed.data);
    changed[changed.length - 1] = (changed[changed.length - 1] ?? 0) ^ 1;
    expect(() => cipher.decrypt('k1', changed)).toThrow();
  });

  it('gives every ciphertext an IV of its own, across many more than fit in one draw of randomness', () => {
    const cipher = loadPayloadCipher(spec(['k1', rawKey()]), DATA_DIR);
    const sealed = Array.from({ length: 2000 }, () => cipher.encrypt(event).data);
    const ivs = new Set(sealed.map((d) => d.subarray(0, 12).toString('hex')));
    expect(ivs.size).toBe(sealed.length);
    // An IV handed out must not change afterwards (it lives inside the stored bytes).
    expect(sealed.every((d) => cipher.decrypt('k1', d) !== undefined)).toBe(true);
  });
});
