import { toTransactionBundle } from './to-transaction';
import { deliveryHeaders, timeoutOf, type DeliveryAdapter, type DestinationFormat } from '../shared/adapter';
import { deliverRequest, joinUrl, probeRequest } from '../shared/transport';

/**
 * FHIR REST: POSTs a transaction Bundle of conditional creates (see the mapping) to the receiver's FHIR base URL,
 * with an `Idempotency-Key` header as well, so a replay never duplicates anything at the receiver.
 * Probe: `GET <baseUrl>/metadata` (the CapabilityStatement every FHIR server serves) must answer 2xx.
 */
const fhirRestAdapter: DeliveryAdapter = {
  name: 'fhir-rest',

  async deliver(endpoint, resources, meta, deps) {
    const bundle = toTransactionBundle(resources, meta.idempotencyKey, meta.eventType);
    return await deliverRequest(
      endpoint,
      {
        method: 'POST',
        url: endpoint.baseUrl,
        headers: {
          'content-type': 'application/fhir+json',
          accept: 'application/fhir+json',
          ...deliveryHeaders(meta),
        },
        body: JSON.stringify(bundle),
      },
      timeoutOf(endpoint, meta),
      deps,
    );
  },

  probe(endpoint, timeoutMs, deps) {
    return probeRequest(
      endpoint,
      { method: 'GET', url: joinUrl(endpoint.baseUrl, 'metadata'), headers: { accept: 'application/fhir+json' } },
      timeoutMs,
      (status) => status >= 200 && status < 300,
      deps,
    );
  },
};

/** A FHIR server: any authentication but webhook signing; a practice HIS can be one too. */
export const fhirRestFormat: DestinationFormat = {
  adapter: fhirRestAdapter,
  authTypes: ['none', 'bearer', 'oauth2-client-credentials'],
  servesPractices: true,
};
