import type { OperationsFigures, PauseCause } from '../../kernel/metrics';
import { listFullVerifications } from '../../audit/full-verify';
import type { PipelineContext } from '../../event/context';
import { pendingToUnconfiguredDestinations } from '../../event/event-store';
import { practiceReceiver } from '../../event/practice-send';
import { eventStateCounts } from '../../event/state-counts';
import { EVENT_STATES } from '../../event/states';
import { countDeadLetters } from '../dead-letters/dead-letters';

/** The read model behind the scrape-time gauges of /metrics: counts only, grouped by state, destination or chain. */
export function operationsFigures(ctx: Pick<PipelineContext, 'db' | 'registry'>): OperationsFigures {
  const { db } = ctx;
  return {
    // Every state and every known receiver has a series, at 0 when it has nothing: an alert on `== 0` (or on a rise
    // from 0) gets an answer instead of "no data".
    async eventsByState() {
      const counts = new Map((await eventStateCounts(db)).map((r) => [r.state, r.count]));
      return [...new Set([...EVENT_STATES, ...counts.keys()])].map((state) => ({
        state,
        count: counts.get(state) ?? 0,
      }));
    },
    async deadLetters() {
      const { deliveries, toPractices } = await countDeadLetters(db);
      const practices = new Set([
        ...ctx.registry.practices.map((p) => p.agb),
        ...ctx.registry.agreements.map((a) => a.practice.agb),
        ...toPractices.keys(),
      ]);
      return [
        ...[...new Set([...ctx.registry.destinations.map((d) => d.id), ...deliveries.keys()])].map((destination) => ({
          destination,
          count: deliveries.get(destination) ?? 0,
        })),
        ...[...practices].map((tenant) => ({
          destination: practiceReceiver(tenant),
          count: toPractices.get(tenant) ?? 0,
        })),
      ];
    },
    async destinationHealth() {
      const rows = await db.query<{
        destination: string;
        paused_by: PauseCause | null;
        consecutive_failures: number;
      }>('SELECT destination, paused_by, consecutive_failures FROM destination_state');
      const byId = new Map(rows.map((r) => [r.destination, r]));
      // Every configured destination, also one that never failed (and so has no row yet).
      return ctx.registry.destinations.map((d) => ({
        destination: d.id,
        pausedBy: byId.get(d.id)?.paused_by ?? null,
        consecutiveFailures: byId.get(d.id)?.consecutive_failures ?? 0,
      }));
    },
    // One lookup per configured destination, each the first entry of its part of delivery_pending_age (migration
    // 059): the cost does not grow with the backlog it measures.
    async pendingDeliveryAges() {
      const ids = ctx.registry.destinations.map((d) => d.id);
      const rows = await db.query<{ destination: string; seconds: number }>(
        `SELECT d.destination,
                coalesce(extract(epoch FROM now() - (SELECT min(pending_since) FROM delivery
                  WHERE state = 'pending' AND destination = d.destination)), 0)::float8 AS seconds
           FROM unnest($1::text[]) AS d(destination)`,
        [ids],
      );
      return rows.map((r) => ({ destination: r.destination, seconds: Math.max(0, r.seconds) }));
    },
    async unconfiguredPendingDeliveries() {
      const gone = await pendingToUnconfiguredDestinations(
        db,
        ctx.registry.destinations.map((d) => d.id),
      );
      return gone.map((g) => ({ destination: g.destination, count: g.pending, seconds: g.oldestSeconds }));
    },
    // The first entry of each state's part of inbox_open (state, updated_at).
    async undecidedEventAge() {
      const [row] = await db.query<{ seconds: number }>(
        `SELECT coalesce(extract(epoch FROM now() - least(
                  (SELECT min(updated_at) FROM inbox WHERE state = 'received'),
                  (SELECT min(updated_at) FROM inbox WHERE state = 'mapped'))), 0)::float8 AS seconds`,
      );
      return Math.max(0, row?.seconds ?? 0);
    },
    async auditChains() {
      const rows = await db.query<{ tenant: string; seq: number }>(
        'SELECT tenant, seq::float8 AS seq FROM audit_chain_head',
      );
      return rows.map((r) => ({ tenant: r.tenant, length: r.seq }));
    },
    async auditFullVerifications() {
      return (await listFullVerifications(db)).map((v) => ({
        tenant: v.tenant,
        verifiedAt: v.verifiedAt.getTime() / 1000,
        ok: v.ok,
      }));
    },
  };
}
