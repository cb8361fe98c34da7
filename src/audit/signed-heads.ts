import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { ConfigError } from '../kernel/config';
import type { Db } from '../kernel/db';
import { errorFields } from '../kernel/logger';
import { chainRows, listChainTenants, tryGetChainHead, type TenantVerdict } from './verify';

/**
 * Signed chain heads: what makes a consistent rewrite of the audit log visible. The hash chain alone shows any edit
 * of a row, but someone with superuser rights on PostgreSQL can rewrite a chain from row k and recompute every later
 * hash and the head. So, at least every AUDIT_SIGN_INTERVAL_MS, each chain's head (tenant, seq, hash) is signed with
 * an Ed25519 key that never enters the database, and the signed checkpoint is kept outside PostgreSQL: appended to
 * `DATA_DIR/audit-checkpoints.ndjson` and, when AUDIT_WITNESS_URL is set, pushed to a witness (the municipality or
 * an auditor), retried with back-off until it answers 2xx. Verification then checks the chain against the latest
 * signed checkpoint it can find and names it; a rewrite of any row at or before it no longer matches.
 */

export const CHECKPOINT_FILE = 'audit-checkpoints.ndjson';
const KEY_FILE = 'audit-signing-keys';

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
  const text = spec ?? readOrCreateKeyFile(dataDir);
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

