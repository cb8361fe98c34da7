import { DECISION_REASON_CODES, type Decision, type DecisionReason } from '../../../src/policy/types';
import { decisionText } from '../../../src/policy/reason-words';
import { html, SafeHtml } from '../../../src/http/console/html';
import { chainProblemInWords, formatTime, reasonsInWords, stateInWords, t } from '../../../src/http/console/i18n';
import { EVENT_STATES } from '../../../src/event/states';
import { practiceOwnIds } from '../../../src/http/console/practice-own-ids';
import { resourceIds } from '../../../mappings/his/shared/resource-ids';

describe('the console html tag', () => {
  it.each([
    ['<script>alert(1)</script>', '&lt;script&gt;alert(1)&lt;/script&gt;'],
    ['" onmouseover="x', '&quot; onmouseover=&quot;x'],
    ["'single'", '&#39;single&#39;'],
    ['a & b', 'a &amp; b'],
  ])('escapes %s in text and attributes', (input, escaped) => {
    expect(html`<p title="${input}">${input}</p>`.value).toBe(`<p title="${escaped}">${escaped}</p>`);
  });

  it('passes nested fragments through and leaves out null, undefined and false', () => {
    const inner = html`<b>${'x<y'}</b>`;
    expect(html`<p>${inner}${null}${undefined}${false}${[1, html`<i>2</i>`]}</p>`.value).toBe(
      '<p><b>x&lt;y</b>1<i>2</i></p>',
    );
    expect(inner).toBeInstanceOf(SafeHtml);
  });
});

describe('the console in words', () => {
  it.each(DECISION_REASON_CODES)('has Dutch and English words for the policy reason %s', (code) => {
    expect(reasonsInWords('nl', code)).not.toContain(code);
    expect(reasonsInWords('en', code)).not.toContain(code);
  });

  it.each(EVENT_STATES)('has Dutch and English words for the event state %s', (state) => {
    expect(stateInWords('nl', state)).toBeTruthy();
    expect(stateInWords('en', state)).toBeTruthy();
    if (state !== 'delivered' && state !== 'received') {
      expect(stateInWords('nl', state)).not.toBe(state);
    }
  });

  it('says a denial at delivery and several reasons in one sentence', () => {
    expect(reasonsInWords('nl', 'denied at delivery: consent-missing-child, consent-missing-guardian')).toBe(
      'De toestemming van het kind ontbreekt; de toestemming van een ouder met gezag ontbreekt (bij aflevering)',
    );
    expect(t('en', 'chainBroken', '01234567', 2, 'hash mismatch')).toBe(
      'Chain 01234567 is BROKEN at row 2: hash mismatch',
    );
  });
});

