import type { Consent } from '@medplum/fhirtypes';
import { MUNICIPALITY_CODE_SYSTEM } from '../src/kernel/fhir/identifiers';
import {
  CONSENT_CATEGORY_CODE,
  CONSENT_SCOPE_SYSTEM,
  LOINC_SYSTEM,
  PARTICIPATION_TYPE_SYSTEM,
  PURPOSE_SYSTEM,
  RESOURCE_TYPE_SYSTEM,
} from '../src/kernel/fhir/systems';
import { agreementSchema, type Agreement } from '../src/policy/agreement';
import { CACHED_CONSENTS, ConsentCache, type CacheableConsent } from '../src/policy/consent-cache';
import type { CompiledConsent } from '../src/policy/compiled-consent';
import { decide } from '../src/policy/decide';
import type { DecisionFacts, DecisionRequest } from '../src/policy/types';
import { runStandalone, type BenchResult } from './result';

const WARM_UP_MS = 1_000;
const MEASURE_MS = 2_000;
// Events are decided in groups of up to 100 whose consents load in one query (src/event/stage-batch.ts, maxGroup), so
// the rows a decision reads were just received and are in the CPU cache: a batch holds 100 events' facts and
// consent rows (about 300 KB). With 1,000 (3 MB, more than a core's L2) the figure halved and measured memory latency.
const BATCH = 100;

function consent(id: string, performer: string, nestedDeny: boolean): Consent {
  return {
    resourceType: 'Consent',
    id,
    status: 'active',
    scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'patient-privacy' }] },
    category: [{ coding: [{ system: LOINC_SYSTEM, code: CONSENT_CATEGORY_CODE }] }],
    patient: { reference: 'Patient/child-1' },
    dateTime: '2025-01-10T09:00:00+01:00',
    performer: [{ reference: performer }],
    provision: {
      type: 'permit',
      period: { start: '2025-01-01' },
      actor: [
        {
          role: { coding: [{ system: PARTICIPATION_TYPE_SYSTEM, code: 'IRCP' }] },
          reference: { identifier: { system: MUNICIPALITY_CODE_SYSTEM, value: 'GM0226' } },
        },
      ],
      purpose: [{ system: PURPOSE_SYSTEM, code: 'referral' }],
      ...(nestedDeny
        ? { provision: [{ type: 'deny', class: [{ system: RESOURCE_TYPE_SYSTEM, code: 'Encounter' }] }] }
        : {}),
    },
  };
}

/** What production holds for the typical case: its agreements, and one child's consents as the registry stores them. */
interface TypicalCase {
  /** Every configured agreement; the pipeline filters the practice's and municipality's per event (findAgreements). */
  readonly registry: readonly Agreement[];
  readonly request: Omit<DecisionRequest, 'at'>;
  /**
   * The child's three consents as stored: id, version and text, as the database sends them per event (`version::text`,
   * `resource::text`).
   */
  readonly storedConsents: readonly { readonly id: string; readonly version: Buffer; readonly text: Buffer }[];
  readonly birthDate: string;
}

/** The typical case: one agreement, a 14-year-old, child and two guardians with authority each consenting. */
function typicalCase(): TypicalCase {
  const agreement = agreementSchema.parse({
    id: 'agr-overbetuwe',
    version: 1,
    status: 'active',
    practice: { agb: '01234567' },
    municipality: { code: 'GM0226', name: 'Overbetuwe' },
    validFrom: '2025-01-01',
    purposes: ['referral', 'contact-registration'],
    legalBasis: 'consent',
    dataClasses: {
      Patient: { fields: ['identifier', 'birthDate'] },
      RelatedPerson: { fields: ['identifier', 'relationship'] },
      ServiceRequest: { fields: ['status', 'intent', 'code', 'authoredOn'] },
    },
  });
  const elsewhere = agreementSchema.parse({
    ...agreement,
    id: 'agr-lingewaard',
    municipality: { code: 'GM1705', name: 'Lingewaard' },
  });
  return {
    registry: [agreement, elsewhere],
    request: {
      practiceAgb: '01234567',
      municipalityCode: 'GM0226',
      purpose: 'referral',
      dataClasses: ['Patient', 'RelatedPerson', 'ServiceRequest'],
    },
    storedConsents: [
      consent('c-child', 'Patient/child-1', true),
      consent('c-mother', 'RelatedPerson/mother-1', false),
      consent('c-father', 'RelatedPerson/father-1', false),
    ].map((c, i) => ({ id: c.id ?? '', version: Buffer.from(String(1001 + i)), text: Buffer.from(JSON.stringify(c)) })),
    // 13 or 14 whenever the bench runs, so the child and both guardians must have consented.
    birthDate: `${new Date().getUTCFullYear() - 14}-03-01`,
  };
}