function readOrCreateKeyFile(dataDir: string): string {
  const file = path.join(dataDir, KEY_FILE);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(dataDir, { recursive: true });
    const kid = `k${new Date().toISOString().slice(0, 10).replace(/-/g, '')}`;
    try {
      fs.writeFileSync(file, `${newSigningKeyEntry(kid)}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      // Another process sharing DATA_DIR created it first: use theirs.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw err;
      }
    }
  }
  return fs.readFileSync(file, 'utf8').trim();
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
function keysFromJwks(jwks: unknown): Map<string, KeyObject> {
  const out = new Map<string, KeyObject>();
  const list = (jwks as { keys?: unknown } | null)?.keys;
  for (const jwk of Array.isArray(list) ? (list as (JsonWebKey & { kid?: unknown })[]) : []) {
    if (typeof jwk.kid === 'string' && jwk.kty === 'OKP' && jwk.crv === 'Ed25519') {
      out.set(jwk.kid, createPublicKey({ key: jwk, format: 'jwk' }));
    }
  }
  return out;
}

export function signHead(key: SigningKeys['current'], head: { tenant: string; seq: number; hash: string }): SignedHead {
  const unsigned = { tenant: head.tenant, seq: head.seq, hash: head.hash, signedAt: new Date().toISOString() };
  const sig = sign(null, signingInput({ ...unsigned, kid: key.kid }), key.privateKey).toString('base64url');
  return { ...unsigned, kid: key.kid, sig };
}

/** Whether `h` is a well-formed checkpoint signed by one of `publicKeys`. */
function isValidSignedHead(h: unknown, publicKeys: ReadonlyMap<string, KeyObject>): h is SignedHead {
  const s = h as Partial<Record<keyof SignedHead, unknown>> | null;
  if (
    typeof s !== 'object' ||
    s === null ||
    typeof s.tenant !== 'string' ||
    typeof s.seq !== 'number' ||
    typeof s.hash !== 'string' ||
    typeof s.signedAt !== 'string' ||
    typeof s.kid !== 'string' ||
    typeof s.sig !== 'string'
  ) {
    return false;
  }
  const key = publicKeys.get(s.kid);
  if (!key) {
    return false;
  }
  const input = signingInput({ tenant: s.tenant, seq: s.seq, hash: s.hash, signedAt: s.signedAt, kid: s.kid });
  try {
    return verify(null, input, key, Buffer.from(s.sig, 'base64url'));
  } catch {
    return false;
  }
}

const publicKeysOf = (keys: SigningKeys): Map<string, KeyObject> => new Map(keys.all.map((k) => [k.kid, k.publicKey]));

/** The checkpoint file: append-only, one signed head per line. */
export class CheckpointFile {
  constructor(readonly file: string) {}

  append(heads: readonly SignedHead[]): void {
    if (heads.length === 0) {
      return;
    }
    const fd = fs.openSync(this.file, 'a', 0o644);
    try {
      fs.writeSync(fd, heads.map((h) => `${JSON.stringify(h)}\n`).join(''));
      // Durable before it counts: a checkpoint lost in a crash would only weaken the next verification.
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  }

  /** The latest validly signed checkpoint of a tenant; lines that do not verify are counted, never used. */
  latest(tenant: string, publicKeys: ReadonlyMap<string, KeyObject>): { head?: SignedHead; invalidLines: number } {
    if (!fs.existsSync(this.file)) {
      return { invalidLines: 0 };
    }
    let head: SignedHead | undefined;
    let invalidLines = 0;
    for (const line of fs.readFileSync(this.file, 'utf8').split('\n')) {
      if (line.trim() === '') {
        continue;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        invalidLines++;
        continue;
      }
      if (!isValidSignedHead(parsed, publicKeys)) {
        invalidLines++;
        continue;
      }
      if (parsed.tenant === tenant && (!head || parsed.seq >= head.seq)) {
        head = parsed;
      }
    }
    return { ...(head ? { head } : {}), invalidLines };
  }
}

/** What verification says about the signed checkpoint it checked the chain against. */
export interface SignedCheckpointReport {
  readonly seq: number;
  readonly hash: string;
  readonly signedAt: string;
  readonly kid: string;
  readonly where: string;
}

export type SignedTenantVerdict = TenantVerdict & {
  readonly signedCheckpoint: SignedCheckpointReport | null;
  readonly invalidCheckpointLines?: number;
};

/**
 * Checks a verified chain against its latest signed checkpoint: the row at the checkpoint's seq must still carry
 * the signed hash, and the chain must not end before it. The verdict names the checkpoint either way.
 */
export async function checkSignedCheckpoint(
  db: Db,
  verdict: TenantVerdict,
  keys: SigningKeys,
  file: CheckpointFile,
): Promise<SignedTenantVerdict> {
  const { head, invalidLines } = file.latest(verdict.tenant, publicKeysOf(keys));
  const extra = invalidLines > 0 ? { invalidCheckpointLines: invalidLines } : {};
  if (!head) {
    return { ...verdict, signedCheckpoint: null, ...extra };
  }
  const signedCheckpoint = { seq: head.seq, hash: head.hash, signedAt: head.signedAt, kid: head.kid, where: file.file };
  const named = `the checkpoint signed at ${head.signedAt} with key ${head.kid} (seq ${head.seq}, hash ${head.hash})`;
  if (!verdict.ok) {
    return { ...verdict, signedCheckpoint, ...extra };
  }
  const contradiction = (problem: string): SignedTenantVerdict => ({
    tenant: verdict.tenant,
    ok: false,
    rows: verdict.rows,
    brokenAtSeq: head.seq,
    problem,
    ...(verdict.checkpoint ? { checkpoint: verdict.checkpoint } : {}),
    signedCheckpoint,
    ...extra,
  });
  if (verdict.headSeq < head.seq) {
    // Signed after this verification read the head? Then the chain has grown past it since; otherwise it was cut.
    const now = await tryGetChainHead(db, verdict.tenant);
    if (!now || now.seq < head.seq) {
      return contradiction(`the chain ends at seq ${now?.seq ?? verdict.headSeq}, before ${named}`);
    }
  }
  // A retention purge may have removed the row itself; its own checkpoint then carries the hash.
  if (verdict.checkpoint && verdict.checkpoint.seq >= head.seq) {
    return verdict.checkpoint.seq === head.seq && verdict.checkpoint.hash !== head.hash
      ? contradiction(`the retention checkpoint at seq ${head.seq} contradicts ${named}`)
      : { ...verdict, signedCheckpoint, ...extra };
  }
  for await (const row of chainRows(db, verdict.tenant, head.seq - 1, head.seq, 1)) {
    if (row.hash !== head.hash) {
      return contradiction(`the chain was rewritten: row ${head.seq} has hash ${row.hash}, contradicting ${named}`);
    }
    return { ...verdict, signedCheckpoint, ...extra };
  }
  return contradiction(`row ${head.seq} is missing, contradicting ${named}`);
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
 * Signs every chain head that moved since it last signed, every `intervalMs` and once more at shutdown (after the
 * audit writer's last flush): appends them to the checkpoint file and hands them to the witness.
 */
export class HeadSigner {
  private readonly lastSigned = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly witness: Witness | undefined;

  constructor(
    private readonly db: Db,
    private readonly keys: SigningKeys,
    readonly file: CheckpointFile,
    private readonly log: Logger,
    opts: { witnessUrl?: string | undefined; witnessTimeoutMs: number; witnessRetryBaseMs?: number },
  ) {
    this.witness = opts.witnessUrl
      ? new Witness(opts.witnessUrl, log, opts.witnessTimeoutMs, opts.witnessRetryBaseMs ?? 30_000)
      : undefined;
  }

  start(intervalMs: number): this {
    this.timer = setInterval(() => void this.signNow(), intervalMs);
    this.timer.unref();
    return this;
  }

  /** One round; never throws (a database outage only delays the next checkpoint). */
  signNow(): Promise<void> {
    this.running ??= this.round()
      .catch((err: Error) => this.log.warn(errorFields(err), 'could not sign the audit chain heads'))
      .finally(() => {
        this.running = undefined;
      });
    return this.running;
  }

  private async round(): Promise<void> {
    const signed: SignedHead[] = [];
    for (const tenant of await listChainTenants(this.db)) {
      const head = await tryGetChainHead(this.db, tenant);
      if (!head || head.seq === 0 || this.lastSigned.get(tenant) === `${head.seq}:${head.hash}`) {
        continue;
      }
      signed.push(signHead(this.keys.current, { tenant, seq: head.seq, hash: head.hash }));
    }
    this.file.append(signed);
    for (const h of signed) {
      this.lastSigned.set(h.tenant, `${h.seq}:${h.hash}`);
    }
    this.witness?.add(signed);
    await this.witness?.push();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
    await this.signNow();
  }
}

/** Opens the signing keys and the checkpoint file of a data directory. */
export function openSignedHeads(
  signingKeys: string | undefined,
  dataDir: string,
): { keys: SigningKeys; file: CheckpointFile } {
  return {
    keys: loadSigningKeys(signingKeys, dataDir),
    file: new CheckpointFile(path.join(dataDir, CHECKPOINT_FILE)),
  };
}

/**
 * Offline check of an export's signed head (`audit-verify verify-export --keys`): it must be validly signed by one
 * of the published keys and name exactly the exported piece's tenant, last seq and head hash.
 */
export function checkExportSignedHead(
  meta: { tenant?: unknown; toSeq?: unknown; headHash?: unknown; signedHead?: unknown },
  jwks: unknown,
): { ok: true; kid: string; signedAt: string } | { ok: false; problem: string } {
  const h = meta.signedHead;
  if (h === undefined) {
    return { ok: false, problem: 'the export carries no signed head' };
  }
  if (!isValidSignedHead(h, keysFromJwks(jwks))) {
    return { ok: false, problem: 'the signed head does not verify with the published keys' };
  }
  if (h.tenant !== meta.tenant || h.seq !== meta.toSeq || h.hash !== meta.headHash) {
    return { ok: false, problem: 'the signed head names another tenant, seq or hash than the export' };
  }
  return { ok: true, kid: h.kid, signedAt: h.signedAt };
}
