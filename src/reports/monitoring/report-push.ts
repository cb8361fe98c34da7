import type { MeasureReport } from '@medplum/fhirtypes';
import { startPeriodic } from '../../kernel/periodic';
import type { AuditActor } from '../../audit/audit-events';
import { SYSTEM_WORKER } from '../../audit/audit-events';
import type { PipelineContext } from '../../event/context';
import { isScheduledReportPushClaimed } from '../../event/event-store';
import {
  assertReportCanBePushed,
  storeReportPush,
  tryGetMonitoringAgreement,
  type ReportPush,
} from '../../event/report-delivery';
import { amsterdamDay } from '../../kernel/dutch-time';
import { errorFields } from '../../kernel/logger';
import { failField } from '../../kernel/fhir/outcomes';
import { newTraceId } from '../../kernel/trace-context';
import { SYSTEM_TENANT } from '../audit-scope';
import { monitoringReport } from './monitoring-report';
import type { ReportPeriod } from './period';
import { tryParsePeriod } from './period';

interface PushRequest {
  readonly municipality: string;
  readonly period: ReportPeriod;
  readonly actor: AuditActor;
  readonly traceId: string;
}

type PushedReport = ReportPush & { report: MeasureReport };

/**
 * Pushes a municipality's monitoring report for a period to its destination: the same suppressed MeasureReport
 * `GET /municipality/v1/monitoring` answers for the whole municipality, stored and delivered like any event
 * (src/event/report-delivery.ts). Its disclosure is audited in the system chain, where report requests are, with
 * the municipality as an agent so its own auditors see it. Answers the delivery; a second push of the same figures
 * answers the first one's.
 */
export function pushMonitoringReport(
  ctx: PipelineContext,
  p: PushRequest & { readonly scheduled?: false },
  now?: Date,
): Promise<PushedReport>;
/** A scheduled push answers nothing when this period's scheduled push was claimed already. */
export function pushMonitoringReport(
  ctx: PipelineContext,
  p: PushRequest & { readonly scheduled: true },
  now?: Date,
): Promise<PushedReport | undefined>;
export async function pushMonitoringReport(
  ctx: PipelineContext,
  p: PushRequest & { readonly scheduled?: boolean },
  now = new Date(),
): Promise<PushedReport | undefined> {
  // Before counting: a period that has not ended, a push that cannot go anywhere, or of a period no agreement
  // covers, is refused at once.
  assertPeriodEnded(p.period, now);
  const { destination } = assertReportCanBePushed(ctx, p.municipality, p.period);
  const report = await monitoringReport(ctx, { municipality: p.municipality, period: p.period }, now);
  const push = await storeReportPush(ctx, {
    tenant: SYSTEM_TENANT,
    municipality: p.municipality,
    period: p.period.label,
    report,
    actor: p.actor,
    traceId: p.traceId,
    scheduled: p.scheduled,
    destination,
  });
  return push && { ...push, report };
}

/**
 * Only a period that has ended is pushed (for anyone, operators too): a push is the municipality's figures of the
 * period, and a running period's would be overtaken the next day. Its `pending` report can be read meanwhile
 * (`GET /municipality/v1/monitoring`). A 422 naming `period`.
 */
function assertPeriodEnded(period: ReportPeriod, now: Date): void {
  const today = amsterdamDay(now);
  if (period.end >= today) {
    failField(
      `period: ${period.label} has not ended yet (it ends ${period.end}; today is ${today}); it is pushed once it has`,
      'period',
    );
  }
}

/**
 * The quarter the schedule pushes on `now`: the one before the quarter of the Amsterdam day `delayDays` calendar days
 * earlier. With 14, 2026-Q3 from 15 October to 14 January; with 0, the quarter before today's (`2026-Q3` on any day
 * of 2026-Q4). The wait lets practices register the quarter's last days before its figures go out.
 */
function scheduledQuarterOf(now: Date, delayDays: number): ReportPeriod {
  const [y = 0, m = 1, d = 1] = amsterdamDay(now).split('-').map(Number);
  const delayed = new Date(Date.UTC(y, m - 1, d - delayDays));
  const [year, month] = [delayed.getUTCFullYear(), delayed.getUTCMonth() + 1];
  const quarter = Math.floor((month - 1) / 3) + 1;
  const label = quarter === 1 ? `${year - 1}-Q4` : `${year}-Q${quarter - 1}`;
  const period = tryParsePeriod(label);
  if (!period) {
    throw new Error(`not a quarter: ${label}`);
  }
  return period;
}

/**
 * One round of the schedule (MONITORING_PUSH_SCHEDULE=quarterly): each municipality with a destination and an
 * agreement with purpose monitoring in force in the previous quarter (on one day of it at least, so an agreement's
 * last quarter is pushed after it ended) gets that quarter's report, once, MONITORING_PUSH_DELAY_DAYS after the
 * quarter's end. The claim is taken in the transaction that stores the push, so two worker processes, or a restart,
 * never send it twice. Returns the pushes this round made.
 */
export async function runScheduledPushes(ctx: PipelineContext, now = new Date()): Promise<ReportPush[]> {
  const period = scheduledQuarterOf(now, ctx.config.MONITORING_PUSH_DELAY_DAYS);
  const pushes: ReportPush[] = [];
  for (const municipality of new Set(ctx.registry.destinations.map((d) => d.municipality))) {
    if (!tryGetMonitoringAgreement(ctx, { municipality }, period)) {
      continue;
    }
    // Cheap check first: after the first round of a quarter this is all a round does.
    if (await isScheduledReportPushClaimed(ctx.db, municipality, period.label)) {
      continue;
    }
    let push: ReportPush | undefined;
    try {
      push = await pushMonitoringReport(
        ctx,
        { municipality, period, actor: SYSTEM_WORKER, traceId: newTraceId(), scheduled: true },
        now,
      );
    } catch (err) {
      // One municipality's problem (a conflicting earlier push, an outage) must not hold back the others' reports;
      // the next round tries it again.
      ctx.log.warn(
        { municipality, period: period.label, ...errorFields(err) },
        'scheduled monitoring report not pushed',
      );
      continue;
    }
    if (push) {
      ctx.log.info(
        { municipality, period: period.label, deliveryId: push.delivery.id },
        'scheduled monitoring report pushed',
      );
      pushes.push(push);
    }
  }
  return pushes;
}

/**
 * How often the schedule looks whether a quarter has ended (and its delay passed): a report goes out within this
 * time after it has.
 */
const SCHEDULE_INTERVAL_MS = 3600_000;

/** Starts the quarterly push when MONITORING_PUSH_SCHEDULE says so (worker processes); returns its stop. */
export function startMonitoringPushSchedule(ctx: PipelineContext): () => Promise<void> {
  if (ctx.config.MONITORING_PUSH_SCHEDULE === 'off') {
    return () => Promise.resolve();
  }
  return startPeriodic(
    SCHEDULE_INTERVAL_MS,
    () => runScheduledPushes(ctx),
    ctx.log,
    'scheduled monitoring push failed; retried next round',
  );
}
