import { OperationOutcomeError } from '@medplum/core';
import { assertNoQuery } from '../../../src/kernel/zod-outcome';

/** A route that takes no query parameter: a URL without `?` is not parsed for one; any parameter is a 400 naming it. */
describe('assertNoQuery', () => {
  /** A request whose query, if read, is `query`; counts the reads. */
  function request(url: string, query: Record<string, unknown>): { url: string; query: unknown; reads: number } {
    const req = {
      url,
      reads: 0,
      get query(): unknown {
        req.reads++;
        return query;
      },
    };
    return req;
  }

  it('passes a URL without a query string without reading the query', () => {
    const req = request('/policy/v1/$explain', {});
    expect(() => assertNoQuery(req)).not.toThrow();
    expect(req.reads).toBe(0);
  });

  it('passes a URL whose query string is empty', () => {
    const req = request('/policy/v1/$explain?', {});
    expect(() => assertNoQuery(req)).not.toThrow();
    expect(req.reads).toBe(1);
  });

  it.each([
    ['a parameter', '/x?dialet=csv', { dialet: 'csv' }, 'dialet'],
    ['a parameter given twice', '/x?a=1&a=2', { a: ['1', '2'] }, 'a'],
  ])('refuses %s with 400 naming it', (_case, url, query, name) => {
    let thrown: unknown;
    try {
      assertNoQuery(request(url, query));
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(OperationOutcomeError);
    const outcome = (thrown as OperationOutcomeError).outcome;
    expect(outcome.id).toBe('bad-request');
    expect(JSON.stringify(outcome.issue)).toContain(`"${name}"`);
  });
});
