import { recordChainIntegrity } from '../audit/chain-integrity';
import type { AuditEvent } from '@medplum/fhirtypes';
import { operatorAction, SYSTEM_RETENTION, SYSTEM_TENANT } from '../audit/audit-events';
import { errorFields } from '../kernel/logger';
import { startPeriodic } from '../kernel/periodic';
import { purgeChain, type ChainPurge } from '../audit/retention';
import { signPurgeCheckpoint, type PurgeCheckpoint } from '../audit/signed-heads';
import { listChainTenants } from '../audit/verify';
import type { Config } from '../kernel/config';
import type { PipelineContext } from './context';
import {
  clearFinishedFeedbackAnswers,
  clearFinishedPayloads,
  clearFinishedTrajectoryPayloads,
  clearReferralIdentities,
  storeReferralIdentities,
  referralsLosingContent,
} from './event-store';
import { tryReferralIdentityOf } from './feedback';
import {
  pruneRetentionRuns,
  recordRetentionRun,
  type RetentionRemoval,
  type RetentionRunRecord,
} from './retention-runs';

/**
 * Retention: how long what we hold may be kept.
 *
 * - Inbox payloads (the encrypted original HIS records), and the encrypted trajectory events municipalities send
 *   to practices, are needed only until an event is finished; they are
 *   removed `INBOX_PAYLOAD_RETENTION_DAYS` after the event reached a terminal state. The row, its state and history
 *   stay (they hold no record content). A dead letter older than that can no longer be replayed.
 * - A referral's identity (the child's BSN, the referral's identifiers, the day it was written: `ReferralIdentity`)
 *   is kept, encrypted, when its content goes: a municipality's decision and the end of care come after the
 *   payload's 30 days, and its statuses must still reach the practice. It goes `REFERRAL_IDENTITY_RETENTION_DAYS`
 *   (two years) after the referral was received.
 * - The receivers' answers (encrypted: an answer may echo what it was sent) go with them: a delivery's with its
 *   event's payload, a trajectory event's with its content, a status update's the same period after its delivery
 *   ended. Their summaries stay (receiver-answer.ts: codes, type and size, no text). A municipality's free-text
 *   reason on a status update (encrypted) goes with that status update's answer; its codes stay.
 * - Audit rows are kept `AUDIT_RETENTION_DAYS` (five years: the common NEN 7513 requirement), then deleted from the
 *   oldest end of each chain. A checkpoint (seq and hash of the last deleted row) and the purge's AuditEvent are
 *   recorded in the same transaction, so verification starts from it and the chain stays verifiable, and no purge
 *   is ever done without its AuditEvent; the database refuses any other delete (migration 002).
 */

const DAY_MS = 24 * 3600 * 1000;
/** Payloads cleared per statement, so one run never holds long locks on the inbox. */
const PAYLOAD_BATCH = 1000;

export interface RetentionSettings {
  readonly auditRetentionDays: number;
  readonly inboxPayloadRetentionDays: number;
  readonly referralIdentityRetentionDays: number;
  readonly intervalMs: number;
}

/** The retention settings of the parsed configuration (its schema holds their defaults and bounds). */
function retentionSettingsOf(config: Config): RetentionSettings {
  return {
    auditRetentionDays: config.AUDIT_RETENTION_DAYS,
    inboxPayloadRetentionDays: config.INBOX_PAYLOAD_RETENTION_DAYS,
    referralIdentityRetentionDays: config.REFERRAL_IDENTITY_RETENTION_DAYS,
    intervalMs: config.RETENTION_INTERVAL_MS,
  };
}

export interface PurgeReport {
  readonly payloadsCleared: number;
  readonly chains: ChainPurge[];
  /** Chains left alone because they failed verification: purging would erase the evidence. */
  readonly skipped: { readonly tenant: string; readonly reason: string }[];
}

type RetentionContext = Pick<PipelineContext, 'db' | 'cipher' | 'audit' | 'config' | 'log'> &
  Partial<Pick<PipelineContext, 'metrics' | 'signedHeads'>>;

/**
 * Clears and deletes what is past its retention at `now`; every purge is itself audited (operator action `purge`).
 * Each run, also one that removed nothing or failed, is kept in `retention_run` (retention-runs.ts) for the auditor.
 */