/**
 * The facts of one event as the pipeline loads them (src/event/decide.ts), up to the consent cache: the same agreement
 * objects in a new list, the consents as new rows of id, version and text (the database driver decodes each row's
 * values from its buffer into new strings, as here), a new patient and guardians. What the engine caches per agreement
 * object carries over from one decision to the next, as in production, where the agreements are loaded once at
 * start-up; what the consent cache holds carries over only because the stored version is the same. With `missing`,
 * each event's consents are new versions (another id), so every lookup misses: the first decision of each stored
 * version.
 */
interface EventFacts {
  readonly facts: Omit<DecisionFacts, 'consents'>;
  readonly storedConsents: readonly CacheableConsent[];
}

function factsOfOneEvent(c: TypicalCase, missing?: number): EventFacts {
  return {
    facts: {
      agreements: c.registry.filter(
        (a) => a.practice.agb === c.request.practiceAgb && a.municipality.code === c.request.municipalityCode,
      ),
      patient: { id: 'child-1', birthDate: c.birthDate },
      guardians: [
        { relatedPersonId: 'mother-1', hasAuthority: true },
        { relatedPersonId: 'father-1', hasAuthority: true },
      ],
    },
    storedConsents: c.storedConsents.map((row) => ({
      id: missing === undefined ? row.id : `${row.id}-v${missing}`,
      version: row.version.toString('utf8'),
      text: row.text.toString('utf8'),
    })),
  };
}

/**
 * Runs batches of decisions for `ms` milliseconds; returns decisions, and the wall-clock ns and CPU time (µs)
 * the decisions took. Each batch's rows are made first, outside the CPU time: reading them from the socket is the
 * database driver's work, not the engine's. Inside it: the consent cache's lookups (and on a miss parsing and
 * compiling), as src/event/decide.ts does per event, and the decision. The figure is per CPU second: on a shared
 * machine the wall clock also counts the time other processes held the core, which says nothing about the engine.
 */
function run(
  ms: number,
  c: TypicalCase,
  cache: ConsentCache,
  misses: boolean,
): { count: number; ns: bigint; cpuMicros: number } {
  const { request } = c;
  const start = process.hrtime.bigint();
  const until = start + BigInt(ms) * 1_000_000n;
  let cpuMicros = 0;
  let ns = 0n;
  let count = 0;
  let permits = 0;
  let now = start;
  while (now < until) {
    const batch: EventFacts[] = [];
    for (let i = 0; i < BATCH; i++) {
      batch.push(factsOfOneEvent(c, misses ? count + i : undefined));
    }
    const cpu = process.cpuUsage();
    const batchStart = process.hrtime.bigint();
    for (let i = 0; i < BATCH; i++) {
      const event = batch[i] as EventFacts;
      // A fresh request and moment per decision, built as a literal as the pipeline does: an object spread of
      // `request` measured here at a large share of a decision's cost and would skew the figure.
      const fresh: DecisionRequest = {
        practiceAgb: request.practiceAgb,
        municipalityCode: request.municipalityCode,
        purpose: request.purpose,
        dataClasses: request.dataClasses,
        at: new Date(),
      };
      const facts: DecisionFacts<CompiledConsent> = {
        agreements: event.facts.agreements,
        consents: cache.derivedAll(event.storedConsents),
        patient: event.facts.patient,
        guardians: event.facts.guardians,
      };
      if (decide(fresh, facts).effect === 'permit') {
        permits++;
      }
    }
    now = process.hrtime.bigint();
    const used = process.cpuUsage(cpu);
    cpuMicros += used.user + used.system;
    ns += now - batchStart;
    count += BATCH;
  }
  if (permits !== count) {
    throw new Error(`The typical case should permit every time, permitted ${permits} of ${count}`);
  }
  return { count, ns, cpuMicros };
}

/** Decisions per second on one core for the typical case, after a warm-up. */
export async function benchPolicy(): Promise<BenchResult[]> {
  const typical = typicalCase();
  // As the pipeline's (src/event/decide.ts); the typical case holds three of its entries.
  const cache = new ConsentCache(CACHED_CONSENTS);
  run(WARM_UP_MS, typical, cache, false);
  const { count, ns, cpuMicros } = run(MEASURE_MS, typical, cache, false);
  const value = Math.round((count * 1e6) / cpuMicros);
  process.stderr.write(
    `bench: policy ${value} decisions per CPU second, ${Math.round((count * 1e9) / Number(ns))} per wall-clock second (${count} decisions)\n`,
  );
  // Every consent a new stored version: parsed and compiled in the measured time, evicting as the cache fills.
  const cold = run(MEASURE_MS, typical, cache, true);
  process.stderr.write(
    `bench: policy on a cache miss (each decision's three consents new versions) ${Math.round((cold.count * 1e6) / cold.cpuMicros)} decisions per CPU second (${cold.count} decisions)\n`,
  );
  return Promise.resolve([{ name: 'policy.decisions_per_s', value, unit: 'decisions/s' }]);
}

if (require.main === module) {
  runStandalone(benchPolicy);
}
