import { agreementSchema } from '../../../src/policy/agreement';
import { decide } from '../../../src/policy/decide';
import { buildAgreement, buildConsent, buildFacts, buildRequest, MOTHER, FATHER } from './builders';

/** The reverse direction: the same engine, with the agreement's `toPractice` allow-list instead of `dataClasses`. */

const reverseAgreement = (legalBasis: 'consent' | 'public-task' = 'public-task') =>
  buildAgreement({
    legalBasis,
    professional: { employer: 'social-team', systemOfRecord: 'municipality' },
    toPractice: {
      purpose: 'contact-registration',
      dataClasses: {
        EpisodeOfCare: { fields: ['status', 'period'] },
        Encounter: { fields: ['status', 'class'] },
      },
    },
  });

const toPractice = buildRequest({
  purpose: 'contact-registration',
  dataClasses: ['EpisodeOfCare', 'Encounter'],
  direction: 'to-practice',
});

describe('deciding what goes from the municipality to the practice', () => {
  it('permits with the toPractice allow-list, not the one towards the municipality', () => {
    const decision = decide(toPractice, buildFacts({ agreements: [reverseAgreement()] }));
    expect(decision.effect).toBe('permit');
    expect(decision.obligations.allowedFields).toEqual({
      EpisodeOfCare: ['status', 'period'],
      Encounter: ['status', 'class'],
    });
  });

  it('denies a data class only the other direction covers', () => {
    const decision = decide(
      { ...toPractice, dataClasses: ['ServiceRequest'] },
      buildFacts({ agreements: [reverseAgreement()] }),
    );
    expect(decision.effect).toBe('deny');
    expect(decision.reasons[0]?.code).toBe('class-not-covered');
    expect(decision.reasons[0]?.detail).toMatch(/towards the practice/);
  });

  it('denies everything towards the practice under an agreement without toPractice', () => {
    const decision = decide(toPractice, buildFacts({ agreements: [buildAgreement({ legalBasis: 'public-task' })] }));
    expect(decision.effect).toBe('deny');
    expect(decision.reasons[0]?.code).toBe('class-not-covered');
  });

  it('applies the consent rules of the agreement’s legal basis in this direction too', () => {
    const facts = (consents: ReturnType<typeof buildConsent>[]) =>
      buildFacts({ agreements: [reverseAgreement('consent')], consents });
    const classes = ['EpisodeOfCare', 'Encounter'] as const;
    const purposes = ['contact-registration'] as const;
    expect(decide(toPractice, facts([])).effect).toBe('deny');
    const both = [
      buildConsent({ id: 'c-mother', by: MOTHER, purposes: [...purposes], classes: [...classes] }),
      buildConsent({ id: 'c-father', by: FATHER, purposes: [...purposes], classes: [...classes] }),
    ];
    expect(decide(toPractice, facts(both)).effect).toBe('permit');
  });

  it('refuses an agreement with toPractice whose system of record is the HIS', () => {
    const parsed = agreementSchema.safeParse({
      ...reverseAgreement(),
      professional: { employer: 'practice', systemOfRecord: 'his' },
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['toPractice']);
  });

  it('refuses a toPractice purpose the agreement does not name', () => {
    const parsed = agreementSchema.safeParse({
      ...reverseAgreement(),
      toPractice: { purpose: 'monitoring', dataClasses: {} },
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['toPractice', 'purpose']);
  });

  it('refuses toPractice purpose monitoring, also where the agreement names it: nothing identified goes under it', () => {
    const parsed = agreementSchema.safeParse({
      ...reverseAgreement(),
      purposes: ['referral', 'contact-registration', 'monitoring'],
      toPractice: { purpose: 'monitoring', dataClasses: {} },
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['toPractice', 'purpose']);
    expect(parsed.error?.issues[0]?.message).toMatch(/anonymised figures/);
  });
});
