import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { OperationOutcomeError } from '@medplum/core';
import { z } from 'zod';
import { tryReadJsonFile } from '../kernel/json-file';
import { ConfigError } from '../kernel/config';
import { invalidApiKey } from './auth-outcomes';
import {
  createPrincipal,
  municipalityScopeSchema,
  practiceScopeSchema,
  ROLES,
  scopeProblem,
  type Principal,
  type Role,
} from './principal';

/**
 * API keys look like `jb_<id>_<secret>`: the id lets us find the stored hash without scanning, and the secret is
 * 32 random bytes in base64url (43 characters). Only `sha256:<hex>` of the whole key is ever stored.
 */
export const API_KEY_PREFIX = 'jb_';

const ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
// The id cannot contain '_', so the first '_' after the prefix ends it even though base64url may contain '_'.
const KEY_PATTERN = /^jb_([a-z0-9][a-z0-9-]{0,62})_([A-Za-z0-9_-]{43})$/;
const HASH_PATTERN = /^sha256:([0-9a-f]{64})$/;
const SECRET_BYTES = 32;

/** One stored key: its hash and what it grants, never the key itself. */
export const apiKeyEntrySchema = z
  .strictObject({
    id: z
      .string()
      .regex(ID_PATTERN, 'lower-case letters, digits and hyphens, starting with a letter or digit, at most 63'),
    role: z.enum(ROLES),
    practices: practiceScopeSchema.optional(),
    municipalities: municipalityScopeSchema.optional(),
    hash: z.string().regex(HASH_PATTERN, 'sha256: followed by 64 lower-case hex digits'),
    created: z.iso.datetime().optional(),
    disabled: z.boolean().optional(),
  })
  .superRefine((entry, ctx) => {
    const problem = scopeProblem(entry.role, entry.practices ?? [], entry.municipalities ?? []);
    if (problem) {
      ctx.addIssue({ code: 'custom', path: [problem.field], message: problem.message });
    }
  });

/** One entry of api-keys.json. */
export type ApiKeyEntry = z.output<typeof apiKeyEntrySchema>;

/** What a new key grants. */
export interface ApiKeyGrant {
  readonly role: Role;
  readonly practices?: readonly string[];
  readonly municipalities?: readonly string[];
  /** Defaults to a random id; must be unique in the file. */
  readonly id?: string;
}

/** A fresh random key id: 12 hex digits, enough that two operators creating keys at once do not collide. */
function generateApiKeyId(): string {
  return crypto.randomBytes(6).toString('hex');
}

/** A new API key `jb_<id>_<32 random bytes base64url>`; show it once and store only its hash. */
export function generateApiKey(id: string = generateApiKeyId()): string {
  if (!ID_PATTERN.test(id)) {
    throw new ConfigError(`API key id ${JSON.stringify(id)}: lower-case letters, digits and hyphens, at most 63`);
  }
  return `${API_KEY_PREFIX}${id}_${crypto.randomBytes(SECRET_BYTES).toString('base64url')}`;
}

/**
 * `sha256:<hex>` of the whole key. A fast hash is right here: the key holds 256 random bits, so guessing a
 * preimage is infeasible however fast the hash is. Slow hashes (scrypt, argon2) exist to stretch low-entropy
 * passwords; on every API request they would only cost CPU and hand attackers a cheap way to exhaust it.
 */
export function hashApiKey(key: string): string {
  return `sha256:${crypto.createHash('sha256').update(key, 'utf8').digest('hex')}`;
}

/**
 * What a console session keeps of the API key it was opened with: a digest of the key's stored hash, so that the
 * session ends when the key is re-issued under the same id (a new secret), without Redis holding the hash itself.
 */
export function keyFingerprint(hash: string): string {
  return crypto.createHash('sha256').update(`console-session:${hash}`, 'utf8').digest('base64url');
}

const sameScope = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && [...a].sort().join(',') === [...b].sort().join(',');

/** The id inside a well-formed key, or undefined when the key does not have the `jb_<id>_<secret>` shape. */
export function tryParseApiKeyId(key: string): string | undefined {
  return KEY_PATTERN.exec(key)?.[1];
}

