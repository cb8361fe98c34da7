import { OperationOutcomeError } from '@medplum/core';
import { conflictField, failField } from '../../../src/kernel/fhir/outcomes';
import { outcomeInWords } from '../../../src/http/console/outcome-message';

const words = (err: unknown, lang: 'nl' | 'en' = 'nl') => String(outcomeInWords(lang, err));

describe('outcomeInWords', () => {
  // The export of a chain that contradicts its signed history is a 409 at `tenant`: until 6 December the console said
  // the auditor had chosen no chain at all ("Keten: geen keten"), the one moment the console must be clear.
  it('says a 409 at the chain is a chain that contradicts what was signed, not a chain that is no chain', () => {
    const err = new OperationOutcomeError(conflictField('the chain was rewritten or cut since; not signed', 'tenant'));
    expect(words(err)).toContain('klopt niet met wat eerder is ondertekend');
    expect(words(err)).not.toContain('geen keten');
    expect(words(err, 'en')).toContain('contradicts what was signed before');
  });

  it('still says a chain that is no chain when the chain field is invalid', () => {
    let err: unknown;
    try {
      failField('not a chain', 'tenant');
    } catch (thrown) {
      err = thrown;
    }
    expect(words(err)).toContain('geen keten');
  });
});
