import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { canonicalizeJcs } from '../audit/chain';
import { agreementSchema, type Agreement } from '../policy/agreement';
import type { AgreementRef } from '../policy/types';
import { checkAllowListPaths, describeAllowListProblem, loadFhirElementIndex } from '../policy/allow-list-paths';
import type { Destination } from '../contracts/destination';
import { destinationSchema, practiceEndpointSchema } from '../../mappings/municipality/index';
import type { PracticeEndpoint } from './practices';
import { ConfigError } from '../kernel/config';
import { tryReadJsonFile } from '../kernel/json-file';

/** The operator-maintained configuration files: processing agreements, destinations and practice endpoints. */
export interface Registry {
  readonly agreements: readonly Agreement[];
  readonly destinations: readonly Destination[];
  /** Where each practice's HIS receives status updates on its referrals. */
  readonly practices: readonly PracticeEndpoint[];
}

const digests = new WeakMap<Agreement, string>();

/**
 * `sha256:<hex>` of the agreement's content: SHA-256 over the RFC 8785 (JCS) canonical JSON of the agreement as
 * jeugdbrug read it (its schema's defaults filled in). Recorded with every decision and disclosure, so an agreement
 * edited without a new version shows in the audit as another digest under the same version.
 */
export function agreementDigest(agreement: Agreement): string {
  let digest = digests.get(agreement);
  if (digest === undefined) {
    digest = `sha256:${createHash('sha256').update(canonicalizeJcs(agreement), 'utf8').digest('hex')}`;
    digests.set(agreement, digest);
  }
  return digest;
}

/** The agreement a decision names, with the digest of the content it was decided under, as the audit records it. */
export function auditedAgreement(
  registry: Registry,
  ref: AgreementRef | undefined,
): (AgreementRef & { readonly digest?: string }) | undefined {
  if (ref === undefined) {
    return undefined;
  }
  const agreement = registry.agreements.find((a) => a.id === ref.id && a.version === ref.version);
  return agreement ? { id: ref.id, version: ref.version, digest: agreementDigest(agreement) } : ref;
}

/** Reads and validates `$CONFIG_DIR/{agreements,destinations}/*.json`; throws naming the file and the field. */
export function loadRegistry(configDir: string): Registry {
  return buildRegistry({
    agreements: readJsonFiles(path.join(configDir, 'agreements')),
    destinations: readJsonFiles(path.join(configDir, 'destinations')),
    practices: readJsonFiles(path.join(configDir, 'practices')),
  });
}

/** Validates already-read configuration objects, keyed by where they came from. */
export function buildRegistry(input: {
  agreements: ReadonlyMap<string, unknown> | readonly unknown[];
  destinations: ReadonlyMap<string, unknown> | readonly unknown[];
  practices?: ReadonlyMap<string, unknown> | readonly unknown[];
}): Registry {
  const agreements = parseAll('agreement', agreementSchema, input.agreements);
  assertAllowListPaths(sourcesOf('agreement', input.agreements), agreements);
  const destinations = parseAll('destination', destinationSchema, input.destinations);
  const practices = parseAll('practice', practiceEndpointSchema, input.practices ?? []);
  assertUnique(
    'destination id',
    destinations.map((d) => d.id),
  );
  assertUnique(
    'practice endpoint',
    practices.map((p) => p.agb),
  );
  assertUnique(
    'agreement id and version',
    agreements.map((a) => `${a.id} v${a.version}`),
  );
  return { agreements, destinations, practices };
}

function readJsonFiles(dir: string): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (!fs.existsSync(dir)) {
    return out;
  }
  for (const file of fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    const full = path.join(dir, file);
    out.set(full, tryReadJsonFile(full));
  }
  return out;
}

function parseAll<T>(
  what: string,
  schema: z.ZodType<T>,
  items: ReadonlyMap<string, unknown> | readonly unknown[],
): T[] {
  const entries: [string, unknown][] = Array.isArray(items)
    ? items.map((v, i): [string, unknown] => [`${what}[${i}]`, v])
    : [...(items as ReadonlyMap<string, unknown>).entries()];
  return entries.map(([where, value]) => {
    const parsed = schema.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ConfigError(`${where}: ${issue?.path.join('.') || what}: ${issue?.message ?? 'invalid'}`);
    }
    return parsed.data;
  });
}

/** Where each item came from: its file, or `what[i]` for objects given in code. */
function sourcesOf(what: string, items: ReadonlyMap<string, unknown> | readonly unknown[]): string[] {
  return Array.isArray(items)
    ? items.map((_, i) => `${what}[${i}]`)
    : [...(items as ReadonlyMap<string, unknown>).keys()];
}

/** Refuses an agreement whose allow-list names an element FHIR does not have (or an unknown extension). */
function assertAllowListPaths(sources: readonly string[], agreements: readonly Agreement[]): void {
  const problems = checkAllowListPaths(
    agreements.map((agreement, i) => ({ file: sources[i] ?? `agreement[${i}]`, agreement })),
    loadFhirElementIndex(),
  );
  if (problems.length > 0) {
    throw new ConfigError(`Unknown allow-list path: ${problems.map(describeAllowListProblem).join('; ')}`);
  }
}

function assertUnique(what: string, values: string[]): void {
  const seen = new Set<string>();
  for (const v of values) {
    if (seen.has(v)) {
      throw new ConfigError(`Duplicate ${what}: ${v}`);
    }
    seen.add(v);
  }
}

/**
 * Every loaded version of every agreement between this practice and this municipality. Which version is in force
 * on the day of a decision (active, valid that day; a draft or a version that takes effect later never counts) is
 * the policy engine's choice (selectAgreements): keeping only the highest version here let a draft or next year's
 * version block the one in force today.
 */
export function findAgreements(registry: Registry, practiceAgb: string, municipalityCode: string): Agreement[] {
  return registry.agreements.filter((a) => a.practice.agb === practiceAgb && a.municipality.code === municipalityCode);
}

/** The destination of a municipality, or undefined when it has none configured. */
export function tryGetDestination(registry: Registry, municipalityCode: string): Destination | undefined {
  return registry.destinations.find((d) => d.municipality === municipalityCode);
}