/** `jb_<id>_` and anything after it: the shape of a key aimed at an id, its secret right or not. */
const CLAIMED_KEY_PATTERN = /^jb_([a-z0-9][a-z0-9-]{0,62})_/;

/**
 * The id a refused key names, whatever its secret looks like (a guess of another length, a cut key): an id holds no
 * `_`, so the first one after it ends it.
 */
export function tryParseClaimedKeyId(key: string): string | undefined {
  return CLAIMED_KEY_PATTERN.exec(key)?.[1];
}

/**
 * Validates the parsed content of api-keys.json; throws a ConfigError naming the file, the entry and the field.
 * `where` is the file name used in messages.
 */
export function parseApiKeyFile(value: unknown, where: string): ApiKeyEntry[] {
  if (!Array.isArray(value)) {
    throw new ConfigError(`${where}: expected an array of API key entries`);
  }
  const entries = value.map((item: unknown, i) => {
    const parsed = apiKeyEntrySchema.safeParse(item);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const field = issue?.path.map(String).join('.');
      throw new ConfigError(
        `${where}: ${describeEntry(item, i)}: ${field ? `${field}: ` : ''}${issue?.message ?? 'invalid'}`,
      );
    }
    return parsed.data;
  });
  assertUnique(where, 'id', entries);
  assertUnique(where, 'hash', entries);
  return entries;
}

function describeEntry(item: unknown, index: number): string {
  const id: unknown = typeof item === 'object' && item !== null ? (item as Record<string, unknown>).id : undefined;
  return typeof id === 'string' ? `entry ${index} (id ${JSON.stringify(id)})` : `entry ${index}`;
}

function assertUnique(where: string, field: 'id' | 'hash', entries: readonly ApiKeyEntry[]): void {
  const seen = new Map<string, number>();
  entries.forEach((e, i) => {
    const first = seen.get(e[field]);
    if (first !== undefined) {
      throw new ConfigError(`${where}: entry ${i} (id ${JSON.stringify(e.id)}): ${field}: same as entry ${first}`);
    }
    seen.set(e[field], i);
  });
}

/** Reads and validates an api-keys.json; a missing file means no keys (every API key is then refused). */
export function readApiKeyFile(file: string): ApiKeyEntry[] {
  const json = tryReadJsonFile(file);
  return json === undefined ? [] : parseApiKeyFile(json, file);
}

/**
 * Writes api-keys.json atomically (temporary file, then rename) and readable by the owner only: a half-written
 * file would lock every caller out, and although hashes are not secrets the file says who may do what.
 */
