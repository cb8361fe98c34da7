import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  verify,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Logger } from 'pino';
import { ConfigError } from '../kernel/config';
import { readOrCreateKeyFile } from '../kernel/key-file';
import type { Db } from '../kernel/db';
import { errorFields } from '../kernel/logger';
import { canonicalizeJcs } from './chain';
import {
  alertIntegrityChange,
  knownBrokenChains,
  recordChainIntegrity,
  recordIntegrityHistory,
  type AuditAppender,
} from './chain-integrity';
import {
  listChainHeads,
  tryGetChainHead,
  tryGetCheckpoint,
  verifyTenant,
  type TenantVerdict,
  type VerifyOptions,
} from './verify';
import {
  acknowledgedBreakOf,
  latestAcknowledgements,
  signAcknowledgement,
  storeAcknowledgement,
  type BreakAcknowledgement,
  type RowBreak,
  acknowledgedFloor,
  listAcknowledgements,
  MISSING_ROW,
  rowDigests,
} from './acknowledgements';
import { chainProblem, fillTemplate, NAMED_CHECKPOINT } from './chain-problems';
import type { AuditRefusal } from './refusal-codes';

/**
 * Signed chain heads: what makes a consistent rewrite of the audit log visible. The hash chain alone shows any edit
 * of a row, but someone with superuser rights on PostgreSQL can rewrite a chain from row k and recompute every later
 * hash and the head. So, at least every AUDIT_SIGN_INTERVAL_MS, each chain's head (tenant, seq, hash) is signed with
 * an Ed25519 key that never enters the database, and the signed checkpoint is kept outside PostgreSQL: appended to
 * `DATA_DIR/audit-checkpoints.ndjson` and, when AUDIT_WITNESS_URL is set, pushed to a witness (the municipality or
 * an auditor), retried with back-off until it answers 2xx. Verification then checks the chain against every signed
 * checkpoint it can find: a rewrite of any row at or before one of them no longer matches, and rows appended after a
 * rewrite cannot wash it out. The signer itself signs only a head that extends the newest head on file. The file
 * holds about one line per chain and interval (processes sharing it sign each head once), and earlier days are moved
 * into monthly archives beside it, one line per chain and day (`CheckpointFile.compact`).
 */

export const CHECKPOINT_FILE = 'audit-checkpoints.ndjson';
/** Where the signing keys are kept in DATA_DIR when AUDIT_SIGNING_KEYS is unset. */
export const SIGNING_KEY_FILE = 'audit-signing-keys';

export interface SigningKey {
  readonly kid: string;
  readonly privateKey?: KeyObject | undefined;
  readonly publicKey: KeyObject;
}

/** The key that signs now (the first) and every key whose signatures are still accepted (rotation). */
export interface SigningKeys {
  readonly current: SigningKey & { readonly privateKey: KeyObject };
  readonly all: readonly SigningKey[];
}

export interface SignedHead {
  readonly tenant: string;
  readonly seq: number;
  readonly hash: string;
  readonly signedAt: string;
  readonly kid: string;
  /** Ed25519 signature (base64url) over `signingInput`. */
  readonly sig: string;
}

/** What is signed: one line per field, with a label so that a signature cannot be reused for another purpose. */
function signingInput(h: Omit<SignedHead, 'sig' | 'kid'> & { kid: string }): Buffer {
  return Buffer.from(`jeugdbrug-audit-head/1\n${h.kid}\n${h.tenant}\n${h.seq}\n${h.hash}\n${h.signedAt}`, 'utf8');
}

/**
 * What an export's signature covers (export version 3 on): its whole metadata line but the signature, as JCS, so its
 * start (`fromSeq`, `prevHash`), its end (`toSeq`, `headHash`), tenant, period and row count are all vouched for and
 * a file cut at either end, or spliced from two, no longer verifies. Labelled apart from a head's and a purge's.
 */
function exportSigningInput(kid: string, signedAt: string, metadata: Readonly<Record<string, unknown>>): Buffer {
  const covered = Object.fromEntries(Object.entries(metadata).filter(([k]) => k !== 'signedHead'));
  return Buffer.from(`jeugdbrug-audit-export/1\n${kid}\n${signedAt}\n${canonicalizeJcs(covered)}`, 'utf8');
}

/** Signs an export's metadata line (without `signedHead`), naming its end as a head does. */
function signExport(
  key: SigningKeys['current'],
  end: { tenant: string; seq: number; hash: string },
  metadata: Readonly<Record<string, unknown>>,
  now: Date = new Date(),
): SignedHead {
  const signedAt = now.toISOString();
  const sig = sign(null, exportSigningInput(key.kid, signedAt, metadata), key.privateKey).toString('base64url');
  return { tenant: end.tenant, seq: end.seq, hash: end.hash, signedAt, kid: key.kid, sig };
}

function keyFromPkcs8(kid: string, der: Buffer): SigningKeys['current'] {
  const privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
  if (privateKey.asymmetricKeyType !== 'ed25519') {
    throw new ConfigError(`Invalid configuration: AUDIT_SIGNING_KEYS: key ${kid} is not an Ed25519 key`);
  }
  return { kid, privateKey, publicKey: createPublicKey(privateKey) };
}

/**
 * The signing keys: AUDIT_SIGNING_KEYS (`kid:base64 PKCS#8 DER`, comma-separated; the first signs, all verify) or,
 * unset, the file `DATA_DIR/audit-signing-keys` in the same form, created with one fresh key on first start.
 * Rotate by putting a new key first and keeping the old ones after it, so older checkpoints still verify.
 */
function loadSigningKeys(spec: string | undefined, dataDir: string): SigningKeys {
  return parseSigningKeys(spec ?? readOrCreateSigningKeyFile(dataDir));
}

/**
 * Signing keys from `kid:base64 PKCS#8 DER` entries, comma-separated; throws a ConfigError naming what is wrong.
 * Also what `config:check` (and so start-up, before the database) runs over AUDIT_SIGNING_KEYS or the key file.
 */
export function parseSigningKeys(text: string): SigningKeys {
  const all: SignedKeyList = [];
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const i = part.indexOf(':');
    const kid = part.slice(0, i);
    if (i <= 0 || !/^[A-Za-z0-9._-]{1,64}$/.test(kid)) {
      throw new ConfigError('Invalid configuration: AUDIT_SIGNING_KEYS: expected kid:base64 entries');
    }
    try {
      all.push(keyFromPkcs8(kid, Buffer.from(part.slice(i + 1), 'base64')));
    } catch (err) {
      if (err instanceof ConfigError) {
        throw err;
      }
      throw new ConfigError(`Invalid configuration: AUDIT_SIGNING_KEYS: key ${kid} is not a PKCS#8 Ed25519 key`);
    }
  }
  const current = all[0];
  if (!current) {
    throw new ConfigError('Invalid configuration: AUDIT_SIGNING_KEYS: no key given');
  }
  return { current, all };
}

type SignedKeyList = SigningKeys['current'][];

/** A new key entry `kid:base64`, as AUDIT_SIGNING_KEYS and the key file hold them. */
function newSigningKeyEntry(kid: string): string {
  const { privateKey } = generateKeyPairSync('ed25519');
  return `${kid}:${privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64')}`;
}

function readOrCreateSigningKeyFile(dataDir: string): string {
  // The date says when; the random part keeps two machines that each generate a key that day from publishing
  // different keys under one kid (AUDIT_SIGNING_KEYS is what they should share).
  const kid = () => `k${new Date().toISOString().slice(0, 10).replace(/-/g, '')}-${randomBytes(3).toString('hex')}`;
  return readOrCreateKeyFile(dataDir, SIGNING_KEY_FILE, () => `${newSigningKeyEntry(kid())}\n`);
}

/** The public keys as a JWK Set (OKP / Ed25519), served at `GET /audit/v1/keys` and read by `audit-verify`. */
export function publicJwks(keys: SigningKeys): { keys: (JsonWebKey & { kid: string })[] } {
  return {
    keys: keys.all.map((k) => ({
      ...k.publicKey.export({ format: 'jwk' }),
      kid: k.kid,
      use: 'sig',
      alg: 'EdDSA',
    })),
  };
}