describe('state reasons as the pipeline records them, in words', () => {
  const child = { role: 'child', reference: 'Patient/p1', hisId: 'c-2' } as const;
  const mother = {
    role: 'guardian',
    reference: 'RelatedPerson/r1',
    hisId: 'g1',
    relationship: 'mother',
    hasAuthority: true,
  } as const;
  const decision = (effect: Decision['effect'], reasons: DecisionReason[]): Decision => ({
    effect,
    reasons,
    agreement: { id: 'demo-overbetuwe', version: 1 },
    consentIds: [],
    obligations: { allowedFields: {} },
  });
  const twoMissing = decisionText(
    decision('deny', [
      { code: 'consent-missing-guardian', detail: '', people: [mother] },
      { code: 'consent-missing-child', detail: '', people: [child] },
    ]),
  );
  const permitted = decisionText(
    decision('permit', [{ code: 'permitted-by-consent', detail: '', people: [child, mother] }]),
  );

  it.each([
    [
      twoMissing,
      'De toestemming van een ouder met gezag ontbreekt; de toestemming van het kind ontbreekt',
      "The consent of a parent with parental authority is missing; the child's consent is missing",
    ],
    [
      `denied at delivery: ${twoMissing}`,
      'De toestemming van een ouder met gezag ontbreekt; de toestemming van het kind ontbreekt (bij aflevering)',
      undefined,
    ],
    [permitted, 'Toegestaan op grond van toestemming', 'Permitted by consent'],
    [
      'decided again: permitted-by-consent',
      'Toegestaan op grond van toestemming (opnieuw besloten)',
      'Permitted by consent (decided again)',
    ],
    ['gm0226: HTTP 200', 'gm0226 nam het aan (HTTP 200)', 'gm0226 accepted it (HTTP 200)'],
    ['gm0226: HTTP 422', 'gm0226: HTTP 422', 'gm0226: HTTP 422'],
    [
      'gm0226: network error: connect ECONNREFUSED (retries exhausted)',
      'gm0226: network error: connect ECONNREFUSED (alle pogingen gedaan)',
      undefined,
    ],
    ['recorded in the consent registry', 'vastgelegd in het toestemmingsregister', undefined],
    ['no destination configured for GM0344', 'geen bestemming ingesteld voor GM0344', undefined],
    ['replayed by api-key:operator', 'opnieuw verstuurd door api-key:operator', undefined],
    [
      'mapping failed: dialect csv produced invalid FHIR: structure at Patient.birthDate',
      'omzetten mislukt: dialect csv maakte ongeldige FHIR: structure at Patient.birthDate',
      'mapping failed: dialect csv produced invalid FHIR: structure at Patient.birthDate',
    ],
    ['mapped again by api-key:operator', 'opnieuw omgezet door api-key:operator', undefined],
    [
      'cancelled by the practice before it was sent',
      'niet verstuurd: de praktijk trok de verwijzing in',
      'not sent: the practice cancelled the referral',
    ],
    [
      'not sent: the referral it cancels never reached the municipality',
      'niet verstuurd: de verwijzing die het intrekt bereikte de gemeente nooit',
      undefined,
    ],
    [
      'gm0226: HTTP 404; nothing to cancel: the municipality does not hold the referral, which only possibly reached it',
      'gm0226: HTTP 404; niets in te trekken: de gemeente heeft de verwijzing niet, die haar misschien nooit bereikte',
      'gm0226: HTTP 404; nothing to cancel: the municipality does not hold the referral, which may never have reached it',
    ],
    [
      'recorded in the consent registry; withdrawal notice to gm0226, gm0344',
      'vastgelegd in het toestemmingsregister; bericht van intrekking aan gm0226, gm0344',
      'recorded in the consent registry; withdrawal notice to gm0226, gm0344',
    ],
    [
      'not sent: the isamenleving format has no message for a withdrawal notice; tell the municipality another way ' +
        'that the consent no longer covers what it received',
      'niet verstuurd: het formaat isamenleving kent geen bericht van intrekking; laat de gemeente op een andere ' +
        'manier weten dat de toestemming niet meer geldt voor wat zij ontving',
      undefined,
    ],
    ['redelivered by api-key:operator', 'opnieuw afleveren gevraagd door api-key:operator', undefined],
    [
      'gm0226: HTTP 503 (retries exhausted); sent again after the receiver accepted it at 2026-12-06T10:15:30.000Z',
      'gm0226: HTTP 503 (alle pogingen gedaan); opnieuw verstuurd nadat de ontvanger het al had aangenomen op ' +
        `${formatTime('nl', '2026-12-06T10:15:30.000Z')}`,
      `gm0226: HTTP 503 (retries exhausted); sent again after the receiver accepted it at ${formatTime('en', '2026-12-06T10:15:30.000Z')}`,
    ],
    [
      `not redelivered (asked by api-key:operator): decided again: ${twoMissing}`,
      'niet opnieuw afgeleverd (gevraagd door api-key:operator): De toestemming van een ouder met gezag ontbreekt; de ' +
        'toestemming van het kind ontbreekt (opnieuw besloten)',
      undefined,
    ],
    ['something new the pipeline says', 'something new the pipeline says', 'something new the pipeline says'],
  ])('says %j in words', (reason, nl, en) => {
    expect(reasonsInWords('nl', reason)).toBe(nl);
    if (en !== undefined) {
      expect(reasonsInWords('en', reason)).toBe(en);
    }
  });

  it("leaves out a decision's English detail in Dutch, whichever codes it names", () => {
    for (const code of DECISION_REASON_CODES) {
      const words = reasonsInWords(
        'nl',
        decisionText(decision('deny', [{ code, detail: 'the detail', people: [child] }])),
      );
      expect(words).not.toMatch(/detail|consent of|the child|under Agreement|[a-z]+-[a-z]+/);
    }
  });
});

