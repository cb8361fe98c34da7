import { badRequest, OperationOutcomeError } from '@medplum/core';
import { isValidIsoDate } from '../kernel/fhir/identifiers';
import { failField } from '../kernel/fhir/outcomes';
import { tryParseRange, type ReportPeriod } from '../reports/monitoring/period';

/**
 * What the monitoring report's API (`GET /municipality/v1/monitoring`) and the console's report page both ask of a
 * request before counting, in one place so the two answer alike.
 */

/** One end of a range: a date that exists (2026-02-30 does not), else a 400 naming that end. */
function dateParam(name: 'from' | 'to', value: string | undefined): string {
  if (value === undefined) {
    throw new OperationOutcomeError(badRequest(`${name}: give both from and to, dates YYYY-MM-DD`, name));
  }
  if (!isValidIsoDate(value)) {
    throw new OperationOutcomeError(badRequest(`${name}: ${value} is not a date YYYY-MM-DD`, name));
  }
  return value;
}

/**
 * The period from `from` to `to`, both included: a missing end or one that is no date is a 400 naming it, `to`
 * before `from` a 422 naming `to` (each is a date; together they break a rule).
 */
export function periodOfRange(from: string | undefined, to: string | undefined): ReportPeriod {
  const start = dateParam('from', from);
  const end = dateParam('to', to);
  return tryParseRange(start, end) ?? failField(`to: ${end} is before from (${start})`, 'to');
}
