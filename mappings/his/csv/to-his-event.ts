import { deterministicId } from '../../../src/kernel/fhir/ids';
import { tryNormaliseDateTime } from '../../../src/kernel/fhir/identifiers';
import { amsterdamDayOf } from '../../../src/kernel/dutch-time';
import { helpQuestionOf } from '../shared/derive';
import type { ExpressionOf } from '../../../src/kernel/zod-outcome';
import { IssueCollector } from '../shared/issues';
import { checkTrajectoryDates } from '../shared/trajectory-dates';
import type { GuardianData, HisEvent, TrajectoryData } from '../shared/model';
import type { CsvRow } from './schema';

function guardiansOf(row: CsvRow, issues: IssueCollector): GuardianData[] {
  const candidates = [
    {
      n: 1,
      id: row.guardian1_id,
      bsn: row.guardian1_bsn,
      rel: row.guardian1_relationship,
      auth: row.guardian1_authority,
    },
    {
      n: 2,
      id: row.guardian2_id,
      bsn: row.guardian2_bsn,
      rel: row.guardian2_relationship,
      auth: row.guardian2_authority,
    },
  ];
  const out: GuardianData[] = [];
  for (const g of candidates) {
    if (g.id === undefined) {
      if (g.bsn !== undefined || g.rel !== undefined || g.auth !== undefined) {
        issues.add([`guardian${g.n}_id`], `is required when other guardian${g.n} columns are filled`, 'required');
      }
      continue;
    }
    if (g.rel === undefined) {
      issues.add([`guardian${g.n}_relationship`], 'is required for a guardian', 'required');
    }
    if (g.auth === undefined) {
      issues.add([`guardian${g.n}_authority`], 'is required for a guardian (ja/nee)', 'required');
    }
    if (out.some((o) => o.id === g.id)) {
      issues.add([`guardian${g.n}_id`], 'duplicate guardian id');
    }
    if (g.rel !== undefined && g.auth !== undefined) {
      out.push({ id: g.id, bsn: g.bsn, relationship: g.rel, hasAuthority: g.auth });
    }
  }
  return out;
}

/**
 * The event id of a row: a hash of its content. Re-uploading the same export gives duplicates the inbox drops;
 * a corrected row is a new event that updates the same resources (their ids come from the practice's own ids).
 */
function eventIdOf(row: CsvRow): string {
  const parts = Object.entries(row)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    // One help question hashes as the single value it was before a row could list several: the same export
    // uploaded again stays a duplicate.
    .map(([k, v]) => `${k}=${JSON.stringify(k === 'help_question' && Array.isArray(v) && v.length === 1 ? v[0] : v)}`);
  return `csv-${deterministicId(...parts)}`;
}

/** The internal model from one validated row: a contact (that may close its trajectory) or a closure alone. */
export function fromCsvRow(row: CsvRow, expressionOf: ExpressionOf): HisEvent {
  const issues = new IssueCollector(expressionOf);
  const guardians = guardiansOf(row, issues);
  if (row.help_question === undefined && row.icpc === undefined) {
    issues.add(['help_question'], 'is required when icpc is empty', 'required');
  }
  if ((row.outcome === undefined) !== (row.closed_on === undefined)) {
    issues.add([row.outcome === undefined ? 'outcome' : 'closed_on'], 'outcome and closed_on go together', 'required');
  }
  if (row.closed_on !== undefined && row.closed_on < row.trajectory_start) {
    issues.add(['closed_on'], 'lies before trajectory_start');
  }
  const isContact = row.contact_id !== undefined;
  if (isContact) {
    for (const col of ['contact_start', 'contact_mode', 'duration_min'] as const) {
      if (row[col] === undefined) {
        issues.add([col], 'is required for a contact', 'required');
      }
    }
  } else if (row.outcome === undefined) {
    issues.add(
      ['contact_id'],
      'a row records a contact (contact_id, …) or closes the trajectory (outcome, closed_on)',
      'required',
    );
  }
  const occurredAt = isContact ? row.contact_start : row.closed_on && tryNormaliseDateTime(row.closed_on);
  if (occurredAt !== undefined && row.birth_date > amsterdamDayOf(occurredAt)) {
    issues.add(['birth_date'], `lies after ${isContact ? 'contact_start' : 'closed_on'}`);
  }
  checkTrajectoryDates(
    issues,
    {
      birthDate: row.birth_date,
      startDate: row.trajectory_start,
      contactStart: isContact ? row.contact_start : undefined,
    },
    { startDate: ['trajectory_start'], contactStart: ['contact_start'] },
    { birthDate: 'birth_date', startDate: 'trajectory_start' },
  );
  issues.throwIfAny();
  const helpQuestion = row.help_question?.[0] ?? (row.icpc ? helpQuestionOf(row.icpc) : undefined);
  if (occurredAt === undefined || helpQuestion === undefined) {
    return issues.throwAll();
  }
  const trajectory: TrajectoryData = {
    id: row.trajectory_id,
    startDate: row.trajectory_start,
    icpc: row.icpc,
    helpQuestion,
    moreHelpQuestions: row.help_question?.slice(1),
    referrerType: row.referrer_type,
    referrerSubtype: row.referrer_subtype,
    closedOn: row.closed_on,
    outcome: row.outcome,
  };
  const givenName = row.child_given_name;
  const hasName = givenName !== undefined || row.child_family_name !== undefined;
  const professional =
    row.professional_agb || row.professional_role || row.professional_name
      ? { agb: row.professional_agb, role: row.professional_role, name: row.professional_name }
      : undefined;
  const common = {
    eventId: eventIdOf(row),
    occurredAt,
    practice: { agb: row.practice_agb, ura: row.practice_ura },
    professional,
    child: {
      id: row.child_id,
      bsn: row.bsn,
      birthDate: row.birth_date,
      municipality: row.municipality,
      name: hasName ? { given: givenName ? [givenName] : undefined, family: row.child_family_name } : undefined,
    },
    guardians,
  };
  if (!isContact || row.contact_id === undefined || row.contact_mode === undefined || row.duration_min === undefined) {
    return { ...common, eventType: 'trajectory.closed', trajectory };
  }
  return {
    ...common,
    eventType: 'contact.recorded',
    trajectory,
    contact: {
      id: row.contact_id,
      start: occurredAt,
      durationMinutes: row.duration_min,
      mode: row.contact_mode,
      interventions: row.interventions ?? [],
    },
  };
}