/** Public keys by kid from a JWK Set; entries that are not Ed25519 keys are skipped. */
export function keysFromJwks(jwks: unknown): Map<string, KeyObject> {
  const out = new Map<string, KeyObject>();
  const list = (jwks as { keys?: unknown } | null)?.keys;
  for (const jwk of Array.isArray(list) ? (list as (JsonWebKey & { kid?: unknown })[]) : []) {
    if (typeof jwk.kid === 'string' && jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
      out.set(jwk.kid, createPublicKey({ key: jwk, format: 'jwk' }));
    }
  }
  return out;
}

export function signHead(
  key: SigningKeys['current'],
  head: { tenant: string; seq: number; hash: string },
  now: Date = new Date(),
): SignedHead {
  const unsigned = { tenant: head.tenant, seq: head.seq, hash: head.hash, signedAt: now.toISOString() };
  const sig = sign(null, signingInput({ ...unsigned, kid: key.kid }), key.privateKey).toString('base64url');
  return { ...unsigned, kid: key.kid, sig };
}

/** A retention purge's checkpoint as it is signed: the last purged row, when, and how many rows went. */
export interface PurgeCheckpoint {
  readonly tenant: string;
  readonly seq: number;
  readonly hash: string;
  /** ISO 8601 to the millisecond, as stored in `audit_checkpoint.purged_at` and read back. */
  readonly purgedAt: string;
  readonly purgedRows: number;
}

/** What a purge checkpoint's signature covers; labelled apart from a head's, so neither passes for the other. */
function purgeSigningInput(cp: PurgeCheckpoint, kid: string): Buffer {
  return Buffer.from(
    `jeugdbrug-audit-purge/1\n${kid}\n${cp.tenant}\n${cp.seq}\n${cp.hash}\n${cp.purgedAt}\n${cp.purgedRows}`,
    'utf8',
  );
}

/**
 * Signs a retention purge's checkpoint (stored with it in `audit_checkpoint.kid` and `sig`): the key never enters
 * the database, so someone with database access alone cannot record a purge that verifies.
 */
export function signPurgeCheckpoint(
  key: SigningKeys['current'],
  cp: PurgeCheckpoint,
): { readonly kid: string; readonly sig: string } {
  return { kid: key.kid, sig: sign(null, purgeSigningInput(cp, key.kid), key.privateKey).toString('base64url') };
}

/**
 * Whether the chain's checkpoint at `cp.seq` carries a valid signature by one of `publicKeys` over what it says.
 * A checkpoint recorded before purges were signed (migration 028) has none and does not pass.
 */
async function isSignedPurge(
  db: Db,
  cp: PurgeCheckpoint,
  publicKeys: ReadonlyMap<string, KeyObject>,
): Promise<boolean> {
  const [row] = await db.query<{ kid: string | null; sig: string | null }>(
    'SELECT kid, sig FROM audit_checkpoint WHERE tenant = $1 AND seq = $2',
    [cp.tenant, cp.seq],
  );
  const key = row?.kid ? publicKeys.get(row.kid) : undefined;
  if (!row?.kid || !row.sig || !key) {
    return false;
  }
  try {
    return verify(null, purgeSigningInput(cp, row.kid), key, Buffer.from(row.sig, 'base64url'));
  } catch {
    return false;
  }
}

/** Whether `h` has every field of a signed checkpoint, its signature not checked. */
function isSignedHeadShape(h: unknown): h is SignedHead {
  const s = h as Partial<Record<keyof SignedHead, unknown>> | null;
  return (
    typeof s === 'object' &&
    s !== null &&
    typeof s.tenant === 'string' &&
    typeof s.seq === 'number' &&
    typeof s.hash === 'string' &&
    typeof s.signedAt === 'string' &&
    typeof s.kid === 'string' &&
    typeof s.sig === 'string'
  );
}

/** Whether `h` is a well-formed checkpoint signed by one of `publicKeys` (over `inputOf`, a head's text by default). */
function isValidSignedHead(
  h: unknown,
  publicKeys: ReadonlyMap<string, KeyObject>,
  inputOf: (h: Omit<SignedHead, 'sig'>) => Buffer = signingInput,
): h is SignedHead {
  if (!isSignedHeadShape(h)) {
    return false;
  }
  const s = h;
  const key = publicKeys.get(s.kid);
  if (!key) {
    return false;
  }
  const input = inputOf({ tenant: s.tenant, seq: s.seq, hash: s.hash, signedAt: s.signedAt, kid: s.kid });
  try {
    return verify(null, input, key, Buffer.from(s.sig, 'base64url'));
  } catch {
    return false;
  }
}

/** The public keys by kid of signing keys. */
export const publicKeysOf = (keys: SigningKeys): Map<string, KeyObject> =>
  new Map(keys.all.map((k) => [k.kid, k.publicKey]));

/** Pieces a checkpoint file is read in: a few hundred lines, so verifying one piece holds the event loop briefly. */
const READ_PIECE_BYTES = 16 * 1024;

/** Lets timers, I/O and requests run between two pieces of work on the event loop. */
const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** What is known of one file: how far it was read (and which file it was), and the checkpoints read from it. */
interface FileRead {
  readonly ino: number;
  offset: number;
  readonly decoder: StringDecoder;
  /** The end of a line not yet completely written when it was read. */
  rest: string;
  /** Each distinct (tenant, seq, hash) once: the first line read of it. N processes' lines of one head are one. */
  readonly heads: SignedHead[];
  readonly seen: Set<string>;
  /** Lines that do not verify with a known key: kept as they are, counted, never used. */
  readonly invalid: string[];
  /** Of those, the checkpoints signed with a key not configured (dropped at a rotation): their signature unchecked. */
  readonly keyNotConfigured: SignedHead[];
}

const sameHead = (h: SignedHead): string => `${h.tenant}:${h.seq}:${h.hash}`;
/** The UTC day a checkpoint was signed (YYYY-MM-DD): compaction keeps one per chain and day. */
const dayOf = (h: SignedHead): string => h.signedAt.slice(0, 10);

/** Arbitrary but fixed: appends to, and compactions of, one checkpoint file are made one process at a time. */
const CHECKPOINT_LOCK = 727_514;

/**
 * Runs `fn` while this process holds the checkpoint lock (PostgreSQL's advisory lock, released with the transaction):
 * what it reads of the file then stays true until it has written. Embedded PGlite has one process only.
 */
async function underCheckpointLock<T>(db: Db, fn: () => Promise<T>): Promise<T> {
  if (db.kind !== 'postgres') {
    return fn();
  }
  return db.transaction(async (tx) => {
    await tx.query('SELECT pg_advisory_xact_lock($1, 0)', [CHECKPOINT_LOCK]);
    return fn();
  });
}

/**
 * The checkpoint file, one signed head per line, and its monthly archives beside it (`<name>-YYYY-MM.ndjson`, written
 * by `compact`). Read incrementally: each file once from its start, then only the bytes appended since, a piece at a
 * time with the event loop free in between; the validly signed checkpoints are kept in memory. A file replaced by a
 * compaction (another inode, or shorter) is read again from its start.
 */
export class CheckpointFile {
  private readonly reads = new Map<string, FileRead>();
  private readonly whereOf = new WeakMap<SignedHead, string>();
  private reading: Promise<void> = Promise.resolve();
  /** Lines verified and bytes read so far, over every file: what each read costs shows here. */
  linesRead = 0;
  bytesRead = 0;

  constructor(
    readonly file: string,
    private readonly publicKeys: ReadonlyMap<string, KeyObject>,
  ) {}

  /** The archive of the checkpoints signed in `month` (YYYY-MM). */
  archiveOf(month: string): string {
    return path.join(path.dirname(this.file), `${path.basename(this.file, '.ndjson')}-${month}.ndjson`);
  }

