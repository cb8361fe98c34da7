import type { Resource } from '@medplum/fhirtypes';
import type { CanonicalEvent } from '../../../../src/contracts/his-dialect';
import { tryGetDialect } from '../../../../mappings/his/index';
import type { Agreement } from '../../../../src/policy/agreement';
import { minimise } from '../../../../src/policy/minimise';
import { buildAgreement, buildReferralEvent } from '../../../helpers/builders';

/** The HIS's generic JSON event mapped as the pipeline maps it, so mapping tests see realistic resources. */
export function mapped(event: Record<string, unknown> = buildReferralEvent()): CanonicalEvent {
  return tryGetDialect('generic-json')!.map({ value: event, location: '' });
}

/** What the deliver worker hands the adapters: the event's resources cut to the agreement's allow-list. */
export function minimised(event: CanonicalEvent, agreement: Agreement = buildAgreement()): Resource[] {
  const fields = Object.fromEntries(Object.entries(agreement.dataClasses).map(([k, v]) => [k, v?.fields ?? []]));
  return minimise(event.resources, fields);
}
