import { REFERRAL_STATUSES } from '../../../mappings/practice/referral-status';
import { t } from '../../../src/http/console/i18n';
import { REFERRAL_STATUS_SYSTEM, tryGetConcept } from '../../../src/kernel/fhir/terminology';

describe("the console's words for a referral's status", () => {
  it.each(REFERRAL_STATUSES)(
    'says %s in English, and in Dutch as the code table (and the practice’s Task) does',
    (s) => {
      expect(t('nl', `referralStatus_${s}`)).toBe(tryGetConcept(REFERRAL_STATUS_SYSTEM, s)?.display);
      expect(t('en', `referralStatus_${s}`)).not.toBe(s);
    },
  );
});
