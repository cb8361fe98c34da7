import { OperationOutcomeError } from '@medplum/core';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { rejectUnstorableBody, rejectUnstorableText } from '../../../src/http/text-guard';

/** What the guard names for a request with this URL and parsed JSON body: the 400's expression, or 'passed'. */
function verdict(guard: RequestHandler, body: unknown, url = '/policy/v1/$explain'): string {
  const req = { originalUrl: url, body, is: () => false } as unknown as Request;
  let passed = false;
  try {
    guard(
      req,
      {} as Response,
      (() => {
        passed = true;
      }) as NextFunction,
    );
  } catch (err) {
    if (err instanceof OperationOutcomeError) {
      return err.outcome.issue?.[0]?.expression?.[0] ?? 'no expression';
    }
    throw err;
  }
  return passed ? 'passed' : 'not passed';
}

const NUL = '\u0000';

describe('the check that every text a request brings can be stored', () => {
  it.each([
    ['a clean body', { practice: '01234567', child: { bsn: '123456782' }, guardians: [{ id: 'g1' }] }, 'passed'],
    ['a string in an array in an object', { guardians: [{ id: 'g1' }, { id: `g${NUL}` }] }, 'body.guardians[1].id'],
    ['a field name', { child: { [`b${NUL}sn`]: '1' } }, 'body.child (a field name)'],
    ['a lone surrogate at the top', { purpose: 'x\uD83D' }, 'body.purpose'],
    ['the body itself', `${NUL}`, 'body'],
    ['the first in document order', { a: [`${NUL}`], b: `${NUL}` }, 'body.a[0]'],
    ['a field name before its value', { [`k${NUL}`]: `${NUL}` }, 'body (a field name)'],
  ])('names %s', (_what, body, named) => {
    expect(verdict(rejectUnstorableText(), body)).toBe(named);
    expect(verdict(rejectUnstorableBody(), body)).toBe(named);
  });

  it('refuses a body nested deeper than it walks', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 150; i++) {
      deep = { a: deep };
    }
    expect(verdict(rejectUnstorableBody(), deep)).toBe('body');
  });

  it('checks the URL before authentication, and the body alone once it is read after it', () => {
    expect(verdict(rejectUnstorableText(), undefined, '/his/v1/events/%00')).toBe(
      'path segment 4 (after /his/v1/events)',
    );
    expect(verdict(rejectUnstorableText(), undefined, '/fhir/Task?status=%00')).toBe('status');
    expect(verdict(rejectUnstorableBody(), { a: 'b' }, '/fhir/Task?status=%00')).toBe('passed');
  });
});