  /** The archives that exist, oldest first, then the file itself. */
  private files(): string[] {
    const stem = path.basename(this.file, '.ndjson');
    const archive = new RegExp(`^${stem.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-\\d{4}-\\d{2}\\.ndjson$`);
    let names: string[] = [];
    try {
      names = fs.readdirSync(path.dirname(this.file));
    } catch {
      // No directory: no files.
    }
    return [
      ...names
        .filter((n) => archive.test(n))
        .sort()
        .map((n) => path.join(path.dirname(this.file), n)),
      this.file,
    ];
  }

  append(heads: readonly SignedHead[]): void {
    if (heads.length === 0) {
      return;
    }
    writeDurably(this.file, heads.map((h) => `${JSON.stringify(h)}\n`).join(''));
  }

  /** Reads what was appended to the files since the last read; one read at a time. */
  catchUp(): Promise<void> {
    const next = this.reading.then(() => this.readAll());
    this.reading = next.catch(() => undefined);
    return next;
  }

  private async readAll(): Promise<void> {
    const files = this.files();
    for (const gone of [...this.reads.keys()].filter((f) => !files.includes(f))) {
      this.reads.delete(gone);
    }
    for (const file of files) {
      await this.readNew(file);
    }
  }

  private async readNew(file: string): Promise<void> {
    let handle: fs.promises.FileHandle;
    try {
      handle = await fs.promises.open(file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        this.reads.delete(file);
        return;
      }
      throw err;
    }
    try {
      const stat = await handle.stat();
      let read = this.reads.get(file);
      if (!read || read.ino !== stat.ino || stat.size < read.offset) {
        read = {
          ino: stat.ino,
          offset: 0,
          decoder: new StringDecoder('utf8'),
          rest: '',
          heads: [],
          seen: new Set(),
          invalid: [],
          keyNotConfigured: [],
        };
        this.reads.set(file, read);
      }
      while (read.offset < stat.size) {
        const piece = Buffer.alloc(Math.min(READ_PIECE_BYTES, stat.size - read.offset));
        const { bytesRead } = await handle.read(piece, 0, piece.length, read.offset);
        if (bytesRead === 0) {
          break;
        }
        read.offset += bytesRead;
        this.bytesRead += bytesRead;
        const lines = (read.rest + read.decoder.write(piece.subarray(0, bytesRead))).split('\n');
        read.rest = lines.pop() ?? '';
        for (const line of lines) {
          this.take(file, read, line);
        }
        await yieldToEventLoop();
      }
    } finally {
      await handle.close();
    }
  }

  private take(file: string, read: FileRead, line: string): void {
    if (line.trim() === '') {
      return;
    }
    this.linesRead++;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      read.invalid.push(line);
      return;
    }
    if (!isValidSignedHead(parsed, this.publicKeys)) {
      read.invalid.push(line);
      if (isSignedHeadShape(parsed) && !this.publicKeys.has(parsed.kid)) {
        read.keyNotConfigured.push(parsed);
      }
      return;
    }
    if (!read.seen.has(sameHead(parsed))) {
      read.seen.add(sameHead(parsed));
      this.whereOf.set(parsed, file);
      read.heads.push(parsed);
    }
  }

  /** The file a checkpoint was read from. */
  where(head: SignedHead): string {
    return this.whereOf.get(head) ?? this.file;
  }

  /** The latest validly signed checkpoint of a tenant; lines that do not verify are counted, never used. */
  async latest(tenant: string): Promise<{ head?: SignedHead; invalidLines: number }> {
    const { heads, invalidLines } = await this.history(tenant);
    const head = heads.at(-1);
    return { ...(head ? { head } : {}), invalidLines };
  }

  /**
   * Every validly signed checkpoint (of `tenant`, when given) in the file and its archives, in order of seq, one per
   * distinct (tenant, seq, hash): the first read of those; lines that do not verify are counted, never used.
   */
  async history(tenant?: string): Promise<{
    heads: readonly SignedHead[];
    invalidLines: number;
    keyNotConfigured: readonly SignedHead[];
  }> {
    await this.catchUp();
    return this.known(tenant);
  }

  /** As `history`; `keyNotConfigured`: the (tenant's) checkpoints signed with a key not configured, by seq. */
  private known(tenant?: string): { heads: SignedHead[]; invalidLines: number; keyNotConfigured: SignedHead[] } {
    const heads = new Map<string, SignedHead>();
    const unchecked = new Map<string, SignedHead>();
    let invalidLines = 0;
    const add = (into: Map<string, SignedHead>, h: SignedHead) => {
      if ((tenant === undefined || h.tenant === tenant) && !into.has(sameHead(h))) {
        into.set(sameHead(h), h);
      }
    };
    for (const read of this.reads.values()) {
      invalidLines += read.invalid.length;
      read.heads.forEach((h) => add(heads, h));
      read.keyNotConfigured.forEach((h) => add(unchecked, h));
    }
    const bySeq = (m: Map<string, SignedHead>) => [...m.values()].sort((a, b) => a.seq - b.seq);
    return { heads: bySeq(heads), invalidLines, keyNotConfigured: bySeq(unchecked) };
  }

  /**
   * The newest checkpoint of every chain (the highest seq), as read so far. Of a chain whose break was acknowledged
   * (`acknowledged`: tenant → when), only those signed since count: the older ones contradict the break.
   */
  newestKnown(acknowledged: ReadonlyMap<string, { acknowledgedAt: string }> = new Map()): Map<string, SignedHead> {
    const newest = new Map<string, SignedHead>();
    for (const h of this.known().heads) {
      if (!supersededBy(acknowledged.get(h.tenant), h)) {
        newest.set(h.tenant, h);
      }
    }
    return newest;
  }

  /**
   * Moves the checkpoints signed before `now`'s UTC day from the file into the archive of their month, one per chain
   * and day: the day's newest, when the database shows it extending every other one of that day (the rows between
   * them link up and carry the signed hashes), since its hash then covers theirs. A day whose checkpoints it does not
   * show so keeps them all: that is evidence. Lines that do not verify stay in the file. Done under the checkpoint
   * lock, so no process appends meanwhile; the file is replaced by rename, never left half written. Returns what it
   * did, or undefined when there was nothing to move (or another process compacted first).
   */
  async compact(db: Db, now: Date = new Date()): Promise<{ archived: number; dropped: number } | undefined> {
    await this.catchUp();
    const today = now.toISOString().slice(0, 10);
    const planned = this.reads.get(this.file);
    const earlier = planned?.heads.filter((h) => dayOf(h) < today) ?? [];
    if (!planned || earlier.length === 0) {
      return undefined;
    }
    // Planned outside the lock (it reads the database); the lock only guards the file.
    const archived = new Set(
      [...this.reads].filter(([file]) => file !== this.file).flatMap(([, read]) => read.heads.map(sameHead)),
    );
    // One per chain and day; the file's heads are distinct already (read once each).
    const groups = new Map<string, SignedHead[]>();
    for (const h of earlier) {
      const key = `${h.tenant}\n${dayOf(h)}`;
      const group = groups.get(key);
      if (group) {
        group.push(h);
      } else {
        groups.set(key, [h]);
      }
    }
    const keep: SignedHead[] = [];
    for (const group of groups.values()) {
      group.sort((a, b) => a.seq - b.seq);
      const kept = (await newestCoversDay(db, group, this.publicKeys)) ? [group.at(-1)!] : group;
      for (const h of kept) {
        if (!archived.has(sameHead(h))) {
          keep.push(h);
        }
      }
    }
    return underCheckpointLock(db, async () => {
      await this.catchUp();
      const live = this.reads.get(this.file);
      if (live !== planned) {
        // Another process compacted the file since it was read: its view is the one on disk now.
        return undefined;
      }
      const moved = new Set(earlier);
      const byMonth = new Map<string, SignedHead[]>();
      for (const h of keep) {
        const month = byMonth.get(h.signedAt.slice(0, 7));
        if (month) {
          month.push(h);
        } else {
          byMonth.set(h.signedAt.slice(0, 7), [h]);
        }
      }
      for (const [month, heads] of byMonth) {
        writeDurably(this.archiveOf(month), heads.map((h) => `${JSON.stringify(h)}\n`).join(''));
      }
      // Lines appended after the plan stay, as do lines that do not verify (and an unfinished last line).
      const stay = [...live.heads.filter((h) => !moved.has(h)).map((h) => JSON.stringify(h)), ...live.invalid];
      replaceDurably(this.file, stay.map((l) => `${l}\n`).join('') + live.rest);
      await this.catchUp();
      return { archived: keep.length, dropped: earlier.length - keep.length };
    });
  }
}

