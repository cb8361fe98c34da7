import { OperationOutcomeError } from '@medplum/core';
import { z } from 'zod';
import { parseOrThrow } from '../../../src/kernel/zod-outcome';

describe('parseOrThrow on a body that is not there', () => {
  it('says the body is empty and what to send, not "not undefined"', () => {
    let thrown: unknown;
    try {
      parseOrThrow(z.object({ status: z.string() }), undefined);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(OperationOutcomeError);
    expect((thrown as OperationOutcomeError).outcome.issue).toEqual([
      expect.objectContaining({ details: { text: 'the body is empty: send a JSON object' }, expression: ['body'] }),
    ]);
  });

  it('still names the JSON type of a value that is there', () => {
    expect(() => parseOrThrow(z.object({ n: z.number() }), { n: 'x' })).toThrow(/must be a JSON number, not string/);
  });
});
