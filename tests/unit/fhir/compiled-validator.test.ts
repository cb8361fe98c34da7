import fs from 'node:fs';
import path from 'node:path';
import { validateResource } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { toFeedbackTask } from '../../../mappings/practice/to-task';
import { toTransactionBundle } from '../../../mappings/municipality/fhir-rest/to-transaction';
import { toNotificationBundle } from '../../../mappings/municipality/webhook/to-notification';
import { consentDecision, disclosure, SYSTEM_WORKER } from '../../../src/audit/audit-events';
import { initFhirValidation } from '../../../src/kernel/fhir/validation';
import { CompiledValidator, type Verdict } from '../../../src/kernel/fhir/compiled-validator';
import { buildContactEvent } from '../../helpers/builders';
import { mapped, minimised } from '../delivery/support/resources';
import { prng } from '../../helpers/prng';

/**
 * The compiled validator must never disagree with @medplum/core's validateResource: it may only say `valid` where
 * medplum finds no error and `invalid` where it finds one (`defer` hands the resource to medplum). Held to that on
 * every resource of the golden fixtures, on what the delivery formats, the feedback and the audit trail make, and on
 * a seeded corpus of mutations of all of them.
 */

const ROOT = path.resolve(__dirname, '../../..');
const MUTATIONS_PER_RESOURCE = 60;
const SEED = Number(process.env.FUZZ_SEED ?? 20261203);

function filesUnder(dir: string, suffix: string): string[] {
  if (!fs.existsSync(dir)) {
    return [];
  }
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => {
    const p = path.join(dir, d.name);
    return d.isDirectory() ? filesUnder(p, suffix) : d.name.endsWith(suffix) ? [p] : [];
  });
}

/** Every resource of every golden case (tests/fixtures and mappings/**\/fixtures). */
function goldenResources(): { name: string; resource: Resource }[] {
  const files = [
    ...filesUnder(path.join(ROOT, 'tests/fixtures'), '.expected.json'),
    ...filesUnder(path.join(ROOT, 'mappings'), '.expected.json').filter((f) =>
      f.includes(`${path.sep}fixtures${path.sep}`),
    ),
  ];
  return files.flatMap((file) => {
    const cases = JSON.parse(fs.readFileSync(file, 'utf8')) as { event?: { resources?: Resource[] } }[];
    return cases.flatMap((c, i) =>
      (c.event?.resources ?? []).map((resource, j) => ({
        name: `${path.relative(ROOT, file)}[${i}].${j} ${resource.resourceType}`,
        resource,
      })),
    );
  });
}

/** What leaves the product besides the mapped events: delivery bundles, feedback Tasks, AuditEvents. */
function producedResources(): { name: string; resource: Resource }[] {
  const referral = minimised(mapped());
  const contact = minimised(mapped(buildContactEvent()));
  const ctx = {
    idempotencyKey: 'key-1',
    subscriptionId: 'gm0226',
    occurredAt: '2026-11-20T09:58:00.000Z',
    timestamp: '2026-11-20T10:00:00.000Z',
  };
  const task = toFeedbackTask(
    {
      status: 'allocated',
      productCategory: '45',
      provider: { agb: '12345678', name: 'Jeugdhulp Betuwe' },
      startDate: '2026-12-01',
      reason: 'Ambulante hulp past',
    },
    {
      feedbackId: '3f1c1f5e-8b0a-4b5e-9d52-3c3f9a1d2e10',
      referralIdentifier: { system: 'urn:agb:01234567:referral', value: 'ref-1' },
      municipalityCode: 'GM0226',
      at: '2026-11-21T09:00:00.000Z',
      statusDate: '2026-12-01',
    },
  );
  const audit = {
    actor: SYSTEM_WORKER,
    patientBsn: '111222333',
    inboxId: '9b2f3c1e-5d6a-4e7b-8c9d-0e1f2a3b4c5d',
    municipality: 'GM0226',
    purpose: 'referral' as const,
    agreement: { id: 'agr-1', version: 1 },
    consentIds: ['c-1'],
  };
  return [
    { name: 'transaction bundle (referral)', resource: toTransactionBundle(referral, 'key-1') },
    { name: 'transaction bundle (contact)', resource: toTransactionBundle(contact, 'key-2', 'contact.recorded') },
    {
      name: 'notification bundle',
      resource: toNotificationBundle(referral, { ...ctx, eventType: 'referral.created' }),
    },
    { name: 'feedback Task', resource: task },
    {
      name: 'AuditEvent disclosure',
      resource: disclosure({ ...audit, outcome: '0', destination: 'gm0226', resources: ['Patient/p-1'] }),
    },
    {
      name: 'AuditEvent decision',
      resource: consentDecision({ ...audit, permit: false, reasons: 'consent-missing-child', stage: 'map' }),
    },
  ];
}

function medplumVerdict(resource: unknown): 'valid' | 'invalid' {
  try {
    const issues = validateResource(resource as Resource);
    return issues.some((i) => i.severity === 'error' || i.severity === 'fatal') ? 'invalid' : 'valid';
  } catch {
    return 'invalid';
  }
}

type Rnd = () => number;
const pick = <T>(rnd: Rnd, list: readonly T[]): T => list[Math.floor(rnd() * list.length)]!;

