import type { Job } from 'bullmq';
import { processDeliverJob } from '../../src/event/deliver';
import { processMapJob } from '../../src/event/map';
import type { DeliverJobData } from '../../src/event/queues';
import { countRoundTrips, type RoundTrips } from '../helpers/round-trips';
import { useStageApp } from '../helpers/stage-app';

// The round trips of the map and deliver stages per event, counted in process (tests/helpers/round-trips.ts): what
// the machine's load cannot move, unlike CPU per event. The stages are called directly (ROLE=api: no worker takes the
// jobs), so BullMQ's own scripts around a job (moveToActive, moveToFinished) are not among them; the bench's
// per-event-counts.ts counts those. A change that adds a round trip to either stage fails here.

describe('round trips of the map and deliver stages, per event', () => {
  const stage = useStageApp();
  const { receive } = stage;

  const map = (inboxId: string) => processMapJob(stage.app.rt.ctx, { inboxId, traceId: 'round-trips-test' });
  const deliver = (deliveryId: string) =>
    processDeliverJob(stage.app.rt.ctx, { data: { deliveryId, traceId: 'round-trips-test' } } as Job<DeliverJobData>);

  async function deliveriesOf(ids: readonly string[]): Promise<string[]> {
    const rows = await stage.app.rt.ctx.db.query<{ id: string }>(
      'SELECT id FROM delivery WHERE inbox_id = ANY($1::uuid[])',
      [ids],
    );
    return rows.map((r) => r.id);
  }

  /** Runs `fn` counting; the tally of what it sent. */
  async function counted(fn: () => Promise<unknown>): Promise<RoundTrips> {
    const trips = countRoundTrips();
    try {
      await fn();
    } finally {
      trips.stop();
    }
    return trips;
  }

  const total = (t: RoundTrips, to: 'postgres' | 'redis') => t.trips.filter((r) => r.to === to).length;

  it('one referral alone: 5 statements and 1 Redis command to map it, 7 statements and 3 commands to deliver it', async () => {
    const [id] = await receive(1);
    const mapped = await counted(() => map(id!));
    // The event, the child's consents, the monitoring fact, the decision's audit, the decision with its delivery;
    // the deliver job added.
    expect(total(mapped, 'postgres')).toBe(5);
    expect(mapped.tally((t) => t.to === 'redis')).toEqual({ 'redis addStandardJob': 1 });

    const [delivery] = await deliveriesOf([id!]);
    const delivered = await counted(() => deliver(delivery!));
    // The delivery's work, the child's consents (decision), its audit, the consents again right before the send, the
    // disclosure's audit, the disclosure's record, and the check of the consents with the finish.
    expect(total(delivered, 'postgres')).toBe(7);
    // The sent-once note read before the send, written after it and marked audited (its drop rides on a later command).
    expect(total(delivered, 'redis')).toBe(3);
  });

  it('twenty referrals at once: each step one statement for the group, the next stage’s jobs in one call', async () => {
    const ids = await receive(20);
    const mapped = await counted(() => Promise.all(ids.map(map)));
    // The same five steps, each made once for the group; the monitoring facts and audits in at most a few groups.
    expect(total(mapped, 'postgres')).toBeLessThanOrEqual(10);
    // One addBulk: its jobs go in one pipeline (one round trip), each job still added by its own script.
    expect(mapped.trips.filter((t) => t.to === 'redis').map((t) => [t.what, t.commands])).toEqual([
      ['addStandardJob', 20],
    ]);

    const deliveries = await deliveriesOf(ids);
    const delivered = await counted(() => Promise.all(deliveries.map(deliver)));
    // After the sends the jobs no longer move together (each resumes when its receiver answers), so the groups are
    // smaller and how small depends on timing: at most two of each per delivery, against seven and three alone.
    expect(total(delivered, 'postgres')).toBeLessThanOrEqual(2 * 20);
    expect(total(delivered, 'redis')).toBeLessThanOrEqual(2 * 20);
    // Read before the sends, together: the deliveries' work and the children's consents in a statement or two each.
    const reads = (what: RegExp) => delivered.trips.filter((t) => t.to === 'postgres' && what.test(t.what)).length;
    expect(reads(/^SELECT d\.\*/)).toBeLessThanOrEqual(2);
  });
});
