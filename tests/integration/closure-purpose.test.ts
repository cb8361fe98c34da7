import { buildAgreement, buildConsentEvent, buildContactEvent, MUNICIPALITY } from '../helpers/builders';
import { contractDestination, useDeliveryApp } from '../unit/delivery/support/adapter-contract';

/** The day every closure here ends. */
const CLOSED_ON = '2026-11-30';

/** The classes a trajectory's events carry: the child, its guardians, the contact and the trajectory. */
const TRAJECTORY_CLASSES = ['Patient', 'RelatedPerson', 'Encounter', 'EpisodeOfCare'];

/** A fresh child's `trajectory.closed`: the finished EpisodeOfCare with its outcome, the child identified. */
function buildClosureEvent(): Record<string, unknown> {
  const contact = buildContactEvent();
  const closure: Record<string, unknown> = {
    ...contact,
    eventId: `${String(contact.eventId)}-closed`,
    eventType: 'trajectory.closed',
    trajectory: {
      ...(contact.trajectory as Record<string, unknown>),
      closedOn: CLOSED_ON,
      outcome: 'closed-without-referral',
    },
  };
  delete closure.contact;
  return closure;
}

/** The child and its guardian g1 (a 14-year-old: both must) consent, or object, for `purposes`. */
function consentFor(event: Record<string, unknown>, purposes: string[], decision: 'permit' | 'deny' = 'permit') {
  return buildConsentEvent(event, {
    decision,
    givenBy: [{ kind: 'child' }, { kind: 'guardian', guardianId: 'g1' }],
    purposes,
    dataClasses: TRAJECTORY_CLASSES,
  });
}

// Purpose `monitoring` is the anonymised figures (DOMAIN.md): nothing that identifies a child goes out under it. The
// closure of a trajectory is part of the registration the municipality keeps of the trajectory, as a contact that
// carries the same closure is: it is shared under `contact-registration`, and counted under `monitoring`.
describe("a trajectory's closure goes to the municipality as contact registration, never as monitoring", () => {
  const h = useDeliveryApp({
    destination: (r) => contractDestination(r.url('/fhir'), {}),
    agreement: buildAgreement({ legalBasis: 'consent' }),
  });

  async function submitAfterConsent(event: Record<string, unknown>, purposes: string[]): Promise<string> {
    await h.reachesState(await h.submit(consentFor(event, purposes)), 'completed');
    return h.submit(event);
  }

  /** The closed trajectories the monitoring figures count (all of this file's end on the same day). */
  const counted = async () =>
    (
      await h.app.rt.ctx.db.query('SELECT 1 FROM report_trajectory WHERE municipality = $1 AND closed_on = $2::date', [
        MUNICIPALITY,
        CLOSED_ON,
      ])
    ).length;

  it('sends the closure on a consent to contact registration without monitoring, as it sends a contact', async () => {
    const closure = buildClosureEvent();
    const id = await submitAfterConsent(closure, ['contact-registration']);
    await h.reachesState(id, 'delivered');
  });

  it('does not send the closure, the child identified, on a consent to monitoring alone; it is counted', async () => {
    const before = await counted();
    const closure = buildClosureEvent();
    const id = await submitAfterConsent(closure, ['monitoring']);
    await h.reachesState(id, 'denied');
    expect((await h.state(id)).stateReason).toMatch(/consent-purpose-not-covered/);
    expect(await h.app.rt.ctx.db.query('SELECT 1 FROM delivery WHERE inbox_id = $1', [id])).toEqual([]);
    expect(await counted()).toBe(before + 1);
  });

  it('honours an objection to being counted without telling the municipality who objected', async () => {
    const closure = buildClosureEvent();
    const id = await submitAfterConsent(closure, ['contact-registration', 'monitoring']);
    await h.reachesState(id, 'delivered');
    const hits = h.receiver.hits.length;
    const counts = await counted();

    const objection = await h.submit(consentFor(closure, ['monitoring'], 'deny'));
    await h.reachesState(objection, 'completed');
    // No withdrawal notice: the municipality received nothing under `monitoring` that it must stop processing, and a
    // notice naming the child and purpose `monitoring` would tell it that this child objected to being counted.
    expect(await h.app.rt.ctx.db.query('SELECT 1 FROM delivery WHERE inbox_id = $1', [objection])).toEqual([]);
    expect(h.receiver.hits).toHaveLength(hits);
    // Honoured: the child's trajectory has left the figures.
    expect(await counted()).toBe(counts - 1);
  });

  it('still tells the municipality of a closure an earlier build disclosed under monitoring, which it holds', async () => {
    const closure = buildClosureEvent();
    const id = await submitAfterConsent(closure, ['contact-registration', 'monitoring']);
    await h.reachesState(id, 'delivered');
    // As an earlier build recorded the disclosure.
    await h.app.rt.ctx.db.query(
      `UPDATE child_disclosure SET purpose = 'monitoring' WHERE delivery_id = (SELECT id FROM delivery WHERE inbox_id = $1)`,
      [id],
    );
    const objection = await h.submit(consentFor(closure, ['monitoring'], 'deny'));
    await h.reachesState(objection, 'delivered');
  });
});