/** Whether a checkpoint was signed before the chain's break was acknowledged: it vouches for the rows as they were. */
function supersededBy(ack: { acknowledgedAt: string } | undefined, h: SignedHead): boolean {
  return ack !== undefined && Date.parse(h.signedAt) < Date.parse(ack.acknowledgedAt);
}

/**
 * Whether a checkpoint no longer vouches for its row: an acknowledgement signed after it names a break at or below
 * its row. Below the first broken row an acknowledgement names, the rows are as they were, so the checkpoints signed
 * before it still hold there and keep being checked.
 */
function contradictedByAcknowledged(acks: readonly BreakAcknowledgement[], h: SignedHead): boolean {
  return acks.some((a) => supersededBy(a, h) && h.seq >= acknowledgedFloor(a));
}

/** Writes `text` to `file` (appended with flag `a`) and fsyncs it: a checkpoint counts once it is durable. */
function writeDurably(file: string, text: string, flag: 'a' | 'w' = 'a'): void {
  const fd = fs.openSync(file, flag, 0o644);
  try {
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Replaces `file` by `text` atomically: written and fsynced beside it, renamed over it, the directory fsynced. */
function replaceDurably(file: string, text: string): void {
  const temporary = `${file}.compacting`;
  writeDurably(temporary, text, 'w');
  fs.renameSync(temporary, file);
  const dir = fs.openSync(path.dirname(file), 'r');
  try {
    fs.fsyncSync(dir);
  } finally {
    fs.closeSync(dir);
  }
}

/**
 * Whether the newest of one chain's checkpoints of a day (sorted by seq) covers the others in the database as it is
 * now: it extends the first, and every other one's row still carries its signed hash.
 */
async function newestCoversDay(
  db: Db,
  group: readonly SignedHead[],
  publicKeys: ReadonlyMap<string, KeyObject>,
): Promise<boolean> {
  const first = group[0];
  const newest = group.at(-1);
  if (!first || !newest || group.length === 1) {
    return true;
  }
  if (!(await extendsSignedHead(db, first.tenant, first, newest, publicKeys))) {
    return false;
  }
  const rows = await db.query<{ seq: number; hash: string }>(
    'SELECT seq::float8 AS seq, hash FROM audit_event WHERE tenant = $1 AND seq = ANY($2::bigint[])',
    [first.tenant, group.map((h) => h.seq)],
  );
  const hashes = new Map(rows.map((r) => [r.seq, r.hash]));
  return group.every((h) => hashes.get(h.seq) === h.hash);
}

/** What verification says about the signed checkpoint it checked the chain against. */
export interface SignedCheckpointReport {
  readonly seq: number;
  readonly hash: string;
  readonly signedAt: string;
  readonly kid: string;
  readonly where: string;
}

/**
 * The checkpoints of a chain signed with a key no longer configured (dropped from AUDIT_SIGNING_KEYS or the key
 * file): their signatures cannot be checked, so the chain is not checked against them. Not verified, and said so.
 */
export interface CheckpointsNotChecked {
  readonly signatureChecked: false;
  readonly count: number;
  /** The keys that signed them, none of them configured. */
  readonly kids: readonly string[];
  readonly fromSeq: number;
  readonly toSeq: number;
  readonly problem: typeof KEY_NOT_CONFIGURED;
}

/** What `CheckpointsNotChecked` says of them. */
export const KEY_NOT_CONFIGURED =
  'signed with a key that is not configured (AUDIT_SIGNING_KEYS): not checked, the chain not verified against them';

export type SignedTenantVerdict = TenantVerdict & {
  readonly signedCheckpoint: SignedCheckpointReport | null;
  readonly invalidCheckpointLines?: number;
  /** Checkpoints the chain was not checked against: their key is not configured. */
  readonly checkpointsNotChecked?: CheckpointsNotChecked;
  /**
   * Of a rewrite: the first row it may have begun at (after the newest checkpoint that still holds), `brokenAtSeq`
   * the last (the oldest checkpoint it contradicts): the changed rows lie within.
   */
  readonly brokenFromSeq?: number;
  /** A break an auditor acknowledged: the rows up to its head are flagged; the rest is checked from there. */
  readonly acknowledgedBreak?: ReturnType<typeof acknowledgedBreakOf>;
};

/** How a signed checkpoint is named in what verification and the export say. */
const namedCheckpoint = (h: SignedHead): string => fillTemplate(NAMED_CHECKPOINT, h.signedAt, h.kid, h.seq, h.hash);

/**
 * How long before its signing a row after a signed head may have been written: the signer reads a head and signs it
 * within one round (milliseconds to seconds); an hour is room to spare, and small against any retention period.
 */
const SIGNING_SLACK_MS = 3600 * 1000;
const DAY_MS = 24 * 3600 * 1000;

/**
 * Checks a verified chain against every signed checkpoint on file: the row at each checkpoint's seq must still carry
 * the signed hash, and the chain must not end before the newest. A retention checkpoint that deleted rows must not
 * contradict them either: rows after a checkpoint signed at T were written after T, so a purge of them is no
 * retention purge while T is less than `retentionDays` ago. The verdict names the checkpoint it found contradicted
 * (the newest such), or the newest one when none is.
 */
export async function checkSignedCheckpoint(
  db: Db,
  verdict: TenantVerdict,
  publicKeys: ReadonlyMap<string, KeyObject>,
  file: CheckpointFile,
  opts: {
    retentionDays: number;
    now?: Date;
    acknowledged?: BreakAcknowledgement | undefined;
    /** Every valid acknowledgement of the chain, oldest first (the newest is `acknowledged`). */
    acknowledgements?: readonly BreakAcknowledgement[];
  },
): Promise<SignedTenantVerdict> {
  const history = await file.history(verdict.tenant);
  const { invalidLines } = history;
  // Checkpoints signed before an acknowledged break vouch for the rows from its first broken row on as they were:
  // the acknowledgement replaced them there. Below it they still hold.
  const acks = opts.acknowledgements ?? (opts.acknowledged ? [opts.acknowledged] : []);
  const heads = history.heads.filter((h) => !contradictedByAcknowledged(acks, h));
  const keyNotConfigured = history.keyNotConfigured.filter((h) => !contradictedByAcknowledged(acks, h));
  const purged = verdict.checkpoint;
  // Those before the retention checkpoint vouch for rows no longer kept: no verification would check them.
  const unchecked = keyNotConfigured.filter((h) => !purged || h.seq >= purged.seq);
  const extra = {
    ...(invalidLines > 0 ? { invalidCheckpointLines: invalidLines } : {}),
    ...(unchecked.length > 0 ? { checkpointsNotChecked: notCheckedReport(unchecked) } : {}),
  };
  const newest = heads.at(-1);
  const reportOf = (h: SignedHead): SignedCheckpointReport => ({
    seq: h.seq,
    hash: h.hash,
    signedAt: h.signedAt,
    kid: h.kid,
    where: file.where(h),
  });
  // Verification starts from the latest retention checkpoint: only a purge signed with the key counts as one.
  if (verdict.ok && purged && !(await isSignedPurge(db, { tenant: verdict.tenant, ...purged }, publicKeys))) {
    return {
      tenant: verdict.tenant,
      ok: false,
      rows: verdict.rows,
      brokenAtSeq: purged.seq,
      problem: chainProblem('purge-unsigned', purged.seq, purged.purgedAt),
      checkpoint: purged,
      signedCheckpoint: newest ? reportOf(newest) : null,
      ...extra,
    };
  }
  if (!newest) {
    return { ...verdict, signedCheckpoint: null, ...extra };
  }
  if (!verdict.ok) {
    return { ...verdict, signedCheckpoint: reportOf(newest), ...extra };
  }
  const named = namedCheckpoint;
  const contradiction = (
    h: SignedHead,
    problem: string,
    brokenAtSeq = h.seq,
    brokenFromSeq?: number,
  ): SignedTenantVerdict => ({
    tenant: verdict.tenant,
    ok: false,
    rows: verdict.rows,
    brokenAtSeq,
    ...(brokenFromSeq !== undefined && brokenFromSeq < brokenAtSeq ? { brokenFromSeq } : {}),
    problem,
    ...(verdict.checkpoint ? { checkpoint: verdict.checkpoint } : {}),
    signedCheckpoint: reportOf(h),
    ...extra,
  });
  // Signed after this verification read the head? Then the chain has grown past it since; otherwise it was cut.
  const headSeq =
    verdict.headSeq < newest.seq ? ((await tryGetChainHead(db, verdict.tenant))?.seq ?? 0) : verdict.headSeq;
  if (headSeq < newest.seq) {
    return contradiction(newest, chainProblem('chain-ends-early', headSeq, named(newest)));
  }
  if (purged) {
    // The newest checkpoint signed before the purged rows: they were written after it was signed.
    const before = heads.filter((h) => h.seq < purged.seq).at(-1);
    const now = (opts.now ?? new Date()).getTime();
    if (before && Date.parse(before.signedAt) - SIGNING_SLACK_MS > now - opts.retentionDays * DAY_MS) {
      return contradiction(
        before,
        chainProblem('purge-too-early', purged.seq, named(before), opts.retentionDays),
        purged.seq,
      );
    }
  }
  // Rows a retention purge deleted are vouched for by its checkpoint's hash, the rest by the rows themselves.
  const held = heads.filter((h) => !purged || h.seq > purged.seq);
  const rows = new Map(
    (
      await db.query<{ seq: number; hash: string }>(
        'SELECT seq::float8 AS seq, hash FROM audit_event WHERE tenant = $1 AND seq = ANY($2::bigint[])',
        [verdict.tenant, [...new Set(held.map((h) => h.seq))]],
      )
    ).map((r) => [r.seq, r.hash]),
  );
  // Oldest first: a rewrite of row k changes the hash of every row from k on, so it contradicts every checkpoint at
  // or after k and none before. Its rows lie after the newest checkpoint that still holds, up to the oldest one it
  // contradicts: that range is what is named (the newest contradicted one would point past the changed row).
  let intactUpTo = purged?.seq ?? (opts.acknowledged ? opts.acknowledged.headSeq : 0);
  for (const h of heads) {
    if (purged && h.seq < purged.seq) {
      continue;
    }
    if (purged && h.seq === purged.seq) {
      if (purged.hash !== h.hash) {
        return contradiction(h, chainProblem('purge-contradicts', h.seq, named(h)));
      }
      continue;
    }
    const hash = rows.get(h.seq);
    if (hash === undefined) {
      return contradiction(h, chainProblem('signed-row-missing', h.seq, named(h)), h.seq, intactUpTo + 1);
    }
    if (hash !== h.hash) {
      return contradiction(h, chainProblem('rewritten', h.seq, hash, named(h)), h.seq, intactUpTo + 1);
    }
    intactUpTo = Math.max(intactUpTo, h.seq);
  }
  return { ...verdict, signedCheckpoint: reportOf(newest), ...extra };
}

/** Breaks a chain may show before the hash chain is given up on: beyond it, it is no chain. */
const MAX_ROW_BREAKS = 100;

/**
 * Every row up to `upToSeq` that the hash chain shows broken, and how: verification stops at the first, so each next
 * one is looked for from the broken row's stored hash on (or the next row kept, when it is missing). What an
 * acknowledgement records, and what every later verification of those rows must find again, no more.
 */
export async function hashChainBreaks(
  db: Db,
  tenant: string,
  upToSeq: number,
  opts: Pick<VerifyOptions, 'segmentRows' | 'signal'> = {},
): Promise<{ breaks: Omit<RowBreak, 'rowDigest'>[]; rows: number; limitReached: boolean }> {
  const breaks: Omit<RowBreak, 'rowDigest'>[] = [];
  let from: { seq: number; hash: string } | undefined;
  let rows = 0;
  let limitReached = false;
  for (;;) {
    const v = await verifyTenant(db, tenant, { ...opts, upToSeq, ...(from ? { from } : {}) });
    rows += v.rows;
    if (v.ok) {
      break;
    }
    // One more break than may be searched: the rows after it are not checked, so the caller must not vouch for them.
    if (breaks.length === MAX_ROW_BREAKS) {
      limitReached = true;
      break;
    }
    breaks.push({ seq: v.brokenAtSeq, problem: v.problem });
    const [next] = await db.query<{ seq: number; hash: string }>(
      'SELECT seq::float8 AS seq, hash FROM audit_event WHERE tenant = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq LIMIT 1',
      [tenant, v.brokenAtSeq, upToSeq],
    );
    if (!next || next.seq >= upToSeq) {
      break;
    }
    from = next;
  }
  return { breaks, rows, limitReached };
}

type FoundBreak = Pick<RowBreak, 'seq' | 'problem'>;
const sameBreaks = (a: readonly FoundBreak[], b: readonly FoundBreak[]): boolean =>
  a.length === b.length && a.every((x, i) => x.seq === b[i]?.seq && x.problem === b[i]?.problem);

/**
 * A whole verification of a chain: its rows by the hash chain (`verifyTenant`), and against every signed checkpoint
 * on file (`checkSignedCheckpoint`). Of a chain whose break an auditor acknowledged (`acknowledgeBreak`): the row at
 * the acknowledged head must still carry its hash, the rows up to it must show exactly the breaks acknowledged, and
 * the rows after it are checked from it against the checkpoints signed since; the verdict names the acknowledged
 * break (`acknowledgedBreak`). What the API, the console, the scheduled verification and `audit-verify` all run.
 */
export async function verifySignedChain(
  db: Db,
  tenant: string,
  publicKeys: ReadonlyMap<string, KeyObject>,
  file: CheckpointFile,
  opts: { retentionDays: number; now?: Date } & Pick<VerifyOptions, 'segmentRows' | 'signal'>,
): Promise<SignedTenantVerdict> {
  const verifyOpts = { segmentRows: opts.segmentRows, signal: opts.signal };
  const acknowledgements = (await listAcknowledgements(db, publicKeys, [tenant])).filter((a) => a.valid);
  const ack = acknowledgements.at(-1);
  const purged = ack && (await tryGetCheckpoint(db, tenant));
  // Acknowledged rows a retention purge has deleted since need no acknowledgement: the purge's checkpoint vouches.
  if (!ack || (purged && purged.seq >= ack.headSeq)) {
    return checkSignedCheckpoint(db, await verifyTenant(db, tenant, verifyOpts), publicKeys, file, {
      ...opts,
      acknowledged: ack,
      acknowledgements,
    });
  }
  const acknowledgedBreak = acknowledgedBreakOf(ack);
  const broken = (brokenAtSeq: number, problem: string, rows = 0): SignedTenantVerdict => ({
    tenant,
    ok: false,
    rows,
    brokenAtSeq,
    problem,
    signedCheckpoint: null,
    acknowledgedBreak,
  });
  const [row] = await db.query<{ hash: string }>('SELECT hash FROM audit_event WHERE tenant = $1 AND seq = $2', [
    tenant,
    ack.headSeq,
  ]);
  if (row?.hash !== ack.headHash) {
    return broken(ack.headSeq, chainProblem('acknowledged-head-changed', ack.headSeq, ack.acknowledgedAt));
  }
  // The broken rows a retention purge has deleted since are expected gone; verification starts at its checkpoint.
  const expected = ack.rowBreaks.filter((b) => !purged || b.seq > purged.seq);
  // Each broken row, and the head, must be exactly as found: the problem text alone would recur after a second
  // change of the row, or a rewrite of the rows before it that links up to its prev_hash.
  const digests = await rowDigests(db, tenant, [ack.headSeq, ...expected.map((b) => b.seq)]);
  if (digests.get(ack.headSeq) !== ack.headDigest) {
    return broken(ack.headSeq, chainProblem('acknowledged-head-changed', ack.headSeq, ack.acknowledgedAt));
  }
  const changed = expected.find((b) => digests.get(b.seq) !== b.rowDigest);
  if (changed) {
    return broken(changed.seq, chainProblem('acknowledged-row-changed', changed.seq, ack.acknowledgedAt));
  }
  const before = await hashChainBreaks(db, tenant, ack.headSeq, verifyOpts);
  if (before.limitReached) {
    const last = before.breaks.at(-1)?.seq ?? ack.headSeq;
    return broken(last, chainProblem('too-many-breaks', MAX_ROW_BREAKS, ack.headSeq), before.rows);
  }
  if (!sameBreaks(before.breaks, expected)) {
    const known = new Set(
      expected.map(
        (b) => `${b.seq}
${b.problem}`,
      ),
    );
    const fresh = before.breaks.find(
      (b) =>
        !known.has(`${b.seq}
${b.problem}`),
    );
    return fresh
      ? broken(fresh.seq, fresh.problem, before.rows)
      : broken(
          expected[0]?.seq ?? ack.headSeq,
          chainProblem('acknowledged-rows-changed', ack.acknowledgedAt),
          before.rows,
        );
  }
  const after = await verifyTenant(db, tenant, { ...verifyOpts, from: { seq: ack.headSeq, hash: ack.headHash } });
  const verdict = await checkSignedCheckpoint(db, { ...after, rows: after.rows + before.rows }, publicKeys, file, {
    ...opts,
    acknowledged: ack,
    acknowledgements,
  });
  return { ...verdict, acknowledgedBreak };
}

/** Why a break cannot be acknowledged: the answer names the field (409). */
/** An acknowledgement refused: `refusal` says why as a code (refusal-codes.ts), the message in English. */
export class AcknowledgementRefused extends Error {
  constructor(
    readonly refusal: AuditRefusal,
    message: string,
  ) {
    super(message);
  }
}

/**
 * An auditor acknowledges the break a whole verification found in a chain, at row `brokenAtSeq` as the auditor was
 * shown: verified again now, it must be broken there still (not intact, not somewhere else first). The finding is
 * kept for good (`audit_chain_acknowledgement`, signed; the integrity history; a Security Alert in the system
 * chain, the auditor as agent), the chain's head is signed as a checkpoint, and from then on the chain is signed and
 * exported again, with the break stated (`verifySignedChain`). Rows after the break must link up to the head: a
 * second break beyond the first is acknowledged with it (`rowBreaks`) only when the hash chain shows it, never
 * silently.
 */
export async function acknowledgeBreak(
  deps: {
    db: Db;
    keys: SigningKeys;
    file: CheckpointFile;
    retentionDays: number;
    audit: AuditAppender;
  },
  tenant: string,
  brokenAtSeq: number,
  by: { principalId: string; actor: Parameters<typeof alertIntegrityChange>[2]; reason?: string | undefined },
): Promise<BreakAcknowledgement> {
  const { db, keys, file } = deps;
  const publicKeys = publicKeysOf(keys);
  // What is recorded of the chain after this moment was found by a check this one did not see (M5).
  const [{ started }] = (await db.query<{ started: string }>('SELECT clock_timestamp()::text AS started')) as [
    { started: string },
  ];
  const head = await tryGetChainHead(db, tenant);
  if (!head) {
    throw new AcknowledgementRefused('chain-empty', 'the chain has no rows');
  }
  const verdict = await verifySignedChain(db, tenant, publicKeys, file, { retentionDays: deps.retentionDays });
  if (verdict.ok) {
    throw new AcknowledgementRefused('not-broken', 'the chain verifies: there is no break to acknowledge');
  }
  if (verdict.brokenAtSeq !== brokenAtSeq) {
    throw new AcknowledgementRefused(
      'broken-elsewhere',
      `the chain is found broken at row ${verdict.brokenAtSeq} now, not ${brokenAtSeq}: verify it again and ` +
        'acknowledge what it names',
    );
  }
  if (verdict.checkpointsNotChecked) {
    throw new AcknowledgementRefused(
      'checkpoints-not-checked',
      'some signed checkpoints could not be checked (their key is not configured): configure the old key first',
    );
  }
  // Every break the hash chain shows up to the head, from the previous acknowledgement's head on, as later
  // verifications will look for them.
  const found = await hashChainBreaks(db, tenant, head.seq);
  if (found.limitReached) {
    throw new AcknowledgementRefused(
      'too-many-breaks',
      `the hash chain shows more than ${MAX_ROW_BREAKS} broken rows: the rows after them were not checked, and ` +
        'cannot be vouched for',
    );
  }
  const digests = await rowDigests(db, tenant, [head.seq, ...found.breaks.map((b) => b.seq)]);
  const breaks: RowBreak[] = found.breaks.map((b) => ({ ...b, rowDigest: digests.get(b.seq) ?? MISSING_ROW }));
  const last = breaks.at(-1);
  if (last && last.seq >= head.seq) {
    throw new AcknowledgementRefused(
      'head-broken',
      `the chain's head (row ${head.seq}) is itself broken: it cannot be vouched for`,
    );
  }
  const [row] = await db.query<{ hash: string }>('SELECT hash FROM audit_event WHERE tenant = $1 AND seq = $2', [
    tenant,
    head.seq,
  ]);
  if (row?.hash !== head.hash) {
    throw new AcknowledgementRefused('head-broken', `the chain's head (row ${head.seq}) does not match its last row`);
  }
  const ack = signAcknowledgement(keys.current, {
    tenant,
    acknowledgedAt: new Date().toISOString(),
    acknowledgedBy: by.principalId,
    ...(by.reason === undefined ? {} : { reason: by.reason }),
    brokenFromSeq: verdict.brokenFromSeq ?? brokenAtSeq,
    brokenAtSeq,
    problem: verdict.problem,
    rowBreaks: breaks,
    headSeq: head.seq,
    headHash: head.hash,
    headDigest: digests.get(head.seq) ?? MISSING_ROW,
  });
  // The head as a checkpoint, signed at the acknowledgement's time: kept outside the database, it is where the signer
  // and verification go on from (the checkpoints signed before are superseded).
  await underCheckpointLock(db, async () => {
    await file.catchUp();
    file.append([signHead(keys.current, { tenant, ...head }, new Date(ack.acknowledgedAt))]);
  });
  const change = {
    tenant,
    verdict: 'acknowledged' as const,
    brokenFromSeq: ack.brokenFromSeq,
    brokenAtSeq,
    problem: ack.problem,
    by: by.principalId,
    reason: by.reason,
  };
  await db.transaction(async (tx) => {
    // Only the state this acknowledgement checked is cleared: a check recorded since (the signer's, another process's
    // verification) may have found a new break, which `ok = true` would hide.
    const [recorded] = await tx.query<{ ok: boolean; newer: boolean }>(
      `SELECT ok, checked_at > $2::timestamptz AS newer FROM audit_chain_integrity WHERE tenant = $1 FOR UPDATE`,
      [tenant, started],
    );
    if (recorded?.newer && !recorded.ok) {
      throw new AcknowledgementRefused(
        'broken-meanwhile',
        'a check recorded the chain broken while this acknowledgement verified it: verify it again and acknowledge ' +
          'what it names',
      );
    }
    await storeAcknowledgement(tx, ack);
    await tx.query('UPDATE audit_chain_integrity SET ok = true, checked_at = now() WHERE tenant = $1', [tenant]);
    await recordIntegrityHistory(tx, change);
  });
  await alertIntegrityChange(deps.audit, change, by.actor);
  return ack;
}

function notCheckedReport(heads: readonly SignedHead[]): CheckpointsNotChecked {
  return {
    signatureChecked: false,
    count: heads.length,
    kids: [...new Set(heads.map((h) => h.kid))].sort(),
    fromSeq: heads[0]?.seq ?? 0,
    toSeq: heads.at(-1)?.seq ?? 0,
    problem: KEY_NOT_CONFIGURED,
  };
}

/**
 * Whether the chain's current head extends `signed`: the row at its seq (or the retention checkpoint that replaced
 * it, signed by one of `publicKeys` as a real purge is) still carries the signed hash, and the rows after it verify
 * and link up to `head`. Only the rows since the last signing are read.
 */
async function extendsSignedHead(
  db: Db,
  tenant: string,
  signed: { seq: number; hash: string },
  head: { seq: number; hash: string },
  publicKeys: ReadonlyMap<string, KeyObject>,
): Promise<boolean> {
  if (head.seq < signed.seq) {
    return false;
  }
  const purged = await tryGetCheckpoint(db, tenant);
  if (purged && purged.seq >= signed.seq) {
    // Rows up to the purge are gone: only a purge signed with the key vouches for them (a forged one is for
    // verification to report); a purge the signed history contradicts likewise.
    return (purged.seq > signed.seq || purged.hash === signed.hash) &&
      (await isSignedPurge(db, { tenant, ...purged }, publicKeys))
      ? extendsFrom(db, tenant, purged, head)
      : false;
  }
  const [row] = await db.query<{ hash: string }>('SELECT hash FROM audit_event WHERE tenant = $1 AND seq = $2', [
    tenant,
    signed.seq,
  ]);
  return row?.hash === signed.hash && extendsFrom(db, tenant, signed, head);
}

async function extendsFrom(
  db: Db,
  tenant: string,
  from: { seq: number; hash: string },
  head: { seq: number; hash: string },
): Promise<boolean> {
  if (head.seq === from.seq) {
    return head.hash === from.hash;
  }
  const v = await verifyTenant(db, tenant, { from, upToSeq: head.seq });
  return v.ok && v.headSeq === head.seq && v.headHash === head.hash;
}

/**
 * Signs an export (`GET /audit/v1/export`): its whole metadata line, `metadata` (without `signedHead`), naming its
 * end `end` (`exportSigningInput`). Only when the signed history vouches for that end, with the signer's own
 * check: the chain's current head extends the last signed head, and so does the export's end, or, when it lies
 * before that head, it links up to the first signed head at or after it (whose hash covers every row before it).
 * Otherwise the chain was rewritten or cut since it was signed, and a signature on the export would vouch for that:
 * the contradicted checkpoint comes back instead. Only rows since the signed heads concerned are read. With nothing
 * signed yet there is nothing to contradict.
 */
export async function signExportEnd(
  db: Db,
  keys: SigningKeys,
  file: CheckpointFile,
  end: { tenant: string; seq: number; hash: string },
  metadata: Readonly<Record<string, unknown>>,
): Promise<{ signedHead: SignedHead } | { signedCheckpoint: SignedHead; problem: string }> {
  // Of a chain whose break was acknowledged, the checkpoints signed since: the older ones contradict the break.
  const acknowledged = (await latestAcknowledgements(db, publicKeysOf(keys), [end.tenant])).get(end.tenant);
  const heads = (await file.history(end.tenant)).heads.filter((h) => !supersededBy(acknowledged, h));
  const newest = heads.at(-1);
  if (newest) {
    const head = (await tryGetChainHead(db, end.tenant)) ?? { seq: 0, hash: '' };
    const publicKeys = publicKeysOf(keys);
    if (!(await extendsSignedHead(db, end.tenant, newest, head, publicKeys))) {
      return {
        signedCheckpoint: newest,
        problem: `the chain's head (seq ${head.seq}) does not extend ${namedCheckpoint(newest)}: the chain was rewritten or cut since; not signed`,
      };
    }
    const after = heads.find((h) => h.seq >= end.seq);
    const vouched = after
      ? after.seq === end.seq
        ? after.hash === end.hash
        : await extendsFrom(db, end.tenant, end, after)
      : await extendsSignedHead(db, end.tenant, newest, end, publicKeys);
    if (!vouched) {
      const named = after ?? newest;
      return {
        signedCheckpoint: named,
        problem: `the export's end (seq ${end.seq}) does not ${after ? 'link up to' : 'extend'} ${namedCheckpoint(named)}: the chain was rewritten or cut since; not signed`,
      };
    }
  }
  return { signedHead: signExport(keys.current, end, metadata) };
}

/** Delivers checkpoints to a witness URL, oldest first, retried with back-off (30 s doubling to 1 h) until 2xx. */
class Witness {
  private pending: SignedHead[] = [];
  private failures = 0;
  private notBefore = 0;

  constructor(
    private readonly url: string,
    private readonly log: Logger,
    private readonly timeoutMs: number,
    private readonly retryBaseMs: number,
  ) {}

  add(heads: readonly SignedHead[]): void {
    // Only the newest checkpoint per tenant matters to a witness: it covers every earlier one.
    for (const h of heads) {
      this.pending = [...this.pending.filter((p) => p.tenant !== h.tenant), h];
    }
  }

  async push(): Promise<void> {
    if (this.pending.length === 0 || Date.now() < this.notBefore) {
      return;
    }
    const batch = this.pending;
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ checkpoints: batch }),
        redirect: 'manual',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
      if (res.status < 200 || res.status >= 300) {
        throw new Error(`witness answered HTTP ${res.status}`);
      }
      this.pending = this.pending.filter((p) => !batch.includes(p));
      this.failures = 0;
    } catch (err) {
      this.failures++;
      const delay = Math.min(this.retryBaseMs * 2 ** (this.failures - 1), 3_600_000);
      this.notBefore = Date.now() + delay;
      this.log.warn({ checkpoints: batch.length, retryInMs: delay, ...errorFields(err) }, 'audit witness unreachable');
    }
  }
}

