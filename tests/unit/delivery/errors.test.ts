import http from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  isDestinationFailure,
  isRetryableStatus,
  mayHaveReachedReceiver,
  networkFailureOf,
  neverSentError,
  parseRetryAfter,
  PermanentDeliveryError,
  RetryableDeliveryError,
} from '../../../src/contracts/delivery-errors';
import { deliverRequest } from '../../../mappings/municipality/shared/transport';
import { buildDestination } from '../../helpers/builders';

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

  it.each<[string, boolean, RetryableDeliveryError]>([
    ['no answer (a timeout, a connection lost)', true, new RetryableDeliveryError('timeout')],
    ['the answer lost while it was read', true, new RetryableDeliveryError('connection lost', 200)],
    ['a 500', true, new RetryableDeliveryError('HTTP 500', 500)],
    ['a 502', true, new RetryableDeliveryError('HTTP 502', 502)],
    ['a 504', true, new RetryableDeliveryError('HTTP 504', 504)],
    ['a 409 to a repeat (busy with the first copy)', true, new RetryableDeliveryError('HTTP 409', 409)],
    ['a 408', false, new RetryableDeliveryError('HTTP 408', 408)],
    ['a 429', false, new RetryableDeliveryError('HTTP 429', 429)],
    // Unavailable: the receiver (or the balancer before it) did not take the request in (RFC 9110 15.6.4).
    ['a 503', false, new RetryableDeliveryError('HTTP 503', 503)],
    ['a 404 (the route is missing)', false, new RetryableDeliveryError('HTTP 404', 404)],
    ['a 501', false, new RetryableDeliveryError('HTTP 501', 501)],
    ['no connection', false, neverSentError('network error: ECONNREFUSED')],
  ])('after %s, the delivery may have reached the receiver: %s', (_, may, failure) => {
    expect(mayHaveReachedReceiver(failure)).toBe(may);
  });

  it.each([
    // No connection was made: nothing of the request was written.
    ['ECONNREFUSED', 'never-left'],
    ['ENOTFOUND', 'never-left'],
    ['EAI_AGAIN', 'never-left'],
    ['EHOSTUNREACH', 'never-left'],
    ['ENETUNREACH', 'never-left'],
    ['UND_ERR_CONNECT_TIMEOUT', 'never-left'],
    // The TLS handshake failed, which comes before the request.
    ['CERT_HAS_EXPIRED', 'never-left'],
    ['CERT_NOT_YET_VALID', 'never-left'],
    ['CERT_REVOKED', 'never-left'],
    ['CERT_UNTRUSTED', 'never-left'],
    ['CERT_REJECTED', 'never-left'],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'never-left'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'never-left'],
    ['UNABLE_TO_GET_ISSUER_CERT', 'never-left'],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'never-left'],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'never-left'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'never-left'],
    ['ERR_TLS_HANDSHAKE_TIMEOUT', 'never-left'],
    ['ERR_SSL_WRONG_VERSION_NUMBER', 'never-left'],
    // Connected: the request may have been written before the exchange broke off.
    ['ECONNRESET', 'may-have-left'],
    ['ECONNABORTED', 'may-have-left'],
    ['ETIMEDOUT', 'may-have-left'],
    ['EPIPE', 'may-have-left'],
    ['UND_ERR_SOCKET', 'may-have-left'],
    ['UND_ERR_HEADERS_TIMEOUT', 'may-have-left'],
    ['UND_ERR_BODY_TIMEOUT', 'may-have-left'],
    ['UND_ERR_CLOSED', 'may-have-left'],
    // Not a network error's code: an unexpected error from an adapter with it is the adapter's own fault.
    ['ERR_INVALID_ARG_TYPE', undefined],
    ['EACCES', undefined],
  ])('a network error %s: the request %s', (code, outcome) => {
    expect(networkFailureOf(code)).toBe(outcome);
  });

  /** The failure `deliverRequest` throws for a POST to `url`. */
  const failureOf = async (url: string): Promise<RetryableDeliveryError> => {
    const err = await deliverRequest(buildDestination(url), { method: 'POST', url, headers: {}, body: '{}' }, 2_000)
      .then(() => undefined)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableDeliveryError);
    return err as RetryableDeliveryError;
  };

  it('knows a refused connection never reached the receiver, and a connection dropped after the request may have', async () => {
    const server = http.createServer((req) => req.socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`;
    try {
      expect(mayHaveReachedReceiver(await failureOf(url))).toBe(true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    const refused = await failureOf(url);
    expect(refused.message).toContain('ECONNREFUSED');
    expect(mayHaveReachedReceiver(refused)).toBe(false);
  });

  it("keeps a redirect's Location with its answer: where the receiver moved (report-xmuni 5)", async () => {
    const server = http.createServer((_, res) => {
      res.writeHead(301, { location: 'http://127.0.0.1:1/isam2/aanmeldingen?x=1' }).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/isam`;
    try {
      const err = await deliverRequest(buildDestination(url), { method: 'POST', url, headers: {}, body: '{}' }, 2_000)
        .then(() => undefined)
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PermanentDeliveryError);
      expect((err as PermanentDeliveryError).answer?.location).toBe('http://127.0.0.1:1/isam2/aanmeldingen?x=1');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('knows a TLS handshake that failed before the request was written never reached the receiver', async () => {
    // A receiver that speaks plain HTTP where the destination says https: the handshake fails on its first answer.
    const server = http.createServer((_, res) => res.end());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const failure = await failureOf(`https://127.0.0.1:${(server.address() as AddressInfo).port}/fhir`);
      expect(failure.message).toBe('network error: ERR_SSL_WRONG_VERSION_NUMBER');
      expect(mayHaveReachedReceiver(failure)).toBe(false);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
