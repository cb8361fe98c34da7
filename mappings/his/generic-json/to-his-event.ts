import { amsterdamDayOf } from '../../../src/kernel/dutch-time';
import { helpQuestionOf } from '../shared/derive';
import type { ExpressionOf } from '../../../src/kernel/zod-outcome';
import { IssueCollector } from '../shared/issues';
import { checkTrajectoryDates } from '../shared/trajectory-dates';
import type { GuardianData, HisEvent, TrajectoryData } from '../shared/model';
import type { GenericEvent } from './schema';

type Trajectory = Extract<GenericEvent, { eventType: 'contact.recorded' }>['trajectory'];
type Party = { kind: 'child' } | { kind: 'guardian'; guardianId: string };

function checkParties(
  parties: readonly Party[],
  guardianIds: ReadonlySet<string>,
  path: PropertyKey[],
  issues: IssueCollector,
): void {
  parties.forEach((p, i) => {
    if (p.kind === 'guardian' && !guardianIds.has(p.guardianId)) {
      issues.add([...path, i, 'guardianId'], 'names no guardian of this event');
    }
  });
}

function toTrajectory(t: Trajectory, issues: IssueCollector): TrajectoryData {
  if ((t.closedOn === undefined) !== (t.outcome === undefined)) {
    issues.add(
      ['trajectory', t.closedOn === undefined ? 'closedOn' : 'outcome'],
      'closedOn and outcome go together',
      'required',
    );
  }
  if (t.closedOn !== undefined && t.closedOn < t.startDate) {
    issues.add(['trajectory', 'closedOn'], 'lies before startDate');
  }
  return {
    id: t.id,
    startDate: t.startDate,
    icpc: t.icpc,
    helpQuestion: t.helpQuestion ?? helpQuestionOf(t.icpc),
    moreHelpQuestions: t.moreHelpQuestions,
    referrerType: t.referrerType,
    referrerSubtype: t.referrerSubtype,
    closedOn: t.closedOn,
    outcome: t.outcome,
  };
}

function checkPeriod(
  period: { start: string; end?: string | undefined } | undefined,
  path: PropertyKey[],
  issues: IssueCollector,
): void {
  if (period?.end !== undefined && period.end < period.start) {
    issues.add([...path, 'end'], 'lies before start');
  }
}

/** The internal model from a parsed generic event, after the rules that span fields. Throws a 422 naming them. */
export function fromGenericEvent(e: GenericEvent, expressionOf: ExpressionOf): HisEvent {
  const issues = new IssueCollector(expressionOf);
  const guardianIds = new Set<string>();
  e.guardians.forEach((g, i) => {
    if (guardianIds.has(g.id)) {
      issues.add(['guardians', i, 'id'], 'duplicate guardian id');
    }
    guardianIds.add(g.id);
  });
  if (e.child.birthDate > amsterdamDayOf(e.occurredAt)) {
    issues.add(['child', 'birthDate'], 'lies after occurredAt');
  }
  const guardians: GuardianData[] = e.guardians;
  const common = {
    eventId: e.eventId,
    occurredAt: e.occurredAt,
    practice: { agb: e.practice.agb, ura: e.practice.ura },
    professional: e.professional,
    child: e.child,
    guardians,
  };
  if (e.eventType === 'contact.recorded' || e.eventType === 'trajectory.closed') {
    checkTrajectoryDates(
      issues,
      {
        birthDate: e.child.birthDate,
        startDate: e.trajectory.startDate,
        contactStart: e.eventType === 'contact.recorded' ? e.contact.start : undefined,
      },
      { startDate: ['trajectory', 'startDate'], contactStart: ['contact', 'start'] },
      { birthDate: 'child.birthDate', startDate: 'trajectory.startDate' },
    );
  }
  let out: HisEvent;
  switch (e.eventType) {
    case 'contact.recorded':
      out = { ...common, eventType: e.eventType, trajectory: toTrajectory(e.trajectory, issues), contact: e.contact };
      break;
    case 'trajectory.closed':
      out = { ...common, eventType: e.eventType, trajectory: toTrajectory(e.trajectory, issues) };
      break;
    case 'referral.created':
    case 'referral.cancelled':
      out = { ...common, eventType: e.eventType, referral: e.referral };
      break;
    case 'consent.recorded': {
      const c = e.consent;
      checkParties(c.givenBy, guardianIds, ['consent', 'givenBy'], issues);
      checkPeriod(c.period, ['consent', 'period'], issues);
      c.exceptions.forEach((x, i) => checkPeriod(x.period, ['consent', 'exceptions', i, 'period'], issues));
      out = {
        ...common,
        eventType: e.eventType,
        consent: {
          id: c.id,
          dateTime: c.recordedAt,
          decision: c.decision,
          givenBy: c.givenBy,
          recipient: c.recipient,
          purposes: c.purposes,
          dataClasses: c.dataClasses,
          period: c.period,
          exceptions: c.exceptions.map((x) => ({
            decision: x.decision,
            purposes: x.purposes ?? [],
            dataClasses: x.dataClasses ?? [],
            period: x.period,
          })),
        },
      };
      break;
    }
    case 'consent.withdrawn':
      checkParties(e.consent.withdrawnBy, guardianIds, ['consent', 'withdrawnBy'], issues);
      out = {
        ...common,
        eventType: e.eventType,
        consent: {
          id: e.consent.id,
          dateTime: e.consent.withdrawnAt,
          decision: e.consent.decision ?? 'permit',
          withdrawnBy: e.consent.withdrawnBy,
        },
      };
      break;
    case 'consent.entered-in-error':
      out = { ...common, eventType: e.eventType, consent: { id: e.consent.id, dateTime: e.consent.enteredInErrorAt } };
      break;
  }
  issues.throwIfAny();
  return out;
}
