// Type-only: this file loads nothing of OpenTelemetry (tracing is off by default and must cost nothing then).
import type { NodeSDKConfiguration } from '@opentelemetry/sdk-node';

type SpanProcessor = NonNullable<NodeSDKConfiguration['spanProcessors']>[number];
type EndingSpan = Parameters<NonNullable<SpanProcessor['onEnding']>>[0];

/** What stands in for a value the caller sent. */
export const REDACTED = 'REDACTED';

/** Attributes holding a whole URL or a path with its query: the stable HTTP conventions' and the older ones'. */
const URL_ATTRIBUTES = ['url.full', 'http.url', 'http.target'] as const;
/** A parameter name worth keeping: ours look like this; anything else (a bare BSN as `?111222333`) is a value. */
const PARAMETER_NAME = /^[A-Za-z_][A-Za-z0-9_:.-]{0,39}$/;

/** A query string (without `?`) with every value replaced, names kept: `patient=1&x=2` → `patient=REDACTED&x=…`. */
export function redactQuery(query: string): string {
  return new URLSearchParams(
    [...new URLSearchParams(query).keys()].map((name): [string, string] => [
      PARAMETER_NAME.test(name) ? name : REDACTED,
      REDACTED,
    ]),
  ).toString();
}

/** A URL or path with its query string redacted (and its fragment, which a client should not send, dropped). */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) {
    return url.split('#')[0] ?? url;
  }
  return `${url.slice(0, q)}?${redactQuery(url.slice(q + 1).split('#')[0] ?? '')}`;
}

/** A stack trace without its first line(s), which repeat the message: `type` and the frames only. */
function framesOf(type: string, stack: string): string {
  const frames = stack.split('\n').filter((line) => /^\s+at /.test(line));
  return [type, ...frames].join('\n');
}

/**
 * Keeps what callers sent out of exported spans, in every instrumentation at once (http, Express, undici, pg,
 * BullMQ): query values in URL attributes, and the text of recorded exceptions and error statuses, which quote
 * input as often as not (a code the product refused, the JSON parser's snippet of the body, a value PostgreSQL
 * could not cast). The exception's type and stack frames stay, so a trace still shows what failed and where; the
 * logs keep the messages, under their own redaction.
 *
 * `onEnding` runs while the span can still be changed, before any processor exports it. It is marked experimental
 * in @opentelemetry/sdk-trace; the tracing test (tests/integration/tracing-otel.test.ts) checks it still works.
 */
export const scrubbingSpanProcessor: SpanProcessor = {
  onStart: () => undefined,
  onEnding(span: EndingSpan) {
    const query = span.attributes['url.query'];
    if (typeof query === 'string') {
      span.setAttribute('url.query', redactQuery(query));
    }
    for (const key of URL_ATTRIBUTES) {
      const value = span.attributes[key];
      if (typeof value === 'string') {
        span.setAttribute(key, redactUrl(value));
      }
    }
    for (const event of span.events) {
      if (event.name === 'exception' && event.attributes) {
        const attributes = { ...event.attributes };
        delete attributes['exception.message'];
        const stack = attributes['exception.stacktrace'];
        if (typeof stack === 'string') {
          const type = attributes['exception.type'];
          attributes['exception.stacktrace'] = framesOf(typeof type === 'string' ? type : 'Error', stack);
        }
        event.attributes = attributes;
      }
    }
    if (span.status.message !== undefined) {
      // An ERROR status keeps its code; setStatus without a message drops the text.
      span.setStatus({ code: span.status.code });
    }
  },
  onEnd: () => undefined,
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};
