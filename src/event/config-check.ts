import fs from 'node:fs';
import path from 'node:path';
import leven from 'leven';
import { z } from 'zod';
import { destinationSchema, practiceEndpointSchema } from '../../mappings/municipality/index';
import { standardWebhook } from '../../mappings/municipality/webhook/signing';
import { readApiKeyFile } from '../access/api-keys';
import { issuerWarnings, readIssuersFile } from '../access/jwt';
import { parseSigningKeys, SIGNING_KEY_FILE } from '../audit/signed-heads';
import type { Destination, EndpointAuth } from '../contracts/destination';
import { AUDIT_RETENTION_FIVE_YEARS, configSchema, parseEnvironment, type Config } from '../kernel/config';
import { formatProblem, readJsonSource, type ConfigProblem, type JsonSource } from '../kernel/json-source';
import { parseInboxKeys } from '../kernel/payload-crypto';
import { agreementSchema, type Agreement } from '../policy/agreement';
import { checkAllowListPaths, loadFhirElementIndex } from '../policy/allow-list-paths';
import type { PracticeEndpoint } from './practices';
import { withOwnConnection } from '../kernel/db';
import { errorFields } from '../kernel/logger';
import { isOutageError } from '../kernel/outage';
import { pendingToUnconfiguredDestinations, type UnconfiguredDestination } from './event-store';
import { loadRegistry } from './registry';

type Env = Readonly<Record<string, string | undefined>>;

/** What the file checks need from the configuration. */
export type ConfigCheckInput = Pick<
  Config,
  'configDir' | 'dataDir' | 'INBOX_KEYS' | 'API_KEYS_FILE' | 'JWT_ISSUERS_FILE' | 'AUDIT_SIGNING_KEYS'
>;
type JsonPath = readonly (string | number)[];

interface Parsed<T> {
  readonly value: T;
  readonly source: JsonSource;
}

/** Where problems about the environment (not about a file) are filed. */
const ENVIRONMENT = 'environment';

/**
 * Checks everything an operator configures, all at once and before anything is started or the database is touched,
 * so that one run lists every mistake in every file with its line (`npm run config:check`, and start-up):
 *
 * - every JSON file under `CONFIG_DIR/{agreements,destinations,practices}`: syntax (line:column), the schema (every
 *   issue, unknown fields included), duplicate ids;
 * - agreements without a destination for their municipality, destinations without an agreement;
 * - secrets: each environment variable a destination or practice endpoint names is set, and a `whsec_` webhook
 *   secret is valid base64;
 * - allow-lists: every field an agreement lets leave is an element of that FHIR R4 resource type;
 * - keys: `INBOX_KEYS`, `AUDIT_SIGNING_KEYS` (or, unset, its key file in DATA_DIR), `API_KEYS_FILE` and
 *   `JWT_ISSUERS_FILE`;
 * - `DATA_DIR`: a directory, or a path one can be made at (not under a file).
 */
