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
import { agreementSchema } from '../src/policy/agreement';
import { decide } from '../src/policy/decide';
import type { DecisionFacts, DecisionRequest } from '../src/policy/types';
import { runStandalone, type BenchResult } from './result';

const WARM_UP_MS = 1_000;
const MEASURE_MS = 2_000;
const BATCH = 1_000;

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

/** The typical case: one agreement, a 14-year-old, child and two guardians with authority each consenting. */
function typicalCase(): { request: Omit<DecisionRequest, 'at'>; facts: DecisionFacts } {
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
  return {
    request: {
      practiceAgb: '01234567',
      municipalityCode: 'GM0226',
      purpose: 'referral',
      dataClasses: ['Patient', 'RelatedPerson', 'ServiceRequest'],
    },
    facts: {
      agreements: [agreement],
      consents: [
        consent('c-child', 'Patient/child-1', true),
        consent('c-mother', 'RelatedPerson/mother-1', false),
        consent('c-father', 'RelatedPerson/father-1', false),
      ],
      // 13 or 14 whenever the bench runs, so the child and both guardians must have consented.
      patient: { id: 'child-1', birthDate: `${new Date().getUTCFullYear() - 14}-03-01` },
      guardians: [
        { relatedPersonId: 'mother-1', hasAuthority: true },
        { relatedPersonId: 'father-1', hasAuthority: true },
      ],
    },
  };
}

/**
 * Runs batches of decisions for `ms` milliseconds; returns decisions, elapsed wall-clock ns and the CPU time the
 * process used meanwhile (µs). The figure is per CPU second: on a shared machine the wall clock also counts the
 * time other processes held the core, which says nothing about the engine.
 */
function run(
  ms: number,
  request: Omit<DecisionRequest, 'at'>,
  facts: DecisionFacts,
): { count: number; ns: bigint; cpuMicros: number } {
  const cpu = process.cpuUsage();
  const start = process.hrtime.bigint();
  const until = start + BigInt(ms) * 1_000_000n;
  let count = 0;
  let permits = 0;
  let now = start;
  while (now < until) {
    for (let i = 0; i < BATCH; i++) {
      // A fresh request and moment per decision, built as a literal as the pipeline does: an object spread of
      // `request` measured here at a large share of a decision's cost and would skew the figure.
      const fresh: DecisionRequest = {
        practiceAgb: request.practiceAgb,
        municipalityCode: request.municipalityCode,
        purpose: request.purpose,
        dataClasses: request.dataClasses,
        at: new Date(),
      };
      if (decide(fresh, facts).effect === 'permit') {
        permits++;
      }
    }
    count += BATCH;
    now = process.hrtime.bigint();
  }
  if (permits !== count) {
    throw new Error(`The typical case should permit every time, permitted ${permits} of ${count}`);
  }
  const used = process.cpuUsage(cpu);
  return { count, ns: now - start, cpuMicros: used.user + used.system };
}

/** Decisions per second on one core for the typical case, after a warm-up. */
export async function benchPolicy(): Promise<BenchResult[]> {
  const { request, facts } = typicalCase();
  run(WARM_UP_MS, request, facts);
  const { count, ns, cpuMicros } = run(MEASURE_MS, request, facts);
  const value = Math.round((count * 1e6) / cpuMicros);
  process.stderr.write(
    `bench: policy ${value} decisions per CPU second, ${Math.round((count * 1e9) / Number(ns))} per wall-clock second\n`,
  );
  return Promise.resolve([{ name: 'policy.decisions_per_s', value, unit: 'decisions/s' }]);
}

if (require.main === module) {
  runStandalone(benchPolicy);
}
