/**
 * Which answers a client asks for, by `_format` or `Accept`, in one place for every FHIR-speaking route (`/fhir`
 * and the monitoring report): the names clients use for FHIR JSON differ (HAPI takes all of these), and FHIR R4 lets
 * a client add `fhirVersion` (http.html#version-parameter), which must not make R4 JSON unacceptable.
 */

/** FHIR JSON by every name in use: `_format`'s short forms, R4's type, plain JSON and the DSTU2 `json+fhir`. */
export const FHIR_JSON_NAMES = [
  'json',
  'fhir+json',
  'application/fhir+json',
  'application/json',
  'application/json+fhir',
] as const;

/** FHIR JSON's media types (the names above a `Content-Type` can carry): what a FHIR resource body may come as. */
export const FHIR_JSON_MEDIA_TYPES = FHIR_JSON_NAMES.filter((name) => name.includes('/'));

/** The media types an answer is sent as, for a 406 to name (the DSTU2 name is taken, but not sent). */
export const SERVED_MEDIA_TYPES = ['application/fhir+json', 'application/json'] as const;

/** The FHIR version served, as the `fhirVersion` media-type parameter writes it (4.0.1 is taken too). */
const SERVED_FHIR_VERSION = /^4\.0(\.\d+)?$/;

/** The served version as a client writes it in a media type: what a 406 or 415 tells it to ask for. */
export const SERVED_FHIR_VERSION_PARAMETER = 'fhirVersion=4.0';

interface MediaRange {
  readonly type: string;
  readonly parameters: ReadonlyMap<string, string>;
}

function parseMediaRange(text: string): MediaRange {
  const [type = '', ...parts] = text.split(';').map((p) => p.trim());
  const parameters = new Map<string, string>();
  for (const part of parts) {
    const at = part.indexOf('=');
    if (at > 0) {
      parameters.set(
        part.slice(0, at).trim().toLowerCase(),
        part
          .slice(at + 1)
          .trim()
          .replace(/^"|"$/g, ''),
      );
    }
  }
  return { type: type.toLowerCase(), parameters };
}

/** R4 or no version named; `charset` and other parameters do not matter (JSON is UTF-8). */
function isServedVersion(range: MediaRange): boolean {
  const version = range.parameters.get('fhirversion');
  return version === undefined || SERVED_FHIR_VERSION.test(version);
}

/** Whether a `Content-Type` names a FHIR version other than R4 (`fhirVersion=3.0`): its body would be misread as R4. */
export function namesOtherFhirVersion(contentType: string): boolean {
  return !isServedVersion(parseMediaRange(contentType));
}

/** Whether a `_format` value (or one media type) names FHIR R4 JSON: `fhir+json; fhirVersion=4.0` yes, `xml` no. */
export function isFhirJsonFormat(value: string): boolean {
  const range = parseMediaRange(value);
  return (FHIR_JSON_NAMES as readonly string[]).includes(range.type) && isServedVersion(range);
}

/**
 * Whether a request body's `Content-Type` is FHIR R4 JSON: a FHIR JSON media type (R4's, plain JSON or DSTU2's
 * `json+fhir`) with no `fhirVersion` or 4.0. A resource of another version would be read as R4 and mean something else.
 */
export function isFhirJsonContentType(contentType: string): boolean {
  const range = parseMediaRange(contentType);
  return (FHIR_JSON_MEDIA_TYPES as readonly string[]).includes(range.type) && isServedVersion(range);
}

/**
 * Whether an `Accept` header lets FHIR R4 JSON be sent: absent, a wildcard, or any FHIR JSON name (with `q` above 0
 * and no other `fhirVersion`). `application/fhir+json; fhirVersion=3.0` alone is not.
 */
export function acceptsFhirJson(accept: string | undefined): boolean {
  if (accept === undefined || accept.trim() === '') {
    return true;
  }
  return accept.split(',').some((text) => {
    const range = parseMediaRange(text);
    if (Number(range.parameters.get('q') ?? '1') === 0) {
      return false;
    }
    const anyJson = range.type === '*/*' || range.type === 'application/*';
    return (anyJson || (FHIR_JSON_NAMES as readonly string[]).includes(range.type)) && isServedVersion(range);
  });
}