function checkConfiguration(config: ConfigCheckInput, env: Env, warnings: string[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (!fs.existsSync(config.configDir)) {
    problems.push({ file: config.configDir, message: 'CONFIG_DIR does not exist' });
  }
  const {
    parsed: agreements,
    invalid: invalidAgreements,
    unread: unreadAgreements,
    read: agreementFiles,
  } = readAll(config.configDir, 'agreements', agreementSchema, problems);
  const {
    parsed: destinations,
    invalid: invalidDestinations,
    unread: unreadDestinations,
    unparsable: unparsableDestinations,
    read: destinationFiles,
  } = readAll(config.configDir, 'destinations', destinationSchema, problems);
  // A CONFIG_DIR without them (empty, or one level above or below the right one) would start, then deny every
  // referral `no-agreement` and leave deliveries already in the database to destinations no longer configured.
  for (const [kind, count] of [
    ['agreements', agreementFiles],
    ['destinations', destinationFiles],
  ] as const) {
    if (count === 0 && fs.existsSync(config.configDir)) {
      problems.push({
        file: path.join(config.configDir, kind),
        message:
          `no ${kind}: nothing could be shared (every referral denied no-agreement); is CONFIG_DIR the directory ` +
          'that holds agreements/, destinations/ and practices/?',
      });
    }
  }
  const {
    parsed: practices,
    invalid: invalidPractices,
    unread: unreadPractices,
  } = readAll(config.configDir, 'practices', practiceEndpointSchema, problems);

  duplicates(destinations, (d) => d.id, ['id'], 'destination id', problems);
  // The router sends a municipality's events to one destination; a second would silently never be used.
  duplicates(destinations, (d) => d.municipality, ['municipality'], 'destination for municipality', problems);
  duplicates(practices, (p) => p.agb, ['agb'], 'practice endpoint for AGB', problems);
  duplicates(agreements, (a) => `${a.id} v${a.version}`, ['version'], 'agreement id and version', problems);

  const inForce = agreements.filter((a) => a.value.status !== 'terminated');
  for (const a of inForce) {
    const code = a.value.municipality.code;
    if (destinations.some((d) => d.value.municipality === code)) {
      continue;
    }
    // A destination whose file has errors is there, only not usable: its own problems are listed, not "add one".
    const invalid = invalidDestinations.find((d) => rawDestinationMunicipalityOf(d.value) === code);
    // A file that does not parse names no municipality; one whose text holds the code is taken to be its destination.
    const unparsable = unparsableDestinations.find((d) => d.text.includes(`"${code}"`));
    problems.push(
      at(
        a.source,
        ['municipality', 'code'],
        invalid
          ? `the destination for ${code} (${invalid.file}) is invalid: see its problems`
          : unparsable
            ? `the destination for ${code} (${unparsable.file}) does not parse: see its problems`
            : `no destination for ${code}: add one under destinations/`,
      ),
    );
  }
  // An agreement with problems of its own still names its municipality: its destination is not reported as unused.
  const namedByInvalid = new Set(invalidAgreements.map((a) => rawMunicipalityOf(a.value)));
  for (const d of destinations) {
    if (
      !inForce.some((a) => a.value.municipality.code === d.value.municipality) &&
      !namedByInvalid.has(d.value.municipality)
    ) {
      problems.push(
        at(d.source, ['municipality'], `no agreement with ${d.value.municipality}: nothing would ever be sent here`),
      );
    }
  }
  // Data meant to flow to the practice (toPractice) would all be dead letters without an endpoint to send it to.
  const endpointAgbs = new Set([
    ...practices.map((p) => p.value.agb),
    ...invalidPractices.map((p) => rawAgbOf(p.value)),
  ]);
  for (const a of inForce) {
    const agb = a.value.practice.agb;
    if (endpointAgbs.has(agb)) {
      continue;
    }
    if (a.value.toPractice) {
      problems.push(
        at(
          a.source,
          ['practice', 'agb'],
          `no practice endpoint for ${agb}, which toPractice sends to: add one under practices/`,
        ),
      );
    } else if (a.value.purposes.includes('referral')) {
      // Allowed (a practice may not take statuses back yet), but every status on its referrals would be a dead letter.
      warnings.push(
        formatProblem(
          at(
            a.source,
            ['practice', 'agb'],
            `no practice endpoint for ${agb}: statuses on its referrals cannot reach it`,
          ),
        ),
      );
    }
  }
  for (const file of [...unreadAgreements, ...unreadDestinations, ...unreadPractices]) {
    warnings.push(`${file}: not read (only lower-case .json files are)`);
  }
  for (const e of [...destinations, ...practices] as Parsed<Destination | PracticeEndpoint>[]) {
    checkSecret(e.value.auth, e.source, env, problems);
  }
  for (const a of agreements) {
    checkAllowList(a.source, a.value, problems);
  }
  // The allow-lists of an agreement with other problems too, so one run lists them all.
  for (const source of invalidAgreements) {
    const lists = allowListsOf(source.value);
    if (lists) {
      checkAllowList(source, lists, problems);
    }
  }
  checkDataDir(config.dataDir, problems);
  checkKeys(config, problems);
  return problems;
}

/**
 * Every problem with the environment and with every configuration file, one line each, in the order an operator
 * fixes them; and what is allowed but probably not meant (warnings: `config:check` prints them, start-up logs them,
 * neither stops for them). The files are checked even when the environment is wrong (with its raw CONFIG_DIR and
 * DATA_DIR), so one run shows everything. Without problems, `config` is the configuration parsed from `env` (once:
 * start-up starts with it rather than parsing the environment again).
 */
export function reviewConfiguration(env: Env = process.env): {
  problems: string[];
  warnings: string[];
  config: Config | undefined;
} {
  const raw = (key: string) => (env[key] === '' ? undefined : env[key]);
  const input: ConfigCheckInput = {
    configDir: path.resolve(raw('CONFIG_DIR') ?? './config'),
    dataDir: path.resolve(raw('DATA_DIR') ?? './data'),
    INBOX_KEYS: raw('INBOX_KEYS'),
    API_KEYS_FILE: raw('API_KEYS_FILE'),
    JWT_ISSUERS_FILE: raw('JWT_ISSUERS_FILE'),
    AUDIT_SIGNING_KEYS: raw('AUDIT_SIGNING_KEYS'),
  };
  const warnings = misspeltSettings(env);
  const environment = parseEnvironment(env);
  const problems = [...environment.problems, ...checkConfiguration(input, env, warnings).map(formatProblem)];
  const config = problems.length === 0 ? environment.config : undefined;
  if (config) {
    warnings.push(...settingWarnings(config), ...issuerWarnings(config.JWT_ISSUERS_FILE));
  }
  return { problems, warnings, config };
}

/** PostgreSQL's SQLSTATE for a table that does not exist: a database no release has migrated yet. */
const UNDEFINED_TABLE = '42P01';

/**
 * What `config:check` says of the deliveries that wait in the database (`DATABASE_URL`) for destinations the checked
 * CONFIG_DIR does not configure: a warning for each such destination (its id, how many, since when), since rolling out
 * that configuration leaves them unsent; one warning when the database could not be asked. Nothing without
 * `DATABASE_URL`: the embedded database belongs to the process that runs on it. Call it with a configuration that has
 * no problems (`reviewConfiguration`'s `config`).
 */
export async function reviewPendingDeliveries(config: Config): Promise<string[]> {
  if (config.DATABASE_URL === undefined) {
    return [];
  }
  const configured = loadRegistry(config.configDir).destinations.map((d) => d.id);
  let unconfigured: UnconfiguredDestination[];
  try {
    unconfigured = await withOwnConnection(config.DATABASE_URL, config.DATABASE_SCHEMA, (db) =>
      pendingToUnconfiguredDestinations(db, configured),
    );
  } catch (err) {
    if ((err as { code?: unknown }).code === UNDEFINED_TABLE) {
      return [];
    }
    const reason = isOutageError(err) ? 'the database did not answer' : 'the database refused the query';
    return [
      `pending deliveries to destinations not configured were not checked: ${reason} (${errorFields(err).reason})`,
    ];
  }
  return unconfigured.map(
    (u) =>
      `destination ${u.destination} is not configured (CONFIG_DIR/destinations) but holds ${u.pending} pending ` +
      `deliveries, the oldest waiting since ${new Date(Date.now() - u.oldestSeconds * 1000).toISOString()}: nothing ` +
      `sends them until it is configured again or an operator ends them (POST /admin/v1/destinations/` +
      `${u.destination}/end-pending; docs/runbook.md#jeugdbrugdeliveriestounconfigureddestination)`,
  );
}

/** The files of one kind that parsed, and those that did not (with their problems already listed). */
interface ReadFiles<T> {
  readonly parsed: Parsed<T>[];
  readonly invalid: JsonSource[];
  /** Files that look like configuration but are skipped: only lower-case `*.json` are read. */
  readonly unread: string[];
  /** Files with a JSON syntax error (listed among the problems), with their text. */
  readonly unparsable: { readonly file: string; readonly text: string }[];
  /** How many `*.json` files there are, whether they parsed or not. */
  readonly read: number;
}

function readAll<T>(configDir: string, kind: string, schema: z.ZodType<T>, problems: ConfigProblem[]): ReadFiles<T> {
  const dir = path.join(configDir, kind);
  const out: Parsed<T>[] = [];
  const invalid: JsonSource[] = [];
  const unread: string[] = [];
  const unparsable: { file: string; text: string }[] = [];
  if (!fs.existsSync(dir)) {
    return { parsed: out, invalid, unread, unparsable, read: 0 };
  }
  const names = fs.readdirSync(dir).sort();
  for (const name of names.filter((f) => !f.endsWith('.json') && f.toLowerCase().endsWith('.json'))) {
    unread.push(path.join(dir, name));
  }
  const jsonFiles = names.filter((f) => f.endsWith('.json'));
  for (const name of jsonFiles) {
    const file = path.join(dir, name);
    const text = fs.readFileSync(file, 'utf8');
    const source = readJsonSource(file, text);
    problems.push(...source.syntaxProblems);
    if (source.syntaxProblems.length > 0) {
      unparsable.push({ file, text });
      continue;
    }
    const parsed = schema.safeParse(source.value);
    if (parsed.success) {
      out.push({ value: parsed.data, source });
      continue;
    }
    invalid.push(source);
    for (const issue of parsed.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        const objectPath = issue.path as JsonPath;
        const known = fieldsAt(schema, source.value, objectPath);
        const present = Object.keys(valueAt(source.value, objectPath) ?? {});
        for (const key of issue.keys) {
          const near = nearestField(key, known, present);
          problems.push(at(source, [...objectPath, key], `unknown field${near ? ` (did you mean ${near}?)` : ''}`));
        }
      } else {
        problems.push(
          at(source, issue.path as JsonPath, issueWords(issue, valueAt(source.value, issue.path as JsonPath))),
        );
      }
    }
  }
  return { parsed: out, invalid, unread, unparsable, read: jsonFiles.length };
}

