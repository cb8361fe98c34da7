import type { OperationsFigures } from '../../kernel/metrics';
import type { PipelineContext } from '../../event/context';
import { practiceReceiver } from '../../event/practice-send';
import { eventStateCounts } from '../../event/state-counts';
import { countDeadLetters } from '../dead-letters/dead-letters';

/** The read model behind the scrape-time gauges of /metrics: counts only, grouped by state, destination or chain. */
export function operationsFigures(ctx: Pick<PipelineContext, 'db' | 'registry'>): OperationsFigures {
  const { db } = ctx;
  return {
    eventsByState: () => eventStateCounts(db),
    async deadLetters() {
      const { deliveries, toPractices } = await countDeadLetters(db);
      return [
        ...[...deliveries].map(([destination, count]) => ({ destination, count })),
        ...[...toPractices].map(([tenant, count]) => ({ destination: practiceReceiver(tenant), count })),
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