describe("the practice's own ids of an event", () => {
  it('finds the child and guardian ids in the record as the HIS sent it, whatever its shape', () => {
    const agb = '01234567';
    const patient = resourceIds.patient(agb, 'c-17');
    const mother = resourceIds.relatedPerson(agb, 'c-17', 'g-2');
    const records = [
      { child: { id: 'c-17' }, guardians: [{ id: 'g-1' }, { id: 'g-2' }] },
      ['row', 'c-17', '111222333', 'g-2', 'mother'],
    ];
    for (const record of records) {
      expect(practiceOwnIds(agb, record, patient, [mother, 'unknown'])).toEqual(
        new Map([
          [`Patient/${patient}`, 'c-17'],
          [`RelatedPerson/${mother}`, 'g-2'],
        ]),
      );
    }
    expect(practiceOwnIds('07654321', records[0], patient, [mother]).size).toBe(0);
  });
});

describe("a broken audit chain's problem, as the verification names it, in words", () => {
  const checkpoint =
    'the checkpoint signed at 2026-12-01T10:00:00.000Z with key k1 (seq 40, hash ' + 'ab'.repeat(32) + ')';
  // Its time in Dutch time, as every other time on the page (xaudit finding 11: not UTC beside local times).
  const dutchCheckpoint =
    'het controlepunt ondertekend op 1 dec 2026, 11:00:00 met sleutel k1 (rij 40, hash ' + 'ab'.repeat(32) + ')';
  it.each([
    ['gap: expected seq 13', 'gat: rij 13 verwacht'],
    ['prev_hash does not match the previous row', 'prev_hash klopt niet met de vorige rij'],
    ['content does not match its hash', 'de inhoud klopt niet met haar hash'],
    ['resource is not an AuditEvent', 'de inhoud is geen AuditEvent'],
    ['column outcome does not match the resource', 'kolom outcome klopt niet met de inhoud'],
    [
      'the search columns do not hash as PostgreSQL writes them',
      'de zoekkolommen hashen niet zoals PostgreSQL ze schrijft',
    ],
    [
      'rows 41 to 45 are missing (the chain head is at 40)',
      'rijen 41 tot en met 45 ontbreken (de kop van de keten staat op rij 40)',
    ],
    [
      'the last row does not match the recorded chain head',
      'de laatste rij klopt niet met de vastgelegde kop van de keten',
    ],
    [
      'the retention checkpoint at seq 7 has no purge AuditEvent in the chain after it',
      'het bewaartermijn-controlepunt bij rij 7 heeft geen AuditEvent van de opschoning erna in de keten',
    ],
    [
      'the retention checkpoint at seq 7 is not signed by a known key (purged at 2026-11-01T00:00:00.000Z): not a retention purge',
      'het bewaartermijn-controlepunt bij rij 7 is niet ondertekend met een bekende sleutel (opgeschoond op ' +
        '2026-11-01T00:00:00.000Z): geen opschoning na de bewaartermijn',
    ],
    [`the chain ends at seq 39, before ${checkpoint}`, `de keten houdt op bij rij 39, vóór ${dutchCheckpoint}`],
    [
      `the retention checkpoint at seq 50 deleted rows written after ${checkpoint}, less than 365 days ago: not a retention purge`,
      `het bewaartermijn-controlepunt bij rij 50 verwijderde rijen die na ${dutchCheckpoint} zijn geschreven, minder ` +
        'dan 365 dagen geleden: geen opschoning na de bewaartermijn',
    ],
    [
      `the retention checkpoint at seq 40 contradicts ${checkpoint}`,
      `het bewaartermijn-controlepunt bij rij 40 is in strijd met ${dutchCheckpoint}`,
    ],
    [`row 40 is missing, contradicting ${checkpoint}`, `rij 40 ontbreekt, in strijd met ${dutchCheckpoint}`],
    [
      `the chain was rewritten: row 40 has hash ${'cd'.repeat(32)}, contradicting ${checkpoint}`,
      `de keten is herschreven: rij 40 heeft hash ${'cd'.repeat(32)}, in strijd met ${dutchCheckpoint}`,
    ],
    ['something new the verification says', 'something new the verification says'],
  ])('says %j in Dutch, and as recorded in English', (problem, nl) => {
    expect(chainProblemInWords('nl', problem)).toBe(nl);
    expect(chainProblemInWords('en', problem)).toBe(problem);
  });
});
