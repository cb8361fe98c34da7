import { OperationOutcomeError } from '@medplum/core';
import { queueFull, serviceUnavailable } from '../../../src/kernel/fhir/outcomes';
import { CONNECTION_WAIT_TIMEOUT, DependencyUnavailableError } from '../../../src/kernel/outage';
import { intakeRefusalOf } from '../../../src/http/intake-refusals';

/** An error as pg raises it for a server that went away (SQLSTATE 57P01: admin shutdown). */
const pgShutdown = Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' });

describe('which intake refusal a failed request is', () => {
  it.each([
    ['POST', '/his/v1/events', new DependencyUnavailableError('database', 'no answer'), ['his-events', 'database']],
    ['POST', '/his/v1/events?dialect=csv', pgShutdown, ['his-events', 'database']],
    [
      'POST',
      '/his/v1/events',
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' }),
      ['his-events', 'database'],
    ],
    ['POST', '/his/v1/events', new Error(CONNECTION_WAIT_TIMEOUT), ['his-events', 'database-busy']],
    [
      'POST',
      '/his/v1/events',
      new DependencyUnavailableError('redis', 'rate limit: no answer'),
      ['his-events', 'redis'],
    ],
    [
      'POST',
      '/his/v1/events',
      Object.assign(new Error('Reached the max retries per request limit'), { name: 'MaxRetriesPerRequestError' }),
      ['his-events', 'redis'],
    ],
    ['POST', '/his/v1/events', new OperationOutcomeError(queueFull('full')), ['his-events', 'queue-full']],
    [
      'POST',
      '/his/v1/events',
      new OperationOutcomeError(serviceUnavailable('issuer key set')),
      ['his-events', 'other'],
    ],
    [
      'POST',
      '/municipality/v1/referrals/urn%3Aagb%3A01234567%3Areferral%7Cr-1/status',
      pgShutdown,
      ['referral-status', 'database'],
    ],
    ['POST', '/fhir/Task', pgShutdown, ['referral-status', 'database']],
    ['POST', '/municipality/v1/trajectories/events', pgShutdown, ['trajectory-events', 'database']],
  ])('%s %s failing with %p: %p', (method, url, err, [route, reason]) => {
    expect(intakeRefusalOf(method, url, err)).toEqual({ route, reason });
  });

  it.each([
    // Not intake: a read, or another route.
    ['GET', '/his/v1/events', pgShutdown],
    ['GET', '/fhir/Task', pgShutdown],
    ['POST', '/admin/v1/dead-letters/replay', pgShutdown],
    ['POST', '/fhir/Task/_search', pgShutdown],
    ['POST', '/his/v1/events/extra', pgShutdown],
    // Intake, but not refused for a cause of jeugdbrug's own: the request's fault.
    [
      'POST',
      '/his/v1/events',
      new OperationOutcomeError({ resourceType: 'OperationOutcome', id: 'bad-request', issue: [] }),
    ],
    ['POST', '/his/v1/events', new Error('a bug')],
  ])('%s %s is no intake refusal', (method, url, err) => {
    expect(intakeRefusalOf(method, url, err)).toBeUndefined();
  });
});