/**
 * A schema issue in the words of the other messages: a missing field is required; a value outside a list (an auth
 * type, an adapter) names the allowed values, the value given and the one probably meant; anything else as the
 * schema words it.
 */
function issueWords(issue: z.core.$ZodIssue, value: unknown): string {
  if (issue.code === 'invalid_type' && value === undefined) {
    return 'is required';
  }
  const allowed =
    issue.code === 'invalid_union' && 'discriminator' in issue && issue.discriminator !== undefined
      ? (issue as { options?: unknown[] }).options
      : issue.code === 'custom'
        ? (issue.params as { allowed?: unknown[] } | undefined)?.allowed
        : undefined;
  if (!allowed) {
    return issue.message;
  }
  const names = allowed.map(String);
  if (value === undefined) {
    return `is required: one of ${names.join(', ')}`;
  }
  const near = typeof value === 'string' ? nearestField(value, names, []) : undefined;
  const given = JSON.stringify(value).replaceAll('"', "'");
  return `one of ${names.join(', ')}, not ${given}${near ? ` (did you mean ${near}?)` : ''}`;
}

/**
 * The field names `schema` allows in the object at `jsonPath` of `value`: of the variant the value names, for a
 * discriminated union (`auth.type`), and of every variant for another union.
 */
function fieldsAt(schema: z.core.$ZodType, value: unknown, jsonPath: JsonPath): string[] {
  const s = unwrapped(schema);
  if (s instanceof z.ZodDiscriminatedUnion) {
    const tag = (valueAt(value, []) as Record<string, unknown> | undefined)?.[s.def.discriminator];
    const chosen = s.options.filter((o) => objectTag(o, s.def.discriminator) === tag);
    return (chosen.length > 0 ? chosen : s.options).flatMap((o) => fieldsAt(o, value, jsonPath));
  }
  if (s instanceof z.ZodUnion) {
    return s.options.flatMap((o) => fieldsAt(o, value, jsonPath));
  }
  const [head, ...rest] = jsonPath;
  const inner = valueAt(value, head === undefined ? [] : [head]);
  if (head === undefined) {
    return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
  }
  if (s instanceof z.ZodObject && typeof head === 'string') {
    const field = (s.shape as Record<string, z.core.$ZodType | undefined>)[head];
    return field ? fieldsAt(field, inner, rest) : [];
  }
  if (s instanceof z.ZodArray) {
    return fieldsAt(s.element, inner, rest);
  }
  if (s instanceof z.ZodRecord) {
    return fieldsAt(s.valueType, inner, rest);
  }
  return [];
}

