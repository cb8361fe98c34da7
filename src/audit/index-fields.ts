import type { AuditEvent, Reference } from '@medplum/fhirtypes';
import { BSN_SYSTEM } from '../kernel/fhir/identifiers';

/** The columns audit search filters on, taken from the AuditEvent itself so they can never disagree with it. */
export interface AuditIndexFields {
  readonly type: string;
  readonly subtype: string | null;
  readonly outcome: string;
  readonly patientBsn: string | null;
  /** `system|value` of identifiers and `Type/id` of references of every agent. */
  readonly agents: string[];
  /** `Type/id` of references and `system|value` of identifiers of every entity. */
  readonly entities: string[];
}

function tokensOf(ref: Reference | undefined): string[] {
  if (!ref) {
    return [];
  }
  const out: string[] = [];
  if (ref.reference) {
    out.push(ref.reference);
  }
  if (ref.identifier?.value) {
    out.push(`${ref.identifier.system ?? ''}|${ref.identifier.value}`);
  }
  return out;
}

export function indexFieldsOf(event: AuditEvent): AuditIndexFields {
  const patient = event.entity?.find((e) => e.what?.identifier?.system === BSN_SYSTEM);
  return {
    type: event.type.code ?? '',
    subtype: event.subtype?.[0]?.code ?? null,
    outcome: event.outcome ?? '0',
    patientBsn: patient?.what?.identifier?.value ?? null,
    agents: (event.agent ?? []).flatMap((a) => tokensOf(a.who)),
    entities: (event.entity ?? []).flatMap((e) => tokensOf(e.what)),
  };
}
