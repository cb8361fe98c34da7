import { PermanentDeliveryError, RetryableDeliveryError } from '../../../src/contracts/delivery-errors';
import { asDeliveryFailure } from '../../../src/event/delivery-failure';

const BSN = '123456782';

/** What a destination format's own mapping throws when it meets data it was not written for (xnewcomer F10). */
function mappingCrash(): Error {
  try {
    const fields = { bsn: BSN } as unknown as { child: { name: string } };
    return new TypeError(`cannot map referral for child ${BSN}: ${fields.child.name}`);
  } catch (err) {
    return err as Error;
  }
}

describe('a failure an adapter did not classify itself', () => {
  it('passes our own delivery errors through as they are', () => {
    const retry = new RetryableDeliveryError('HTTP 503', 503);
    const permanent = new PermanentDeliveryError('HTTP 422', 422);
    expect(asDeliveryFailure(retry, 'adapter webhook')).toBe(retry);
    expect(asDeliveryFailure(permanent)).toBe(permanent);
  });

  it('from an adapter is permanent, named by class, adapter and place, never by its message', () => {
    const err = mappingCrash();
    const failure = asDeliveryFailure(err, 'adapter json-webhook');
    expect(failure.name).toBe('PermanentDeliveryError');
    expect(failure.message).toMatch(/^unexpected TypeError in adapter json-webhook at \S/);
    expect(failure.message).toContain('delivery-failure.test.ts');
    expect(failure.message).not.toContain(BSN);
    expect(failure.message).not.toContain('cannot map');
  });

  it.each([
    ['a socket error', Object.assign(new Error(`socket hang up for ${BSN}`), { code: 'ECONNRESET' })],
    [
      'fetch failing',
      new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }) }),
    ],
    ['a timeout', new DOMException(`timed out ${BSN}`, 'TimeoutError')],
    ['an abort', new DOMException('aborted', 'AbortError')],
  ])('from an adapter but of the transport (%s) stays retryable, without its message', (_what, err) => {
    const failure = asDeliveryFailure(err, 'adapter json-webhook');
    expect(failure.name).toBe('RetryableDeliveryError');
    expect(failure.message).toMatch(/^unexpected \w+/);
    expect(failure.message).not.toContain(BSN);
  });

  it('outside the adapter (the database, a decision) stays retryable, without its message', () => {
    const err = Object.assign(new Error(`duplicate key value (bsn)=(${BSN})`), {
      name: 'DatabaseError',
      code: '23505',
    });
    const failure = asDeliveryFailure(err);
    expect(failure.name).toBe('RetryableDeliveryError');
    expect(failure.message).toMatch(/^unexpected DatabaseError \(23505\)/);
    expect(failure.message).not.toContain(BSN);
  });
});