/** The schema inside optional, default, pipe and the like: the one that says which fields there are. */
function unwrapped(schema: z.core.$ZodType): z.core.$ZodType {
  let s = schema;
  for (;;) {
    if (
      s instanceof z.ZodOptional ||
      s instanceof z.ZodNullable ||
      s instanceof z.ZodDefault ||
      s instanceof z.ZodPrefault ||
      s instanceof z.ZodReadonly ||
      s instanceof z.ZodCatch
    ) {
      s = s.def.innerType;
    } else if (s instanceof z.ZodPipe) {
      s = s.def.in;
    } else if (s instanceof z.ZodLazy) {
      s = s.def.getter();
    } else {
      return s;
    }
  }
}

/** The literal an object variant of a discriminated union has for `discriminator`. */
function objectTag(option: z.core.$ZodType, discriminator: string): unknown {
  const s = unwrapped(option);
  const field = s instanceof z.ZodObject ? (s.shape as Record<string, unknown>)[discriminator] : undefined;
  return field instanceof z.ZodLiteral ? field.value : undefined;
}

function valueAt(value: unknown, jsonPath: JsonPath): unknown {
  let v = value;
  for (const p of jsonPath) {
    v = v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[p] : undefined;
  }
  return v;
}

/**
 * The allowed field an unknown one most likely meant: the nearest within two edits, ignoring case (fewer for short
 * names, so `id` is not offered for any two letters), and not already in the object. As misspeltSettings does for the
 * environment.
 */