/**
 * Signs, every `intervalMs` and once more at shutdown (after the audit writer's last flush), every chain head that
 * moved since the newest checkpoint on file, whoever signed that: appends them to the checkpoint file and hands them
 * to the witness. Processes sharing the file and database append one at a time (the checkpoint lock) after reading
 * what the others appended, so a head is signed once, not once per process; and a chain another process signed less
 * than `intervalMs` ago is left to that process, so a busy chain gets one checkpoint per interval, not one per
 * process. Each round also checks every chain against its newest signed checkpoint (the row at its seq still carries
 * the signed hash, and the rows since link up to the head) and says so (`onChecked`, `onContradiction`), and moves
 * the checkpoints of earlier days into the monthly archives (`CheckpointFile.compact`).
 */
export class HeadSigner {
  /** What this process signed last per chain: a chain whose newest checkpoint is its own is signed on its schedule. */
  private readonly ownSignatures = new Map<string, string>();
  /** Chains whose head contradicts their last signed checkpoint, logged once per signed seq. */
  private readonly reported = new Map<string, number>();
  /** Chains left unsigned as known broken (audit_chain_integrity), logged once until found intact again. */
  private readonly knownBroken = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private intervalMs: number | undefined;
  private running: Promise<void> | undefined;
  private readonly witness: Witness | undefined;

