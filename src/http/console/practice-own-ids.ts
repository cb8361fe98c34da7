import { resourceIds } from '../../../mappings/his/shared/resource-ids';

/** Every string in a record (the HIS's own ids are among them), at most a few thousand. */
function stringsOf(value: unknown, out: Set<string>): Set<string> {
  if (out.size > 5000) {
    return out;
  }
  if (typeof value === 'string') {
    out.add(value);
  } else if (Array.isArray(value)) {
    value.forEach((v) => stringsOf(v, out));
  } else if (typeof value === 'object' && value !== null) {
    Object.values(value).forEach((v) => stringsOf(v, out));
  }
  return out;
}

/**
 * The practice's own ids for the child and guardians of an event, by FHIR id (`Patient/…`, `RelatedPerson/…`).
 * FHIR ids are derived from the practice's ids (resourceIds), so trying the strings of the record as the HIS sent
 * it finds them in any dialect, without each dialect having to keep them apart.
 */
export function practiceOwnIds(
  agb: string,
  record: unknown,
  patientId: string,
  relatedPersonIds: readonly string[],
): Map<string, string> {
  const out = new Map<string, string>();
  const candidates = [...stringsOf(record, new Set())];
  const childId = candidates.find((s) => resourceIds.patient(agb, s) === patientId);
  if (childId === undefined) {
    return out;
  }
  out.set(`Patient/${patientId}`, childId);
  for (const id of relatedPersonIds) {
    const own = candidates.find((s) => resourceIds.relatedPerson(agb, childId, s) === id);
    if (own !== undefined) {
      out.set(`RelatedPerson/${id}`, own);
    }
  }
  return out;
}
