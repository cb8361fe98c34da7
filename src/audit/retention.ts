import type { PipelineContext } from '../event/context';
import { TERMINAL_STATES } from '../event/inbox-store';
import { operatorAction, SYSTEM_RETENTION } from './audit-events';
import { verifyTenant, listChainTenants, tryGetCheckpoint } from './verify';
import { errorFields } from '../kernel/logger';

/**
 * Retention: how long what we hold may be kept.
 *
 * - Inbox payloads (the encrypted original HIS records) are needed only until an event is finished; they are
 *   removed `INBOX_PAYLOAD_RETENTION_DAYS` after the event reached a terminal state. The row, its state and history
 *   stay (they hold no record content). A dead letter older than that can no longer be replayed.
 * - Audit rows are kept `AUDIT_RETENTION_DAYS` (five years: the common NEN 7513 requirement), then deleted from the
 *   oldest end of each chain. A checkpoint (seq and hash of the last deleted row) is recorded in the same
 *   transaction, so verification starts from it and the chain stays verifiable; the database refuses any other
 *   delete (migration 002).
 */

export const DEFAULT_AUDIT_RETENTION_DAYS = 1826;
export const DEFAULT_INBOX_PAYLOAD_RETENTION_DAYS = 30;
export const DEFAULT_RETENTION_INTERVAL_MS = 24 * 3600 * 1000;
const DAY_MS = 24 * 3600 * 1000;
/** Payloads cleared per statement, so one run never holds long locks on the inbox. */
const PAYLOAD_BATCH = 1000;
/** Arbitrary but fixed: two processes purging the same chain at once would race for the same checkpoint. */
const PURGE_LOCK = 727_513;

export interface RetentionSettings {
  readonly auditRetentionDays: number;
  readonly inboxPayloadRetentionDays: number;
  readonly intervalMs: number;
}

/**
 * The retention settings from the configuration, with the defaults for keys it does not (yet) define. Read by name
 * so this module works before and after the keys are added to the config schema.
 */
export function retentionSettingsOf(config: object): RetentionSettings {
  const c = config as Partial<
    Record<'AUDIT_RETENTION_DAYS' | 'INBOX_PAYLOAD_RETENTION_DAYS' | 'RETENTION_INTERVAL_MS', unknown>
  >;
  const num = (v: unknown, fallback: number): number =>
    typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : fallback;
  return {
    auditRetentionDays: num(c.AUDIT_RETENTION_DAYS, DEFAULT_AUDIT_RETENTION_DAYS),
    inboxPayloadRetentionDays: num(c.INBOX_PAYLOAD_RETENTION_DAYS, DEFAULT_INBOX_PAYLOAD_RETENTION_DAYS),
    intervalMs: num(c.RETENTION_INTERVAL_MS, DEFAULT_RETENTION_INTERVAL_MS),
  };
}

export interface ChainPurge {
  readonly tenant: string;
  readonly purgedRows: number;
  /** The new checkpoint: the last purged row. */
  readonly checkpointSeq: number;
}

export interface PurgeReport {
  readonly payloadsCleared: number;
  readonly chains: ChainPurge[];
  /** Chains left alone because they failed verification: purging would erase the evidence. */
  readonly skipped: { readonly tenant: string; readonly reason: string }[];
}

/** Clears and deletes what is past its retention at `now`; every purge is itself audited (operator action `purge`). */
export async function purgeExpired(
  ctx: Pick<PipelineContext, 'db' | 'audit' | 'config' | 'log'>,
  now: Date = new Date(),
  settings: RetentionSettings = retentionSettingsOf(ctx.config),
): Promise<PurgeReport> {
  const payloadsByTenant = await purgePayloads(
    ctx,
    new Date(now.getTime() - settings.inboxPayloadRetentionDays * DAY_MS),
  );
  const cutoff = new Date(now.getTime() - settings.auditRetentionDays * DAY_MS);
  const chains: ChainPurge[] = [];
  const skipped: { tenant: string; reason: string }[] = [];
  for (const tenant of await listChainTenants(ctx.db)) {
    const result = await purgeChain(ctx, tenant, cutoff);
    if (result && 'reason' in result) {
      skipped.push({ tenant, reason: result.reason });
      ctx.log.error({ tenant, reason: result.reason }, 'audit chain not purged: it does not verify');
    } else if (result) {
      chains.push(result);
    }
  }
  const audits: Promise<void>[] = [];
  for (const [tenant, count] of payloadsByTenant) {
    audits.push(
      ctx.audit.append(
        tenant,
        operatorAction({
          actor: SYSTEM_RETENTION,
          action: 'purge',
          target: 'inbox',
          description: `payloads of ${count} finished events older than ${settings.inboxPayloadRetentionDays} days removed`,
        }),
      ),
    );
  }
  for (const c of chains) {
    audits.push(
      ctx.audit.append(
        c.tenant,
        operatorAction({
          actor: SYSTEM_RETENTION,
          action: 'purge',
          target: `audit_checkpoint/${c.tenant}/${c.checkpointSeq}`,
          description: `${c.purgedRows} audit rows older than ${settings.auditRetentionDays} days deleted, up to seq ${c.checkpointSeq}`,
        }),
      ),
    );
  }
  await Promise.all(audits);
  const payloadsCleared = [...payloadsByTenant.values()].reduce((a, b) => a + b, 0);
  if (payloadsCleared > 0 || chains.length > 0) {
    ctx.log.info(
      { payloadsCleared, chains: chains.length, auditRows: chains.reduce((a, c) => a + c.purgedRows, 0) },
      'retention purge done',
    );
  }
  return { payloadsCleared, chains, skipped };
}