  constructor(
    private readonly db: Db,
    private readonly keys: SigningKeys,
    readonly file: CheckpointFile,
    private readonly log: Logger,
    private readonly opts: {
      witnessUrl?: string | undefined;
      witnessTimeoutMs: number;
      witnessRetryBaseMs?: number;
      /** Where a chain found broken is written down (a Security Alert in the system chain). */
      audit?: AuditAppender | undefined;
      /** Told when a chain's head does not extend its last signed checkpoint (at `signedSeq`): not signed. */
      onContradiction?: (tenant: string, signedSeq: number) => void;
      /** Told when a chain's head extends its newest signed checkpoint, checked this round. */
      onChecked?: (tenant: string) => void;
      /** Told, each round, of a chain left unsigned because its last known verification found it broken. */
      onKnownBroken?: (tenant: string) => void;
      /** Told of a chain left unsigned in an earlier round that a whole verification has found intact since. */
      onIntactAgain?: (tenant: string) => void;
      /**
       * Told of a round's error; returns whether it was PostgreSQL being away, which the process's outage log then
       * records once (OutageLog.seen) instead of a warning every round.
       */
      onOutage?: (err: unknown) => boolean;
    },
  ) {
    this.witness = opts.witnessUrl
      ? new Witness(opts.witnessUrl, log, opts.witnessTimeoutMs, opts.witnessRetryBaseMs ?? 30_000)
      : undefined;
  }

