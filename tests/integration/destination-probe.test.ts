import { getAdapter } from '../../mappings/municipality/index';
import { buildDestination } from '../helpers/builders';
import { DeliveryReceiver } from '../helpers/delivery-receiver';

/**
 * The probe of a paused destination asks whether a delivery could get through now. A delivery counts 404, 405 and
 * 410 as the route missing at the receiver (retried, towards a pause: contracts/delivery-errors.ts), so the probe
 * may not count the same answer on the same route as "up": the destination would go half-open at every probe, and
 * its trial delivery fail and pause it again.
 */
describe('the HEAD probe of a paused webhook or iSamenleving destination', () => {
  const receiver = new DeliveryReceiver();
  beforeAll(async () => {
    await receiver.start();
  });
  afterAll(async () => {
    await receiver.stop();
  });

  const probe = (adapter: 'webhook' | 'isamenleving') =>
    getAdapter(adapter).probe(
      buildDestination(receiver.url('/api'), {
        adapter,
        auth: adapter === 'webhook' ? { type: 'hmac', secretEnv: 'UNUSED_IN_A_PROBE' } : { type: 'none' },
      }),
      2000,
    );

  it.each([
    [200, true],
    [204, true],
    // HEAD on a route that takes only the POST a delivery sends: the route is there.
    [405, true],
    // The route is missing: every delivery to it would get the same answer.
    [404, false],
    [410, false],
    [401, false],
    [403, false],
    [429, false],
    [503, false],
  ])('answered %i, counts as up: %s', async (status, up) => {
    receiver.probeStatus = status;
    for (const adapter of ['webhook', 'isamenleving'] as const) {
      const result = await probe(adapter);
      expect({ adapter, up: result.up, detail: result.detail }).toEqual({
        adapter,
        up,
        detail: `HEAD HTTP ${status}`,
      });
    }
  });

  it('asks the route a referral is delivered to', async () => {
    receiver.probeStatus = 200;
    await probe('webhook');
    expect(receiver.probes.at(-1)).toEqual(expect.objectContaining({ method: 'HEAD', path: '/api' }));
    // Not the base URL, which an API of several routes may well answer 404.
    await probe('isamenleving');
    expect(receiver.probes.at(-1)).toEqual(expect.objectContaining({ method: 'HEAD', path: '/api/aanmeldingen' }));
  });
});