export function writeApiKeyFile(file: string, entries: readonly ApiKeyEntry[]): void {
  parseApiKeyFile(entries, file);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(entries, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

/** Creates a key and the entry to store for it; validates the result against the existing entries. */
export function createApiKeyEntry(
  grant: ApiKeyGrant,
  existing: readonly ApiKeyEntry[],
  now: Date = new Date(),
): { key: string; entry: ApiKeyEntry; entries: ApiKeyEntry[] } {
  const id = grant.id ?? generateApiKeyId();
  const key = generateApiKey(id);
  const entry: ApiKeyEntry = {
    id,
    role: grant.role,
    ...(grant.practices?.length ? { practices: [...grant.practices] } : {}),
    ...(grant.municipalities?.length ? { municipalities: [...grant.municipalities] } : {}),
    hash: hashApiKey(key),
    created: now.toISOString(),
  };
  const entries = parseApiKeyFile([...existing, entry], 'api keys');
  return { key, entry, entries };
}

/** The entries with the key `id` disabled; throws when there is no such key. Entries are kept for the audit trail. */
export function revokeApiKeyEntry(entries: readonly ApiKeyEntry[], id: string): ApiKeyEntry[] {
  if (!entries.some((e) => e.id === id)) {
    throw new ConfigError(`No API key with id ${JSON.stringify(id)}`);
  }
  return entries.map((e) => (e.id === id ? { ...e, disabled: true } : e));
}

// Compared against when the id is unknown, so that unknown and known ids take the same work.
const DUMMY_DIGEST = Buffer.alloc(32);

/** A stored key as `verify` uses it: the digest to compare with and the principal it grants, both made once. */
interface VerifiableKey {
  readonly entry: ApiKeyEntry;
  readonly digest: Buffer;
  readonly principal: Principal;
  /** `keyFingerprint` of the stored hash. */
  readonly fingerprint: string;
}

/** Verifies API keys against stored hashes. */
export class ApiKeyStore {
  private byId: ReadonlyMap<string, VerifiableKey>;
  /**
   * Keys already checked against their hash, so that a client's every request does not hash its key again. Only
   * keys that passed are added (at most one per entry: the hash covers the whole key), and a reload starts it empty,
   * so a revocation still takes effect at once.
   */
  private verified = new Map<string, Principal>();

  constructor(
    entries: readonly ApiKeyEntry[],
    private readonly file?: string,
  ) {
    this.byId = ApiKeyStore.index(entries);
  }

  /** A store over an api-keys.json; `reload()` re-reads it. */
  static fromFile(file: string): ApiKeyStore {
    return new ApiKeyStore(readApiKeyFile(file), file);
  }

  // The digest and the (frozen) principal are made here, when the keys are read, rather than on every request.
  private static index(entries: readonly ApiKeyEntry[]): ReadonlyMap<string, VerifiableKey> {
    const parsed = parseApiKeyFile(entries, 'api keys');
    return new Map(
      parsed.map((e) => [
        e.id,
        {
          entry: Object.freeze(e),
          digest: Buffer.from(HASH_PATTERN.exec(e.hash)?.[1] ?? '', 'hex'),
          principal: createPrincipal({
            id: `api-key:${e.id}`,
            role: e.role,
            practices: e.practices ?? [],
            municipalities: e.municipalities ?? [],
            via: 'api-key',
          }),
          fingerprint: keyFingerprint(e.hash),
        },
      ]),
    );
  }

  /** Whether a key with this id is in the file, revoked or not: a refused key that names it was aimed at it. */
  has(id: string): boolean {
    return this.byId.has(id);
  }

  /** Number of stored keys, including disabled ones. */
  get size(): number {
    return this.byId.size;
  }

  /**
   * Re-reads the file, so that a revocation takes effect without a restart. On a bad file it throws and keeps the
   * keys it had: refusing everyone because of one typo would be worse.
   */
  reload(): void {
    if (!this.file) {
      throw new Error('ApiKeyStore.reload() needs a store created with fromFile()');
    }
    this.byId = ApiKeyStore.index(readApiKeyFile(this.file));
    this.verified = new Map();
  }

  /**
   * Whether a console session opened with an API key still holds: the key is known and enabled, is the same key
   * (`fingerprint` as at sign-in: not re-issued with a new secret), and grants the same role and scope. A session
   * whose key was revoked, re-issued or changed in any of these ends, as the API applies the key file at once.
   */
  isCurrent(principal: Principal, fingerprint: string | undefined): boolean {
    const known = this.byId.get(principal.id.replace(/^api-key:/, ''));
    return (
      known !== undefined &&
      known.entry.disabled !== true &&
      fingerprint === known.fingerprint &&
      principal.id === known.principal.id &&
      principal.role === known.principal.role &&
      sameScope(principal.practices, known.principal.practices) &&
      sameScope(principal.municipalities, known.principal.municipalities)
    );
  }

  /** The principal for a key; throws a 401 for anything but a well-formed, known, enabled key. */
  verify(key: string): Principal {
    const alreadyVerified = this.verified.get(key);
    if (alreadyVerified) {
      return alreadyVerified;
    }
    const id = tryParseApiKeyId(key);
    const known = id === undefined ? undefined : this.byId.get(id);
    const presented = crypto.createHash('sha256').update(key, 'utf8').digest();
    const stored = known?.digest ?? DUMMY_DIGEST;
    // timingSafeEqual so the time taken does not reveal how many leading bytes of the hash matched.
    const matches = stored.length === presented.length && crypto.timingSafeEqual(stored, presented);
    if (!known || !matches || known.entry.disabled === true) {
      throw new OperationOutcomeError(invalidApiKey);
    }
    this.verified.set(key, known.principal);
    return known.principal;
  }
}
