import fs from 'node:fs';
import path from 'node:path';
import type { z } from 'zod';
import { agreementSchema, type Agreement } from '../policy/agreement';
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

function assertUnique(what: string, values: string[]): void {
  const seen = new Set<string>();
  for (const v of values) {
    if (seen.has(v)) {
      throw new ConfigError(`Duplicate ${what}: ${v}`);
    }
    seen.add(v);
  }
}

/** The newest active version of each agreement between this practice and this municipality. */
export function findAgreements(registry: Registry, practiceAgb: string, municipalityCode: string): Agreement[] {
  const newest = new Map<string, Agreement>();
  for (const a of registry.agreements) {
    if (a.practice.agb !== practiceAgb || a.municipality.code !== municipalityCode) {
      continue;
    }
    const prev = newest.get(a.id);
    if (!prev || a.version > prev.version) {
      newest.set(a.id, a);
    }
  }
  return [...newest.values()];
}

/** The destination of a municipality, or undefined when it has none configured. */
export function tryGetDestination(registry: Registry, municipalityCode: string): Destination | undefined {
  return registry.destinations.find((d) => d.municipality === municipalityCode);
}