async function purgePayloads(ctx: Pick<PipelineContext, 'db'>, before: Date): Promise<Map<string, number>> {
  const byTenant = new Map<string, number>();
  for (;;) {
    const cleared = await ctx.db.query<{ tenant: string }>(
      `UPDATE inbox SET payload = NULL, payload_key_id = NULL
       WHERE id IN (SELECT id FROM inbox WHERE state = ANY($1::text[]) AND updated_at < $2 AND payload IS NOT NULL
                    LIMIT ${PAYLOAD_BATCH})
       RETURNING tenant`,
      [[...TERMINAL_STATES], before.toISOString()],
    );
    cleared.forEach((r) => byTenant.set(r.tenant, (byTenant.get(r.tenant) ?? 0) + 1));
    if (cleared.length < PAYLOAD_BATCH) {
      return byTenant;
    }
  }
}

/**
 * Deletes the rows of one chain recorded before `cutoff`, from the oldest end and without holes: up to the row
 * before the first one that must stay (a row committed late may carry an earlier time than the row before it).
 * Verifies the rows to be deleted first: a purge must never erase the evidence of tampering.
 */
async function purgeChain(
  ctx: Pick<PipelineContext, 'db'>,
  tenant: string,
  cutoff: Date,
): Promise<ChainPurge | { reason: string } | undefined> {
  const checkpoint = await tryGetCheckpoint(ctx.db, tenant);
  const [bound] = await ctx.db.query<{ last: number | null }>(
    `SELECT coalesce(
       (SELECT min(seq) - 1 FROM audit_event WHERE tenant = $1 AND recorded >= $2),
       (SELECT max(seq) FROM audit_event WHERE tenant = $1))::float8 AS last`,
    [tenant, cutoff.toISOString()],
  );
  const last = bound?.last ?? null;
  if (last === null || last <= (checkpoint?.seq ?? 0)) {
    return undefined;
  }
  const verdict = await verifyTenant(ctx.db, tenant, { upToSeq: last });
  if (!verdict.ok) {
    return { reason: `${verdict.problem} at seq ${verdict.brokenAtSeq}` };
  }
  return ctx.db.transaction(async (tx) => {
    if (tx.kind === 'postgres') {
      const [lock] = await tx.query<{ ok: boolean }>('SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS ok', [
        PURGE_LOCK,
        tenant,
      ]);
      if (!lock?.ok) {
        return undefined;
      }
    }
    // Read again under the lock: another process may have purged this chain meanwhile.
    const [cp] = await tx.query<{ seq: number | null }>(
      'SELECT max(seq)::float8 AS seq FROM audit_checkpoint WHERE tenant = $1',
      [tenant],
    );
    if ((cp?.seq ?? 0) >= last) {
      return undefined;
    }
    const [row] = await tx.query<{ hash: string }>('SELECT hash FROM audit_event WHERE tenant = $1 AND seq = $2', [
      tenant,
      last,
    ]);
    if (!row) {
      return { reason: `row ${last} to checkpoint is missing` };
    }
    const [{ n } = { n: 0 }] = await tx.query<{ n: number }>(
      'SELECT count(*)::float8 AS n FROM audit_event WHERE tenant = $1 AND seq <= $2',
      [tenant, last],
    );
    await tx.query(
      'INSERT INTO audit_checkpoint (tenant, seq, hash, purged_at, purged_rows) VALUES ($1, $2, $3, now(), $4)',
      [tenant, last, row.hash, n],
    );
    // The trigger lets this delete through only in a transaction that says it is the purge, and only up to a
    // checkpoint: the one just recorded.
    await tx.query("SET LOCAL jeugdbrug.audit_purge = 'on'");
    await tx.query('DELETE FROM audit_event WHERE tenant = $1 AND seq <= $2', [tenant, last]);
    return { tenant, purgedRows: n, checkpointSeq: last };
  });
}

/**
 * Runs `purgeExpired` now and then every `intervalMs` (daily by default). Returns a stop function that cancels the
 * timer and resolves once a purge in progress has finished, so shutdown can close the database after it.
 */
export function startRetention(
  ctx: Pick<PipelineContext, 'db' | 'audit' | 'config' | 'log'>,
  intervalMs: number = retentionSettingsOf(ctx.config).intervalMs,
): () => Promise<void> {
  let running: Promise<unknown> = Promise.resolve();
  let stopped = false;
  const run = (): void => {
    if (stopped) {
      return;
    }
    running = running
      .then(() => (stopped ? undefined : purgeExpired(ctx)))
      .catch((err: Error) => ctx.log.warn(errorFields(err), 'retention purge failed'));
  };
  const first = setTimeout(run, 0);
  const timer = setInterval(run, intervalMs);
  first.unref();
  timer.unref();
  return async () => {
    stopped = true;
    clearTimeout(first);
    clearInterval(timer);
    await running;
  };
}
