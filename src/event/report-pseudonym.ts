import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { readOrCreateKeyFile } from '../kernel/key-file';

/**
 * Keyed pseudonyms for the reporting store. The master key lives outside the database (the environment or a file
 * in the data directory), so a copy of the database alone cannot be turned back into BSNs by hashing every
 * possible BSN, which an unkeyed hash of a 9-digit number would allow in seconds. Each municipality gets its own
 * key (HKDF of the master key with the municipality code), so the same child has unrelated pseudonyms in two
 * municipalities' figures.
 */
export interface Pseudonymiser {
  /** The pseudonym of a value (a BSN, or `kind|practice|source id` of a record) in one municipality's figures. */
  pseudonym(municipality: string, value: string): string;
  /**
   * The key of a child within a practice on the inbox (`inbox.child_key`, migration 030), by which a consent finds
   * the child's events denied for want of it: an HMAC of the BSN under a key derived from the same master key for
   * the practice (HKDF, its own label), so it is no reporting pseudonym and differs between practices.
   */
  inboxChildKey(practice: string, bsn: string): string;
}

const KEY_FILE = 'report-key';
const LETTERS = 'abcdefghijklmnop';
/** The two letters of each byte value, high half first, as its two hex digits would be written. */
const LETTER_PAIRS: readonly string[] = Array.from({ length: 256 }, (_, b) => `${LETTERS[b >> 4]}${LETTERS[b & 15]}`);

function readOrCreateKey(dataDir: string): Buffer {
  return Buffer.from(
    readOrCreateKeyFile(dataDir, KEY_FILE, () => `${randomBytes(32).toString('base64')}\n`),
    'base64',
  );
}

/** A pseudonymiser over a 32-byte master key. */
function createPseudonymiser(masterKey: Buffer): Pseudonymiser {
  if (masterKey.length !== 32) {
    throw new Error('The report pseudonym key must be 32 bytes');
  }
  const keys = new Map<string, Buffer>();
  const keyOf = (salt: string, info: string): Buffer => {
    let key = keys.get(`${salt}\u0000${info}`);
    if (!key) {
      key = Buffer.from(hkdfSync('sha256', masterKey, salt, info, 32));
      keys.set(`${salt}\u0000${info}`, key);
    }
    return key;
  };
  // 128 bits written with the letters a to p only: a pseudonym can then never look like a BSN, a date or an
  // ICPC code to a scanner (or a reader) of the reporting tables. Each byte's two letters come from a table: the
  // hex digest with a replacement callback per digit had been about 40 % of a pseudonym's CPU, several per event.
  const hmac = (key: Buffer, value: string): string => {
    const digest = createHmac('sha256', key).update(value).digest();
    let out = '';
    for (let i = 0; i < 16; i++) {
      out += LETTER_PAIRS[digest[i]!];
    }
    return out;
  };
  return {
    pseudonym: (municipality, value) => hmac(keyOf('jeugdbrug-report', `municipality:${municipality}`), value),
    inboxChildKey: (practice, bsn) => hmac(keyOf('jeugdbrug-inbox-child', `practice:${practice}`), bsn),
  };
}

const loaded = new Map<string, Pseudonymiser>();

/** The process's pseudonymiser: `REPORT_PSEUDONYM_KEY` when set, else the key file in the data directory. */
export function getPseudonymiser(config: {
  readonly REPORT_PSEUDONYM_KEY?: string | undefined;
  readonly dataDir: string;
}): Pseudonymiser {
  const id = config.REPORT_PSEUDONYM_KEY ? `env:${config.REPORT_PSEUDONYM_KEY}` : `dir:${config.dataDir}`;
  let p = loaded.get(id);
  if (!p) {
    p = createPseudonymiser(
      config.REPORT_PSEUDONYM_KEY
        ? Buffer.from(config.REPORT_PSEUDONYM_KEY, 'base64')
        : readOrCreateKey(config.dataDir),
    );
    loaded.set(id, p);
  }
  return p;
}
