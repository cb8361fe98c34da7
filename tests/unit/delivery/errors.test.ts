import { isDestinationFailure, isRetryableStatus, parseRetryAfter } from '../../../src/contracts/delivery-errors';

describe('failure classification', () => {
  it.each([
    [408, true],
    [429, true],
    [500, true],
    [502, true],
    [503, true],
    // The route is missing or wrong (a gateway without the channel, an app being redeployed), not the message.
    [404, true],
    [405, true],
    [410, true],
    [501, true],
    [400, false],
    [401, false],
    [409, false],
    [422, false],
  ])('HTTP %i is retryable: %s', (status, retryable) => {
    expect(isRetryableStatus(status)).toBe(retryable);
  });

  it('retries a 409 only when it answers a repeat: the receiver is still processing the earlier attempt', () => {
    expect(isRetryableStatus(409, { repeat: true })).toBe(true);
    expect(isRetryableStatus(409, { repeat: false })).toBe(false);
    // A repeat changes nothing for the other answers about the message.
    expect(isRetryableStatus(422, { repeat: true })).toBe(false);
    expect(isRetryableStatus(400, { repeat: true })).toBe(false);
  });

  it.each([
    ['120', 120_000],
    ['0', 0],
    ['Wed, 21 Oct 2015 07:28:30 GMT', 30_000],
    ['Wed, 21 Oct 2015 07:27:00 GMT', 0],
    ['soon', undefined],
    [null, undefined],
  ])('reads Retry-After %s as %s ms', (value, ms) => {
    expect(parseRetryAfter(value, Date.parse('Wed, 21 Oct 2015 07:28:00 GMT'))).toBe(ms);
  });

  it.each([
    [{ name: 'RetryableDeliveryError' }, true],
    [{ name: 'RetryableDeliveryError', status: 503 }, true],
    [{ name: 'RetryableDeliveryError', status: 404 }, true],
    [{ name: 'RetryableDeliveryError', status: 410 }, true],
    // A 409 to a repeat says the receiver is busy with the first attempt: it is working, not failing.
    [{ name: 'RetryableDeliveryError', status: 409 }, false],
    [{ name: 'PermanentDeliveryError', status: 401 }, true],
    [{ name: 'PermanentDeliveryError', status: 403 }, true],
    [{ name: 'PermanentDeliveryError' }, true],
    [{ name: 'PermanentDeliveryError', status: 422 }, false],
    [{ name: 'PermanentDeliveryError', status: 400 }, false],
    [{ name: 'TypeError' }, false],
  ])('%j counts towards pausing the destination: %s', (err, counts) => {
    expect(isDestinationFailure(err)).toBe(counts);
  });
});