const ODD_VALUES: readonly unknown[] = [
  '',
  ' ',
  'x',
  'not a date',
  '2025-02-30',
  '2025-03-10T25:00:00Z',
  '2025-03-10T10:00:00+02:00',
  'final',
  'unknown-code',
  'urn:uuid:not-a-uuid',
  'has space',
  '\u0007',
  0,
  -1,
  1.5,
  true,
  null,
  [],
  {},
  [{}],
  [''],
  ['x'],
  { system: 'http://example.org', code: 'x' },
  { reference: 'Patient/1' },
  { extension: [] },
];

/** Every path (object key or array index) inside a value, with its parent. */
function paths(value: unknown, prefix: (string | number)[] = []): (string | number)[][] {
  if (typeof value !== 'object' || value === null) {
    return [];
  }
  const entries: [string | number, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [i, v])
    : Object.entries(value as Record<string, unknown>);
  return entries.flatMap(([k, v]) => [[...prefix, k], ...paths(v, [...prefix, k])]);
}

function parentOf(root: unknown, p: readonly (string | number)[]): Record<string | number, unknown> | undefined {
  let node = root as Record<string | number, unknown> | undefined;
  for (const k of p.slice(0, -1)) {
    const next: unknown = node?.[k];
    node = typeof next === 'object' && next !== null ? (next as Record<string | number, unknown>) : undefined;
  }
  return node;
}

/** One random change: delete, replace with an odd value, add an unknown or choice-like key, duplicate an item. */
function mutate(resource: Resource, rnd: Rnd): unknown {
  const copy = structuredClone(resource) as unknown as Record<string, unknown>;
  const changes = 1 + Math.floor(rnd() * 2);
  for (let n = 0; n < changes; n++) {
    const all = paths(copy);
    if (all.length === 0) {
      break;
    }
    const p = pick(rnd, all);
    const parent = parentOf(copy, p);
    const key = p[p.length - 1]!;
    if (parent === undefined) {
      continue;
    }
    switch (Math.floor(rnd() * 6)) {
      case 0:
        if (Array.isArray(parent)) {
          parent.splice(Number(key), 1);
        } else {
          delete parent[key];
        }
        break;
      case 1:
      case 2:
        parent[key] = structuredClone(pick(rnd, ODD_VALUES));
        break;
      case 3:
        if (!Array.isArray(parent)) {
          parent[pick(rnd, ['unknownField', `${String(key)}X`, 'valueString', 'valueFoo', 'extension', 'text'])] =
            structuredClone(pick(rnd, ODD_VALUES));
        }
        break;
      case 4:
        if (Array.isArray(parent)) {
          parent.push(structuredClone(parent[Number(key)]));
        } else {
          parent[key] = [structuredClone(parent[key])];
        }
        break;
      default:
        if (!Array.isArray(parent) && Array.isArray(parent[key]) && (parent[key] as unknown[]).length > 0) {
          parent[key] = (parent[key] as unknown[])[0];
        } else if (typeof parent[key] === 'string') {
          parent[key] = `${String(parent[key])} `;
        }
    }
  }
  return copy;
}

describe('compiled FHIR validator agrees with @medplum/core', () => {
  const validator = new CompiledValidator();
  const corpus = [...goldenResources(), ...producedResources()];

  beforeAll(() => {
    initFhirValidation();
  });

  it('finds golden fixtures and produced resources to compare', () => {
    expect(corpus.length).toBeGreaterThan(100);
    const types = new Set(corpus.map((c) => c.resource.resourceType));
    for (const t of [
      'Patient',
      'RelatedPerson',
      'ServiceRequest',
      'Encounter',
      'Consent',
      'Bundle',
      'Task',
      'AuditEvent',
    ]) {
      expect(types).toContain(t);
    }
  });

  it('calls every golden and produced resource valid, as medplum does, without deferring', () => {
    const disagreements = corpus
      .map((c) => ({ name: c.name, compiled: validator.validate(c.resource), medplum: medplumVerdict(c.resource) }))
      .filter((r) => r.compiled !== 'valid' || r.medplum !== 'valid');
    expect(disagreements).toEqual([]);
  });

  it('never calls a mutated resource valid or invalid where medplum says otherwise', () => {
    const rnd = prng(SEED);
    const counts: Record<Verdict, number> = { valid: 0, invalid: 0, defer: 0 };
    const disagreements: { name: string; compiled: Verdict; medplum: string; resource: string }[] = [];
    for (const c of corpus) {
      for (let i = 0; i < MUTATIONS_PER_RESOURCE; i++) {
        const mutant = mutate(c.resource, rnd);
        const compiled = validator.validate(mutant);
        counts[compiled]++;
        if (compiled === 'defer') {
          continue;
        }
        const medplum = medplumVerdict(mutant);
        if (compiled !== medplum && disagreements.length < 5) {
          disagreements.push({ name: c.name, compiled, medplum, resource: JSON.stringify(mutant).slice(0, 2000) });
        }
      }
    }
    expect(disagreements).toEqual([]);
    // Both verdicts occur, and deferring stays the exception (primitive extensions, two choice variants).
    expect(counts.valid).toBeGreaterThan(0);
    expect(counts.invalid).toBeGreaterThan(0);
    expect(counts.defer).toBeLessThan((counts.valid + counts.invalid) / 10);
  });
});