export async function purgeExpired(
  ctx: RetentionContext,
  now: Date = new Date(),
  settings: RetentionSettings = retentionSettingsOf(ctx.config),
): Promise<PurgeReport> {
  const startedAt = new Date();
  const terms = {
    inboxPayloadRetentionDays: settings.inboxPayloadRetentionDays,
    referralIdentityRetentionDays: settings.referralIdentityRetentionDays,
    auditRetentionDays: settings.auditRetentionDays,
  };
  const removed: RetentionRemoval[] = [];
  let report: PurgeReport;
  try {
    report = await purgeAll(ctx, now, settings, removed);
  } catch (err) {
    await keepRun(ctx, { startedAt, outcome: 'failed', removed, skipped: [], terms, problem: errorFields(err).reason });
    throw err;
  }
  await keepRun(ctx, {
    startedAt,
    outcome: report.skipped.length > 0 ? 'chains-skipped' : 'done',
    removed,
    skipped: report.skipped,
    terms,
  });
  return report;
}

/** Keeps a run's record; one that cannot be kept is logged, and does not undo or fail the run. */
async function keepRun(ctx: RetentionContext, run: RetentionRunRecord): Promise<void> {
  await recordRetentionRun(ctx.db, run).catch((err: unknown) =>
    ctx.log.error({ outcome: run.outcome, ...errorFields(err) }, 'retention run not recorded'),
  );
}

/** The run itself; what it removed is added to `removed` as it goes, so a run that fails part-way says it too. */
async function purgeAll(
  ctx: RetentionContext,
  now: Date,
  settings: RetentionSettings,
  removed: RetentionRemoval[],
): Promise<PurgeReport> {
  const payloadsByTenant = await purgePayloads(
    ctx,
    new Date(now.getTime() - settings.inboxPayloadRetentionDays * DAY_MS),
    new Date(now.getTime() - settings.referralIdentityRetentionDays * DAY_MS),
  );
  for (const [tenant, rows] of payloadsByTenant) {
    removed.push({ kind: 'content', tenant, rows });
  }
  const cutoff = new Date(now.getTime() - settings.auditRetentionDays * DAY_MS);
  const chains: ChainPurge[] = [];
  const skipped: { tenant: string; reason: string }[] = [];
  // Each chain's purge writes its own AuditEvent in the transaction that deletes the rows.
  const purgeEvent = (c: ChainPurge): AuditEvent =>
    operatorAction({
      actor: SYSTEM_RETENTION,
      action: 'purge',
      target: `audit_checkpoint/${c.tenant}/${c.checkpointSeq}`,
      description: `${c.purgedRows} audit rows older than ${settings.auditRetentionDays} days deleted, up to seq ${c.checkpointSeq}`,
    });
  // The checkpoint signed with this process's audit signing key (every process has it; see src/runtime.ts).
  const key = ctx.signedHeads?.keys.current;
  const sign = key ? (cp: PurgeCheckpoint) => signPurgeCheckpoint(key, cp) : undefined;
  for (const tenant of await listChainTenants(ctx.db)) {
    let result: Awaited<ReturnType<typeof purgeChain>>;
    try {
      result = await purgeChain(ctx.db, tenant, cutoff, purgeEvent, sign);
    } catch (err) {
      // Rolled back: nothing of this chain was purged. The next run tries again.
      skipped.push({
        tenant,
        reason: `not purged: its purge AuditEvent could not be written (${errorFields(err).reason})`,
      });
      ctx.log.error(
        { tenant, ...errorFields(err) },
        'audit chain not purged: its purge AuditEvent could not be written',
      );
      continue;
    }
    if (result) {
      // purgeChain verified the rows it meant to delete: that verdict is the chain's last verify result.
      // It read only the rows it meant to delete: a broken one is known, an intact one vouches for no other row, so it
      // does not clear a break another check found (`scheduled`, as the signer's own check).
      ctx.metrics?.recordAuditVerify(tenant, !('reason' in result), { scheduled: true });
      if ('reason' in result) {
        // Recorded for every process; a failure to record it must not stop the other chains' purge.
        await recordChainIntegrity(ctx.db, tenant, { ok: false, problem: result.reason }, 'retention', {
          audit: ctx.audit,
        }).catch((err: unknown) =>
          ctx.log.error({ tenant, ...errorFields(err) }, 'could not record the audit chain as broken'),
        );
      }
    }
    if (result && 'reason' in result) {
      skipped.push({ tenant, reason: result.reason });
      ctx.log.error({ tenant, reason: result.reason }, 'audit chain not purged: it does not verify');
    } else if (result) {
      chains.push(result);
      removed.push({ kind: 'audit', tenant, rows: result.purgedRows });
    }
  }
  // The records of earlier runs, by the audit log's term: what their purges did is in the chains' AuditEvents for as
  // long, and the run that prunes them says how many it deleted (the system chain's, as they are no practice's).
  const runsPruned = await pruneRetentionRuns(ctx.db, cutoff);
  const audits: Promise<void>[] = [];
  if (runsPruned > 0) {
    removed.push({ kind: 'runs', tenant: SYSTEM_TENANT, rows: runsPruned });
    audits.push(
      ctx.audit.append(
        SYSTEM_TENANT,
        operatorAction({
          actor: SYSTEM_RETENTION,
          action: 'purge',
          target: 'retention_run',
          description: `${runsPruned} records of retention runs older than ${settings.auditRetentionDays} days deleted`,
        }),
      ),
    );
  }
  for (const [tenant, count] of payloadsByTenant) {
    audits.push(
      ctx.audit.append(
        tenant,
        operatorAction({
          actor: SYSTEM_RETENTION,
          action: 'purge',
          target: 'inbox',
          description:
            `content of ${count} finished events and status updates (payloads, receivers' answers) older than ` +
            `${settings.inboxPayloadRetentionDays} days removed`,
        }),
      ),
    );
  }
  await Promise.all(audits);
  const payloadsCleared = [...payloadsByTenant.values()].reduce((a, b) => a + b, 0);
  // Every run, also when nothing was due: the log shows that retention runs, and by which terms (counts only).
  ctx.log.info(
    {
      payloadsCleared,
      chains: chains.length,
      auditRows: chains.reduce((a, c) => a + c.purgedRows, 0),
      inboxPayloadRetentionDays: settings.inboxPayloadRetentionDays,
      referralIdentityRetentionDays: settings.referralIdentityRetentionDays,
      auditRetentionDays: settings.auditRetentionDays,
    },
    'retention purge done',
  );
  return { payloadsCleared, chains, skipped };
}

