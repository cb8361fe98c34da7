import type { OperationsFigures } from '../../kernel/metrics';
import type { PipelineContext } from '../../event/context';
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
      const rows = await db.query<{ destination: string; paused_by: string | null; consecutive_failures: number }>(
        'SELECT destination, paused_by, consecutive_failures FROM destination_state',
      );
      const byId = new Map(rows.map((r) => [r.destination, r]));
      // Every configured destination, also one that never failed (and so has no row yet).
      return ctx.registry.destinations.map((d) => ({
        destination: d.id,
        paused: (byId.get(d.id)?.paused_by ?? null) !== null,
        consecutiveFailures: byId.get(d.id)?.consecutive_failures ?? 0,
      }));
    },
    async auditChains() {
      const rows = await db.query<{ tenant: string; seq: number }>(
        'SELECT tenant, seq::float8 AS seq FROM audit_chain_head',
      );
      return rows.map((r) => ({ tenant: r.tenant, length: r.seq }));
    },
  };
}
