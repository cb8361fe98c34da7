import type { DeliveryAdapter } from '../../src/contracts/delivery-adapter';
import type { AdapterName } from '../../src/contracts/destination';
import { fhirRestAdapter } from './fhir-rest/adapter';
import { isamenlevingAdapter } from './isamenleving/adapter';
import { webhookAdapter } from './webhook/adapter';

const ADAPTERS: Record<AdapterName, DeliveryAdapter> = {
  'fhir-rest': fhirRestAdapter,
  webhook: webhookAdapter,
  isamenleving: isamenlevingAdapter,
};

/** The adapter an endpoint names; the schemas allow only known names, so this cannot miss. */
export function getAdapter(name: AdapterName): DeliveryAdapter {
  return ADAPTERS[name];
}