async function purgePayloads(
  ctx: Pick<PipelineContext, 'db' | 'cipher'>,
  before: Date,
  identitiesBefore: Date,
): Promise<Map<string, number>> {
  const byTenant = new Map<string, number>();
  await keepReferralIdentities(ctx, before);
  // The inbox's records, then the trajectory events municipalities sent (the same retention: both are content
  // needed only until the event is finished), then the practices' answers to status updates; and the referrals'
  // identities kept since, after their own period.
  const clears: [typeof clearFinishedPayloads, Date][] = [
    [clearFinishedPayloads, before],
    [clearFinishedTrajectoryPayloads, before],
    [clearFinishedFeedbackAnswers, before],
    [clearReferralIdentities, identitiesBefore],
  ];
  for (const [clear, cutoff] of clears) {
    for (;;) {
      const cleared = await clear(ctx.db, cutoff, PAYLOAD_BATCH);
      cleared.forEach((r) => byTenant.set(r.tenant, (byTenant.get(r.tenant) ?? 0) + 1));
      if (cleared.length < PAYLOAD_BATCH) {
        break;
      }
    }
  }
  return byTenant;
}

/**
 * Keeps the identity of every finished referral whose content is about to be cleared (`referralIdentityOf` reads it
 * from the content while it is there), sealed with the current inbox key. A referral whose content names none (no
 * ServiceRequest) keeps nothing and is passed by.
 */
async function keepReferralIdentities(ctx: Pick<PipelineContext, 'db' | 'cipher'>, before: Date): Promise<void> {
  for (let afterId = '00000000-0000-0000-0000-000000000000'; ;) {
    const rows = await referralsLosingContent(ctx.db, before, afterId, PAYLOAD_BATCH);
    const kept = rows.flatMap((row) => {
      const identity = tryReferralIdentityOf(ctx, row);
      if (!identity) {
        return [];
      }
      const { keyId, data } = ctx.cipher.encrypt(identity);
      return [{ id: row.id, sealed: data, keyId }];
    });
    if (kept.length > 0) {
      await storeReferralIdentities(ctx.db, kept);
    }
    if (rows.length < PAYLOAD_BATCH) {
      return;
    }
    afterId = rows.at(-1)!.id;
  }
}

/**
 * Runs `purgeExpired` now and then every `intervalMs` (daily by default). Returns a stop function that cancels the
 * timer and resolves once a purge in progress has finished, so shutdown can close the database after it.
 */
export function startRetention(
  ctx: Pick<PipelineContext, 'db' | 'cipher' | 'audit' | 'config' | 'log' | 'signedHeads'>,
  intervalMs: number = retentionSettingsOf(ctx.config).intervalMs,
): () => Promise<void> {
  return startPeriodic(intervalMs, () => purgeExpired(ctx), ctx.log, 'retention purge failed');
}
