import fs from 'node:fs';
import type * as Formats from '../../mappings/municipality/index';
import { buildReferralEvent } from '../helpers/builders';
import { contractDestination, useDeliveryApp } from '../unit/delivery/support/adapter-contract';

/**
 * A destination format whose own code throws (xnewcomer F10): its mapping meets a record it was not written for and
 * throws a TypeError that quotes the child's BSN. Until 6 December that text was kept as the delivery's last error
 * (plain text), logged, shown to the practice, the operator and the console, and retried for about eight hours.
 */
const mockCrash = { bsn: undefined as string | undefined };

jest.mock('../../mappings/municipality/index', () => {
  const actual = jest.requireActual<typeof Formats>('../../mappings/municipality/index');
  return {
    ...actual,
    getAdapter: (name: string) => {
      const adapter = actual.getAdapter(name);
      return {
        ...adapter,
        deliver: (...args: Parameters<typeof adapter.deliver>) => {
          if (mockCrash.bsn) {
            throw new TypeError(`cannot map referral for child ${mockCrash.bsn} born 2012-03-04`);
          }
          return adapter.deliver(...args);
        },
      };
    },
  };
});

describe('an adapter that throws an error of its own', () => {
  const h = useDeliveryApp({
    destination: (r) => contractDestination(r.url('/fhir'), { adapter: 'fhir-rest' }),
  });

  afterEach(() => {
    mockCrash.bsn = undefined;
  });

  it('is a dead letter at once, recorded and shown by class, adapter and place, never by its message', async () => {
    const event = buildReferralEvent();
    const bsn = (event.child as { bsn: string }).bsn;
    mockCrash.bsn = bsn;
    const id = await h.submit(event);
    await h.reachesState(id, 'dead');
    const d = await h.delivery(id);
    expect(d.attempts).toBe(1);
    expect(d.last_error).toMatch(/^unexpected TypeError in adapter fhir-rest at .*adapter-crash\.test\.ts/);
    const view = JSON.stringify(await h.state(id));
    const status = await (await h.app.request('/admin/v1/destinations/gm0226/status', { key: 'operator' })).text();
    const deadLetters = await (await h.app.request('/admin/v1/dead-letters', { key: 'operator' })).text();
    const log = fs.readFileSync(h.app.testEnv.logFile, 'utf8');
    expect(view).toContain('unexpected TypeError in adapter fhir-rest');
    expect(deadLetters).toContain('unexpected TypeError in adapter fhir-rest');
    for (const text of [d.last_error, view, status, deadLetters, log]) {
      expect(text).not.toContain(bsn);
      expect(text).not.toContain('cannot map referral');
    }
    // A fault of the format, not of the receiver: the destination is not counted down towards a pause.
    expect(JSON.parse(status)).toMatchObject({ consecutiveFailures: 0 });

    // Once the format is fixed, the operator's replay delivers it.
    mockCrash.bsn = undefined;
    expect((await h.replay(d.id)).status).toBe(202);
    await h.reachesState(id, 'delivered');
  });
});
