import { toISamenlevingMessage } from './to-message';
import { postMessage, type DeliveryAdapter, type DestinationFormat } from '../shared/adapter';
import { PermanentDeliveryError } from '../../../src/contracts/delivery-errors';
import { joinUrl, probeByHead } from '../shared/transport';

/**
 * iSamenleving-style REST: plain JSON to `<baseUrl>/aanmeldingen` (referrals), `<baseUrl>/contactmomenten`
 * (contacts) or `<baseUrl>/trajectafsluitingen` (closures), with the idempotency key both as `Idempotency-Key` header and as `berichtId` in the body, since
 * such systems more often deduplicate on a message id than on a header. Events these systems have no message
 * for fail permanently, so an operator sees them rather than losing them quietly.
 * Probe: `HEAD <baseUrl>/aanmeldingen` (the route of referrals) with the destination's credentials, up when the route
 * answers (see `probeByHead`): the base URL of an API of several routes may well answer 404.
 */
/** Where referrals go: the route the probe asks about. */
const REFERRAL_PATH = 'aanmeldingen';

const isamenlevingAdapter: DeliveryAdapter = {
  name: 'isamenleving',

  async deliver(endpoint, resources, meta, deps) {
    const message = toISamenlevingMessage(resources, meta.eventType, meta.idempotencyKey);
    if (!message) {
      throw new PermanentDeliveryError(
        `the isamenleving adapter has no message for ${meta.eventType} (or nothing to send)`,
      );
    }
    return await postMessage(endpoint, meta, deps, {
      url: joinUrl(endpoint.baseUrl, message.path),
      mediaType: 'application/json',
      accept: true,
      body: JSON.stringify(message.body),
    });
  },

  probe(endpoint, timeoutMs, deps) {
    return probeByHead(endpoint, timeoutMs, deps, REFERRAL_PATH);
  },
};

/** The municipal registration system: not something a practice runs. */
export const isamenlevingFormat: DestinationFormat = {
  adapter: isamenlevingAdapter,
  authTypes: ['none', 'bearer', 'oauth2-client-credentials'],
  servesPractices: false,
  withdrawalNotices: false,
};