  start(intervalMs: number): this {
    this.intervalMs = intervalMs;
    this.timer = setInterval(() => void this.signNow(), intervalMs);
    this.timer.unref();
    return this;
  }

  /** One round; never throws (a database outage only delays the next checkpoint). */
  signNow(opts: { final?: boolean } = {}): Promise<void> {
    this.running ??= this.round(opts.final ?? false)
      .catch((err: Error) => {
        if (!this.opts.onOutage?.(err)) {
          this.log.warn(errorFields(err), 'could not sign the audit chain heads');
        }
      })
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  /**
   * Whether `newest`, on file for its chain, leaves the chain to another process this round: signed by another one
   * less than an interval ago. The last round before shutdown signs regardless: nothing after it would.
   */
  private leftToAnother(newest: SignedHead, final: boolean): boolean {
    return (
      !final &&
      this.intervalMs !== undefined &&
      this.ownSignatures.get(newest.tenant) !== newest.sig &&
      Date.now() - Date.parse(newest.signedAt) < this.intervalMs
    );
  }

  private async round(final: boolean): Promise<void> {
    await this.file.catchUp();
    const publicKeys = publicKeysOf(this.keys);
    // A chain whose break an auditor acknowledged goes on from the head signed then (`acknowledgeBreak`).
    const acknowledged = await latestAcknowledgements(this.db, publicKeys);
    const newest = this.file.newestKnown(acknowledged);
    const toSign: { tenant: string; seq: number; hash: string }[] = [];
    // What any process's verification last found (a whole one reads rows this round's check does not): a chain
    // known broken is not signed, whatever its head, until a whole verification finds it intact again.
    const broken = await knownBrokenChains(this.db);
    for (const tenant of this.knownBroken) {
      if (!broken.has(tenant)) {
        this.knownBroken.delete(tenant);
        this.opts.onIntactAgain?.(tenant);
      }
    }
    // Every chain's head in one query, not one per chain.
    for (const head of await listChainHeads(this.db)) {
      const { tenant } = head;
      const last = newest.get(tenant);
      if (head.seq === 0) {
        continue;
      }
      if (broken.has(tenant)) {
        if (!this.knownBroken.has(tenant)) {
          this.knownBroken.add(tenant);
          if (!this.reported.has(tenant)) {
            this.log.error({ tenant }, 'audit chain known broken by its last verification: its head is not signed');
          }
        }
        this.opts.onKnownBroken?.(tenant);
        continue;
      }
      // A head that does not extend what was signed is a rewritten or cut chain: signing it would vouch for that.
      if (last && !(await extendsSignedHead(this.db, tenant, last, head, publicKeys))) {
        if (this.reported.get(tenant) !== last.seq) {
          this.reported.set(tenant, last.seq);
          this.log.error(
            { tenant, signedSeq: last.seq },
            'audit chain contradicts its signed checkpoint: its head is not signed',
          );
        }
        // Known broken from now on, to every process (and the console), until a whole verification finds it intact.
        await recordChainIntegrity(
          this.db,
          tenant,
          { ok: false, problem: chainProblem('head-not-extending', head.seq, namedCheckpoint(last)) },
          'head-check',
          { audit: this.opts.audit },
        );
        this.opts.onContradiction?.(tenant, last.seq);
        continue;
      }
      this.reported.delete(tenant);
      if (last) {
        this.opts.onChecked?.(tenant);
      }
      if ((last?.seq === head.seq && last.hash === head.hash) || (last && this.leftToAnother(last, final))) {
        continue;
      }
      toSign.push({ tenant, seq: head.seq, hash: head.hash });
    }
    const signed = toSign.length > 0 ? await this.append(toSign, newest, acknowledged) : [];
    this.witness?.add(signed);
    await this.witness?.push();
    if (final) {
      // The operator reading a stopped process's log learns its last rows are vouched for (0: all were already).
      this.log.info({ signed: signed.length }, 'audit chain heads signed at stop');
    } else {
      await this.file.compact(this.db);
    }
  }

  /**
   * Signs and appends the heads still unsigned once the other processes' latest lines are read, under the checkpoint
   * lock: a head another process signed meanwhile (or a later one) is not signed again.
   */
  private async append(
    heads: readonly { tenant: string; seq: number; hash: string }[],
    checked: ReadonlyMap<string, SignedHead>,
    acknowledged: ReadonlyMap<string, BreakAcknowledgement>,
  ): Promise<SignedHead[]> {
    return underCheckpointLock(this.db, async () => {
      await this.file.catchUp();
      const now = this.file.newestKnown(acknowledged);
      const signed: SignedHead[] = [];
      for (const head of heads) {
        const last = now.get(head.tenant);
        // Signed by another process since this round checked the head (or later): this round's check does not
        // cover that one, and no database query runs under the lock (it holds a connection of a pool that may have
        // one). The next round checks against it.
        const before = checked.get(head.tenant);
        if (last && (last.seq >= head.seq || !before || sameHead(last) !== sameHead(before))) {
          continue;
        }
        signed.push(signHead(this.keys.current, head));
      }
      this.file.append(signed);
      for (const h of signed) {
        this.ownSignatures.set(h.tenant, h.sig);
      }
      return signed;
    });
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await this.signNow({ final: true });
  }
}

/** Opens the signing keys and the checkpoint file of a data directory. */
export function openSignedHeads(
  signingKeys: string | undefined,
  dataDir: string,
): { keys: SigningKeys; file: CheckpointFile } {
  const keys = loadSigningKeys(signingKeys, dataDir);
  return {
    keys,
    file: new CheckpointFile(path.join(dataDir, CHECKPOINT_FILE), publicKeysOf(keys)),
  };
}

/**
 * Offline check of an export's signed head (`audit-verify verify-export --keys`): it must be validly signed by one
 * of the published keys and name exactly the exported piece's tenant, last seq and head hash. From export version 3
 * the signature covers the whole metadata line (`covers: 'export'`); versions 1 and 2, made before, signed their end
 * alone (`covers: 'end'`), so rows cut from their start would not show.
 */
export function checkExportSignedHead(
  meta: { version?: unknown; tenant?: unknown; toSeq?: unknown; headHash?: unknown; signedHead?: unknown },
  jwks: unknown,
): { ok: true; kid: string; signedAt: string; covers: 'export' | 'end' } | { ok: false; problem: string } {
  const h = meta.signedHead;
  if (h === undefined) {
    return { ok: false, problem: 'the export carries no signed head' };
  }
  // What it names first: a signature kept on a file cut or grown since is the likelier story, and says more.
  const named: Partial<Record<keyof SignedHead, unknown>> = typeof h === 'object' && h !== null ? h : {};
  if (named.tenant !== meta.tenant || named.seq !== meta.toSeq || named.hash !== meta.headHash) {
    return { ok: false, problem: 'the signed head names another tenant, seq or hash than the export' };
  }
  const covers = meta.version === 1 || meta.version === 2 ? 'end' : 'export';
  const inputOf =
    covers === 'end' ? signingInput : (s: Omit<SignedHead, 'sig'>) => exportSigningInput(s.kid, s.signedAt, meta);
  if (!isValidSignedHead(h, keysFromJwks(jwks), inputOf)) {
    return { ok: false, problem: 'the signed head does not verify with the published keys' };
  }
  return { ok: true, kid: h.kid, signedAt: h.signedAt, covers };
}
