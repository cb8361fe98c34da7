import type { DeliveryAdapter } from './adapter';
import type { AdapterName } from './destination';
import { fhirRestAdapter } from './fhir-rest';
import { isamenlevingAdapter } from './isamenleving';
import { webhookAdapter } from './webhook';

const ADAPTERS: Record<AdapterName, DeliveryAdapter> = {
  'fhir-rest': fhirRestAdapter,
  webhook: webhookAdapter,
  isamenleving: isamenlevingAdapter,
};

/** The adapter an endpoint names; the schemas allow only known names, so this cannot miss. */
export function getAdapter(name: AdapterName): DeliveryAdapter {
  return ADAPTERS[name];
}