function nearestField(key: string, known: readonly string[], present: readonly string[]): string | undefined {
  let best: { field: string; distance: number } | undefined;
  for (const field of new Set(known)) {
    if (present.includes(field)) {
      continue;
    }
    const distance = leven(key.toLowerCase(), field.toLowerCase());
    if (distance <= Math.min(2, Math.floor(field.length / 3)) && (!best || distance < best.distance)) {
      best = { field, distance };
    }
  }
  return best?.field;
}

function at(source: JsonSource, jsonPath: JsonPath, message: string): ConfigProblem {
  const pos = source.positionOf(jsonPath);
  return { file: source.file, line: pos?.line, column: pos?.column, field: fieldName(jsonPath), message };
}

/** `dataClasses.Patient.fields[2]`. */
function fieldName(jsonPath: JsonPath): string | undefined {
  const name = jsonPath.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i === 0 ? '' : '.'}${p}`)).join('');
  return name === '' ? undefined : name;
}

function duplicates<T>(
  items: readonly Parsed<T>[],
  keyOf: (v: T) => string,
  field: JsonPath,
  what: string,
  problems: ConfigProblem[],
): void {
  const first = new Map<string, string>();
  for (const item of items) {
    const key = keyOf(item.value);
    const earlier = first.get(key);
    if (earlier) {
      problems.push(at(item.source, field, `duplicate ${what} ${key} (also in ${earlier})`));
    } else {
      first.set(key, item.source.file);
    }
  }
}

function checkSecret(auth: EndpointAuth, source: JsonSource, env: Env, problems: ConfigProblem[]): void {
  const named =
    auth.type === 'bearer'
      ? { field: 'tokenEnv', name: auth.tokenEnv }
      : auth.type === 'oauth2-client-credentials'
        ? { field: 'clientSecretEnv', name: auth.clientSecretEnv }
        : auth.type === 'hmac'
          ? { field: 'secretEnv', name: auth.secretEnv }
          : undefined;
  if (!named) {
    return;
  }
  const value = env[named.name];
  if (!value) {
    problems.push(at(source, ['auth', named.field], `environment variable ${named.name} is not set`));
    return;
  }
  if (auth.type === 'hmac') {
    try {
      standardWebhook(value);
    } catch {
      problems.push(
        at(source, ['auth', named.field], `${named.name} is not a valid whsec_ secret (whsec_ then base64)`),
      );
    }
  }
}

type AllowLists = Pick<Agreement, 'dataClasses'> & Partial<Pick<Agreement, 'toPractice'>>;

/** The allow-lists, checked as start-up checks them (src/policy/allow-list-paths.ts). */
function checkAllowList(source: JsonSource, lists: AllowLists, problems: ConfigProblem[]): void {
  for (const p of checkAllowListPaths([{ file: source.file, agreement: lists }], loadFhirElementIndex())) {
    problems.push(at(source, [...p.jsonPath], p.message));
  }
}

/** The allow-lists of an agreement file that failed its schema, where they are well-formed themselves. */
function allowListsOf(raw: unknown): AllowLists | undefined {
  const fields = z
    .object({ dataClasses: agreementSchema.shape.dataClasses.optional(), toPractice: agreementSchema.shape.toPractice })
    .loose()
    .safeParse(raw);
  if (!fields.success || !fields.data.dataClasses) {
    return undefined;
  }
  return { dataClasses: fields.data.dataClasses, toPractice: fields.data.toPractice };
}

function rawMunicipalityOf(raw: unknown): unknown {
  return (raw as { municipality?: { code?: unknown } } | null)?.municipality?.code;
}

function rawDestinationMunicipalityOf(raw: unknown): unknown {
  return (raw as { municipality?: unknown } | null)?.municipality;
}

function rawAgbOf(raw: unknown): string | undefined {
  const agb = (raw as { agb?: unknown } | null)?.agb;
  return typeof agb === 'string' ? agb : undefined;
}

/**
 * Settings that are valid one by one but cannot work together, or are ignored here. Names only, never a value: an
 * environment holds secrets.
 */
function settingWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.METRICS_PORT !== undefined && config.ROLE !== 'worker') {
    warnings.push(`environment METRICS_PORT: only ROLE=worker serves it; with ROLE=${config.ROLE} /metrics is on PORT`);
  }
  if (config.DELIVERY_BACKOFF_BASE_MS > config.DELIVERY_BACKOFF_MAX_MS) {
    warnings.push(
      'environment DELIVERY_BACKOFF_BASE_MS: larger than DELIVERY_BACKOFF_MAX_MS, so every retry waits the maximum',
    );
  }
  if (config.DELIVERY_TIMEOUT_MS >= config.SHUTDOWN_TIMEOUT_MS) {
    warnings.push(
      'environment DELIVERY_TIMEOUT_MS: not below SHUTDOWN_TIMEOUT_MS, so a stop can cut a delivery in flight short',
    );
  }
  if (
    config.ROLE !== 'all' &&
    config.AUDIT_SIGNING_KEYS === undefined &&
    !fs.existsSync(path.join(config.dataDir, SIGNING_KEY_FILE))
  ) {
    // Processes on other machines would each generate a key of their own in their DATA_DIR. Once the key file is
    // there, this process reads it: processes sharing that DATA_DIR (as documented) are not warned on every start.
    warnings.push(
      `environment AUDIT_SIGNING_KEYS: unset with ROLE=${config.ROLE}; every process must share it (or one DATA_DIR), ` +
        `or each signs chain heads with a key of its own (this one makes ${SIGNING_KEY_FILE} in DATA_DIR)`,
    );
  }
  if (config.AUDIT_RETENTION_DAYS < AUDIT_RETENTION_FIVE_YEARS) {
    // A number of days is no secret. The rows past it are purged for good, checkpoints too.
    warnings.push(
      `environment AUDIT_RETENTION_DAYS: ${config.AUDIT_RETENTION_DAYS} days, shorter than five years ` +
        `(${AUDIT_RETENTION_FIVE_YEARS} days), the term access logs are commonly kept under NEN 7513; audit rows and ` +
        'checkpoints older than it are purged for good',
    );
  }
  if (config.ROLE !== 'worker' && config.PUBLIC_BASE_URL === undefined && !isLoopbackHost(config.HOST)) {
    // Deployed beyond this machine: without it the console's CSRF check takes a page under any name (DNS rebinding)
    // for its own, and links name HOST.
    warnings.push(
      `environment PUBLIC_BASE_URL: unset with HOST=${config.HOST}; set it to the address clients use, or the ` +
        "console's CSRF check takes each request's own Host as the console's origin and links name HOST",
    );
  }
  return warnings;
}

/** Whether HOST is reachable from this machine only: where a developer runs the product. */
function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Environment names that are no setting but within two letters of one with the same first word, or differ by case
 * (`DELIVERY_MAX_ATTEMPT`, `REDIS_URl`): ignored, so the default would apply unsaid.
 */
function misspeltSettings(env: Env): string[] {
  const known = Object.keys(configSchema.shape);
  const out: string[] = [];
  for (const name of Object.keys(env)) {
    if (known.includes(name) || !/^[A-Z][A-Za-z0-9_]*$/.test(name)) {
      continue;
    }
    const upper = name.toUpperCase();
    const near = known.find(
      (k) => k === upper || (k.includes('_') && upper.startsWith(`${k.split('_')[0]}_`) && leven(k, upper) <= 2),
    );
    if (near) {
      out.push(`environment ${name}: not a setting, ignored (did you mean ${near}?)`);
    }
  }
  return out;
}

/**
 * DATA_DIR must be a directory or made into one at start-up: a file there (or above it) would only show as a fatal
 * `EEXIST` from mkdir once start-up is under way.
 */
function checkDataDir(dataDir: string, problems: ConfigProblem[]): void {
  // The nearest part of the path that exists: DATA_DIR itself, or the parent its directories are made in.
  let existing = dataDir;
  while (!fs.existsSync(existing) && path.dirname(existing) !== existing) {
    existing = path.dirname(existing);
  }
  if (fs.existsSync(existing) && !fs.statSync(existing).isDirectory()) {
    problems.push({ file: ENVIRONMENT, field: 'DATA_DIR', message: `${existing} is not a directory` });
  }
}

function checkKeys(config: ConfigCheckInput, problems: ConfigProblem[]): void {
  if (config.INBOX_KEYS !== undefined) {
    try {
      parseInboxKeys(config.INBOX_KEYS);
    } catch (err) {
      problems.push({ file: ENVIRONMENT, field: 'INBOX_KEYS', message: messageOf(err, 'INBOX_KEYS') });
    }
  }
  // Parsed at start-up only after the database is migrated: a bad key must stop it here, before anything is touched.
  if (config.AUDIT_SIGNING_KEYS !== undefined) {
    try {
      parseSigningKeys(config.AUDIT_SIGNING_KEYS);
    } catch (err) {
      problems.push({ file: ENVIRONMENT, field: 'AUDIT_SIGNING_KEYS', message: messageOf(err, 'AUDIT_SIGNING_KEYS') });
    }
  } else {
    const keyFile = path.join(config.dataDir, SIGNING_KEY_FILE);
    if (fs.existsSync(keyFile) && fs.statSync(keyFile).isFile()) {
      try {
        parseSigningKeys(fs.readFileSync(keyFile, 'utf8').trim());
      } catch (err) {
        problems.push({ file: keyFile, message: messageOf(err, 'AUDIT_SIGNING_KEYS') });
      }
    }
  }
  const apiKeysFile = config.API_KEYS_FILE ?? path.join(config.dataDir, 'api-keys.json');
  if (fs.existsSync(apiKeysFile)) {
    try {
      readApiKeyFile(apiKeysFile);
    } catch (err) {
      problems.push({ file: apiKeysFile, message: messageOf(err, apiKeysFile) });
    }
  }
  if (config.JWT_ISSUERS_FILE !== undefined && !fs.existsSync(config.JWT_ISSUERS_FILE)) {
    // Read once at start-up: a file that is not there (a typo, a secret not mounted) would mean every JWT refused.
    problems.push({
      file: ENVIRONMENT,
      field: 'JWT_ISSUERS_FILE',
      message: `${config.JWT_ISSUERS_FILE} does not exist (unset JWT_ISSUERS_FILE to accept no JWTs)`,
    });
  } else if (config.JWT_ISSUERS_FILE !== undefined) {
    try {
      readIssuersFile(config.JWT_ISSUERS_FILE);
    } catch (err) {
      problems.push({ file: config.JWT_ISSUERS_FILE, message: messageOf(err, config.JWT_ISSUERS_FILE) });
    }
  }
}

/** The error's own text without a repeated prefix: ConfigErrors already name the key or file. */
function messageOf(err: unknown, prefix: string): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.replace(/^Invalid configuration: /, '').replace(`${prefix}: `, '');
}
