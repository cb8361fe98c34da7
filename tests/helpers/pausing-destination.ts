import type { DestinationStatus } from '../../src/reports/destination-status/destination-status';
import { useDeliveryApp, type Harness } from '../unit/delivery/support/adapter-contract';
import { buildDestination } from './builders';

/**
 * A delivery app whose FHIR destination `gm0226` pauses after 3 failures in a row and is probed every
 * `probeIntervalMs`, with many quick retries: only a pause (not exhausted retries, not a backoff) explains jobs that
 * stop being tried. `status()` is its destination status as an operator reads it.
 */
export function usePausingDestination(probeIntervalMs: number): {
  h: Harness;
  status: () => Promise<DestinationStatus>;
} {
  const h = useDeliveryApp({
    destination: (r) =>
      buildDestination(r.url('/fhir'), {
        pauseAfterFailures: 3,
        probeIntervalMs,
        // A send held at the receiver (destination-half-open's trial) stays one send while the test holds it: the
        // one second this was let a loaded machine time the trial out. And a job lock that lapses in an event-loop
        // stall of a second or two (JOB_LOCK_MS 2000 in tests) would hand it to another worker slot, to send again.
        timeoutMs: 60_000,
        retry: { maxAttempts: 50, backoffBaseMs: 50, backoffMaxMs: 200 },
      }),
    env: { JOB_LOCK_MS: '30000' },
  });
  const status = async (): Promise<DestinationStatus> => {
    const res = await h.app.request('/admin/v1/destinations/gm0226/status', { key: 'operator' });
    if (res.status !== 200) {
      throw new Error(`destination status: HTTP ${res.status}`);
    }
    return (await res.json()) as DestinationStatus;
  };
  return { h, status };
}
