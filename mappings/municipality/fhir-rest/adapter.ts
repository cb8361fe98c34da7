import { toTransactionBundle } from './to-transaction';
import { postMessage, type DeliveryAdapter, type DestinationFormat } from '../shared/adapter';
import { joinUrl, probeRequest } from '../shared/transport';

/**
 * FHIR REST: POSTs a transaction Bundle of conditional creates and updates (see the mapping) to the receiver's FHIR
 * base URL, with an `Idempotency-Key` header as well, so a replay never duplicates anything at the receiver.
 * Probe: `GET <baseUrl>/metadata` (the CapabilityStatement every FHIR server serves) must answer 2xx.
 */
const fhirRestAdapter: DeliveryAdapter = {
  name: 'fhir-rest',

  async deliver(endpoint, resources, meta, deps) {
    const bundle = toTransactionBundle(resources, meta.idempotencyKey, meta.eventType);
    return await postMessage(endpoint, meta, deps, {
      url: endpoint.baseUrl,
      mediaType: 'application/fhir+json',
      accept: true,
      body: JSON.stringify(bundle),
    });
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
  withdrawalNotices: true,
};
