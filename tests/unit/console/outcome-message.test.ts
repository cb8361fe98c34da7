import { OperationOutcomeError } from '@medplum/core';
import { conflictField, failField } from '../../../src/kernel/fhir/outcomes';
import { outcomeInWords } from '../../../src/http/console/outcome-message';
import { refusalCoding } from '../../../src/audit/refusal-codes';
import { periodOfRange } from '../../../src/http/monitoring-query';

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

  // The export is refused for two causes, and the console said the first for both: a chain known broken (a row's
  // column changed in an older part, found by verifying it) was called "rewritten or cut", which sends the auditor
  // looking for the wrong thing. The API's 409 codes say which (they were read from its English text, until
  // auditconsole); the words follow them.
  it('says a chain known broken (a changed row) apart from one that contradicts its signed history', () => {
    const err = new OperationOutcomeError(
      conflictField(
        'The chain is known broken at row 7: content does not match its hash; it is exported again once GET ' +
          '/audit/v1/verify finds it intact, or once an auditor acknowledges the break (POST /audit/v1/acknowledge), ' +
          'with the break stated',
        'tenant',
        refusalCoding('chain-known-broken', 'content does not match its hash'),
      ),
    );
    expect(words(err)).toContain('Keten: de keten is gebroken: een rij is gewijzigd');
    expect(words(err)).not.toContain('herschreven of ingekort');
    expect(words(err, 'en')).toContain('Chain: the chain is broken: a row was changed');
    // Known broken because rows were cut: said as rewritten or cut.
    const cut = new OperationOutcomeError(
      conflictField(
        'The chain is known broken at row 7: rows 7 to 9 are missing (the chain head is at 12); it is exported ' +
          'again once GET /audit/v1/verify finds it intact, or once an auditor acknowledges the break',
        'tenant',
        refusalCoding('chain-known-broken', 'rows 7 to 9 are missing (the chain head is at 12)'),
      ),
    );
    expect(words(cut)).toContain('herschreven of ingekort');
  });

  // The words followed the English start of the API's text: reworded, a changed row was said as rewritten or cut.
  it('keys on the codes of the answer, not on the wording of its text', () => {
    const reworded = new OperationOutcomeError(
      conflictField(
        'Export refused: this chain was found broken (row 7, its content changed)',
        'tenant',
        refusalCoding('chain-known-broken', 'content does not match its hash'),
      ),
    );
    expect(words(reworded)).toContain('een rij is gewijzigd');
    expect(words(reworded, 'en')).toContain('a row was changed');
    // The text of a known break without its codes is not read: said as the default, a contradicted signed history.
    const uncoded = new OperationOutcomeError(
      conflictField(
        'The chain is known broken at row 7: content does not match its hash; it is exported again',
        'tenant',
      ),
    );
    expect(words(uncoded)).not.toContain('een rij is gewijzigd');
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

// A reversed range said "Tot en met: geen geldige datum (JJJJ-MM-DD)" for a date that is valid, and a missing end
// said the same of a date not given: the reason was only in the technical line.
describe('outcomeInWords for a range of dates', () => {
  const thrown = (f: () => unknown): unknown => {
    try {
      f();
    } catch (err) {
      return err;
    }
    throw new Error('did not throw');
  };

  it('says a reversed range is reversed, not that a valid date is invalid', () => {
    const err = thrown(() => periodOfRange('2026-09-30', '2026-07-01'));
    expect(words(err)).toMatch(/^Tot en met: ligt vóór Van\./);
    expect(words(err)).not.toContain('geen geldige datum');
    expect(words(err, 'en')).toMatch(/^Up to and including: is before From\./);
  });

  it('says a missing end is missing', () => {
    const err = thrown(() => periodOfRange('2026-07-01', undefined));
    expect(words(err)).toMatch(/^Tot en met: vul dit in\./);
    expect(words(err, 'en')).toMatch(/^Up to and including: fill this in\./);
  });

  it('still says a date that is no date is no date', () => {
    expect(words(thrown(() => periodOfRange('2026-02-30', '2026-03-01')))).toMatch(/^Van: geen geldige datum/);
  });
});
