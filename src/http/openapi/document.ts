import {
  OpenAPIRegistry,
  OpenApiGeneratorV31,
  type ResponseConfig,
  type RouteConfig,
} from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import { DIALECTS } from '../../../mappings/his/index';
import { isJsonMediaType } from '../json-body';
import type { FhirResourceProvider } from '../../reports/fhir-search/resource-provider';
import {
  deadLetterFilter,
  deliveredAfter,
  feedbackFilter,
  redeliveryWindow,
  toPracticeReplayFilter,
  trajectoryEventFilter,
} from '../../reports/dead-letters/dead-letters';
import { endPendingBody, pauseBody, redeliverBody } from '../admin-router';
import { acknowledgeBody, exportQuery, integrityHistoryQuery, overviewQuery, verifyQuery } from '../audit-router';
import type { Role } from '../../access/principal';
import { explainSchema } from '../consent-router';
import { statusUpdateSchema } from '../status-update';
import { NOT_KEPT_TEXT, taskSchema } from '../fhir-task-router';
import { trajectoryEventSchema } from '../../../mappings/practice/trajectory-event';
import { FHIR_JSON_MEDIA_TYPES, FHIR_JSON_NAMES } from '../../kernel/fhir/media-types';
import { monitoringPushQuerySchema, monitoringQuerySchema } from '../monitoring-router';
import * as s from './schemas';
import { practiceEventQuery } from '../../reports/practice-events/practice-events';
import { EVENT_STATES } from '../../event/states';

type Method = 'get' | 'post';

/** One route as the document states it: who may call it and what goes in and out. */
interface RouteDoc {
  readonly method: Method;
  /** OpenAPI form: `/his/v1/events/{id}`. */
  readonly path: string;
  /** Stable and readable for client generators: a path changed keeps its operation's name. */
  readonly operationId: string;
  readonly summary: string;
  readonly tag: string;
  /** Roles that may call it; `public` for routes without authentication. */
  readonly roles: readonly Role[] | 'public';
  readonly request?: RouteConfig['request'];
  readonly ok: { readonly status: number; readonly description: string; readonly content?: Content };
  /**
   * A 200 with the same content: the answer to a request that came before (the same Idempotency-Key, event id or
   * figures), or to one that changed nothing (a redelivery the decision denies).
   */
  readonly repeat?: { readonly status: 200; readonly description: string };
  /** Error statuses beyond the ones every route of its kind has (400, 401, 403, 404, 405, 429, 500). */
  readonly errors?: readonly number[];
  /** What an error status means on this route, where it says more than ERROR_TEXT's general text. */
  readonly errorText?: Readonly<Partial<Record<number, string>>>;
  /** A FHIR read: ETag and Last-Modified on its answer, 304 to a conditional GET they meet. */
  readonly conditional?: boolean;
}

/** The validators of a FHIR read's answer (fhir-router.ts sendRead). */
const READ_HEADERS = {
  ETag: {
    description: 'W/"<meta.versionId>" for a versioned type (Consent); else a hash of the answer',
    schema: { type: 'string' as const },
  },
  'Last-Modified': {
    description: 'meta.lastUpdated, where the type has it (AuditEvent, Consent)',
    schema: { type: 'string' as const },
  },
};

type Headers = Record<string, { description: string; schema: { type: 'integer' | 'string' } }>;
const integerHeader = (description: string) => ({ description, schema: { type: 'integer' as const } });
const stringHeader = (description: string) => ({ description, schema: { type: 'string' as const } });

/**
 * The rate limit's state, on every answer of an authenticated route but a 401 (rate-limit.ts): a generated client
 * exposes only the headers the document declares, and back-off code is written from these.
 */
const RATE_LIMIT_HEADERS: Headers = {
  'RateLimit-Limit': integerHeader('requests the caller may make in the current window (IETF draft RateLimit fields)'),
  'RateLimit-Remaining': integerHeader('requests left in the current window'),
  'RateLimit-Reset': integerHeader('seconds until the window resets'),
  'RateLimit-Policy': stringHeader('the quota policies, such as 50;w=1, 500;w=10'),
};
const RETRY_AFTER: Headers = { 'Retry-After': integerHeader('seconds to wait before trying again') };
/** Headers an error status carries whatever the route. */
const ERROR_HEADERS: Readonly<Partial<Record<number, Headers>>> = {
  405: { Allow: stringHeader('the methods the path takes') },
  429: RETRY_AFTER,
  503: RETRY_AFTER,
};
const LOCATION: Headers = { Location: stringHeader('the URL of what was created') };

const ALL_ROLES: readonly Role[] = ['practice', 'municipality', 'auditor', 'operator'];
const FHIR_JSON = 'application/fhir+json';

const ERROR_TEXT: Record<number, string> = {
  400: 'malformed request: the OperationOutcome names the parameter or field',
  401: 'no or invalid credentials',
  403: 'the role or scope does not allow it; the OperationOutcome names the deciding field where there is one',
  404: 'not found, or not within the caller’s scope',
  405: 'method not allowed on this path; the Allow header lists the allowed ones',
  406:
    'neither _format nor the Accept header (which _format overrides) names FHIR R4 JSON (application/fhir+json, ' +
    'application/json, application/json+fhir; fhirVersion=4.0 is taken, another version is not): the ' +
    'OperationOutcome names the one that asked',
  409: 'conflict with the current state',
  412: 'a condition (If-None-Exist) matches more than one resource',
  413: 'request body larger than BODY_LIMIT',
  415: 'unsupported Content-Type (a FHIR resource of another fhirVersion too), naming it',
  422: 'a broken rule (BSN check digit, unknown code): each issue names its field',
  429:
    'too many requests: the caller’s rate limit (OperationOutcome id too-many-requests), or on POST /his/v1/events ' +
    'a full queue (id queue-full, Retry-After 30); Retry-After says when to try again',
  500: 'internal error (no details are given)',
  503:
    'a dependency (PostgreSQL, Redis) is not available, or (a monitoring report) too many reports are being computed ' +
    'at once (MONITORING_REPORT_CONCURRENCY); try again after Retry-After',
};

const idParam = (description: string): z.ZodObject => z.object({ id: z.uuid().meta({ description }) });
/** A referral as a municipality names it: the ServiceRequest identifier it received, or jeugdbrug's event id. */
const referralKey = z.object({
  id: z.string().meta({
    description:
      'anything received that names the referral, URL-encoded: the ServiceRequest identifier (`system|value`; ' +
      '`value` alone when one practice sent it, else 409), or jeugdbrug’s ServiceRequest id (bare, ' +
      '`resource-id|<id>`, `ServiceRequest/<id>`, the webhook’s focus); operators also the event id. 404 for a ' +
      'referral not delivered to the caller’s municipality, as for an unknown one',
  }),
});
const idempotencyKeyHeader = z.object({
  'idempotency-key': z
    .string()
    .meta({ description: 'the same key with the same update answers the first (200); with another update, 422' })
    .optional(),
});
type Content = NonNullable<ResponseConfig['content']>;
const json = (schema: z.ZodType): Content => ({ 'application/json': { schema } });
const fhirJson = (schema: z.ZodType): Content => ({ [FHIR_JSON]: { schema } });

/** A dialect's JSON Schema as a component: the document states the dialect (2020-12) once, for all schemas. */
function withoutSchemaKeyword(schema: unknown): Record<string, unknown> {
  const rest = { ...(schema as Record<string, unknown>) };
  delete rest.$schema;
  return rest;
}

/** What a read (and the search, and `metadata`) takes besides its own parameters: parse-search.ts checks them. */
const readQuery = z.object({
  _format: z
    .enum(FHIR_JSON_NAMES)
    .optional()
    .meta({ description: 'JSON only; a fhirVersion=4.0 parameter is taken; any other format or version is a 406' }),
  _pretty: z.enum(['true', 'false']).optional().meta({ description: 'true: the answer indented' }),
  _elements: z.string().optional().meta({ description: 'comma-separated top-level elements (tagged SUBSETTED)' }),
  _summary: z.enum(['false']).optional().meta({ description: "only 'false': no summary views are served" }),
});
const preferHandling = z.object({
  prefer: z
    .enum(['handling=strict', 'handling=lenient'])
    .optional()
    .meta({ description: 'unknown parameters: 400 naming them (strict, the default) or ignored (lenient)' }),
});

/** The FHIR routes of each provider: their query parameters come from the same spec the parser checks against. */
function fhirRoutes(providers: readonly FhirResourceProvider[]): RouteDoc[] {
  const fhirRoles = (p: FhirResourceProvider): Role[] =>
    ALL_ROLES.filter((role) => {
      try {
        p.assertMayRead({ id: 'openapi', role, practices: [], municipalities: [], via: 'api-key' });
        return true;
      } catch {
        return false;
      }
    });
  return providers.flatMap((p): RouteDoc[] => {
    const type = p.spec.resourceType;
    const params = Object.fromEntries(
      p.spec.params.flatMap((sp) =>
        [sp.code, ...(sp.modifiers ?? []).map((m) => `${sp.code}:${m}`)].map((name) => [
          name,
          z.string().optional().meta({ description: sp.documentation }),
        ]),
      ),
    );
    const query = z.object({
      ...readQuery.shape,
      ...params,
      _count: z.string().regex(/^\d+$/).optional().meta({ description: 'page size (default 50, at most 500)' }),
      _total: z.enum(['none', 'estimate', 'accurate']).optional(),
      _summary: z.enum(['count', 'false']).optional(),
      _sort: z.enum(p.spec.sorts.flatMap((x) => [x, `-${x}`]) as [string, ...string[]]).optional(),
      _page: z.string().optional().meta({ description: 'opaque page token from a next or previous link' }),
    });
    const prefer = preferHandling;
    const searchset = {
      status: 200,
      description: `searchset Bundle of ${type}`,
      content: fhirJson(s.searchsetOf(type)),
    };
    const roles = fhirRoles(p);
    const conflict = p.spec.conflict ? { errors: [409], errorText: { 409: `conflict: ${p.spec.conflict}` } } : {};
    return [
      {
        method: 'get',
        path: `/fhir/${type}`,
        operationId: `search${type}`,
        summary: `Search ${type}`,
        tag: 'FHIR',
        roles,
        request: { query, headers: prefer },
        ok: searchset,
        ...conflict,
      },
      {
        method: 'post',
        path: `/fhir/${type}/_search`,
        operationId: `search${type}ByPost`,
        summary: `Search ${type} with the parameters in a form body`,
        tag: 'FHIR',
        roles,
        request: {
          headers: prefer,
          body: { content: { 'application/x-www-form-urlencoded': { schema: query } }, required: true },
        },
        ok: searchset,
        errors: [415, ...(conflict.errors ?? [])],
        errorText: conflict.errorText,
      },
      {
        method: 'get',
        path: `/fhir/${type}/{id}`,
        operationId: `read${type}`,
        summary: `Read one ${type}`,
        tag: 'FHIR',
        roles,
        request: {
          params: z.object({ id: z.string().meta({ description: `${type} id` }) }),
          query: readQuery,
          headers: prefer,
        },
        ok: { status: 200, description: type, content: fhirJson(s.fhirResource(type)) },
        conditional: true,
      },
      ...(p.history ? historyRoutes(type, roles) : []),
    ];
  });
}

/** vread and history-instance of a type that keeps its versions (a provider with `history`). */
function historyRoutes(type: string, roles: Role[]): RouteDoc[] {
  const id = z.string().meta({ description: `${type} id` });
  return [
    {
      method: 'get',
      path: `/fhir/${type}/{id}/_history/{vid}`,
      operationId: `vread${type}`,
      summary: `Read one version of a ${type}`,
      tag: 'FHIR',
      roles,
      request: {
        params: z.object({ id, vid: z.string().meta({ description: 'the version: meta.versionId (1, 2, ...)' }) }),
        query: readQuery,
        headers: preferHandling,
      },
      ok: { status: 200, description: `${type}, as that version was`, content: fhirJson(s.fhirResource(type)) },
      conditional: true,
    },
    {
      method: 'get',
      path: `/fhir/${type}/{id}/_history`,
      operationId: `history${type}`,
      summary: `Every version of a ${type}, newest first, a page at a time (\`_count\`, \`next\` link)`,
      tag: 'FHIR',
      roles,
      request: {
        params: z.object({ id }),
        query: readQuery.extend({
          _count: z.string().optional().meta({ description: 'versions per page (default 50, at most 500)' }),
          _since: z.string().optional().meta({ description: 'only versions recorded at or after this instant' }),
          _page: z.string().optional().meta({ description: 'the token of a `next` link: follow the link as it is' }),
        }),
        headers: preferHandling,
      },
      ok: { status: 200, description: `history Bundle of ${type}`, content: fhirJson(s.historyOf(type)) },
    },
  ];
}

/** Every route of the API. A test walks Express's router and fails when this list and the routes differ. */
function routes(providers: readonly FhirResourceProvider[]): RouteDoc[] {
  const dialectNames = DIALECTS.map((d) => d.name) as [string, ...string[]];
  return [
    {
      method: 'get',
      path: '/health/live',
      operationId: 'getLiveness',
      summary: 'Liveness',
      tag: 'Operations',
      roles: 'public',
      ok: {
        status: 200,
        description: 'the process answers, with its build',
        content: json(
          z.object({
            status: z.literal('ok'),
            version: z.string().meta({ description: "package.json's version" }),
            commit: z.string().meta({ description: 'the git commit of the build, or `unknown`' }),
          }),
        ),
      },
    },
    {
      method: 'get',
      path: '/health/ready',
      operationId: 'getReadiness',
      summary: 'Readiness: PostgreSQL answers (an API process); a worker needs Redis too',
      tag: 'Operations',
      roles: 'public',
      ok: {
        status: 200,
        description: 'ready: `ok`, or `degraded` while Redis is away (an API process still accepts events)',
        content: json(s.health),
      },
      errors: [503],
    },
    {
      method: 'get',
      path: '/metrics',
      operationId: 'getMetrics',
      summary: 'Prometheus metrics',
      tag: 'Operations',
      roles: 'public',
      ok: { status: 200, description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } },
    },
    {
      method: 'get',
      path: '/openapi.json',
      operationId: 'getOpenApiDocument',
      summary: 'This OpenAPI document',
      tag: 'Operations',
      roles: 'public',
      ok: { status: 200, description: 'OpenAPI 3.1', content: json(s.anyJson) },
    },
    {
      method: 'get',
      path: '/docs',
      operationId: 'getDocsPage',
      summary: 'API documentation page (Swagger UI, served locally)',
      tag: 'Operations',
      roles: 'public',
      ok: { status: 200, description: 'HTML', content: { 'text/html': { schema: z.string() } } },
    },
    {
      method: 'get',
      path: '/docs/init.js',
      operationId: 'getDocsScript',
      summary: 'Script of the documentation page',
      tag: 'Operations',
      roles: 'public',
      ok: { status: 200, description: 'JavaScript', content: { 'text/javascript': { schema: z.string() } } },
    },
    {
      method: 'post',
      path: '/his/v1/events',
      operationId: 'submitEvents',
      summary: 'Submit one event or an array of events (or CSV rows) from a HIS',
      tag: 'HIS',
      roles: ['practice'],
      request: {
        query: z.object({
          dialect: z.enum(dialectNames).optional().meta({ description: 'when the media type is ambiguous' }),
        }),
        body: {
          required: true,
          content: dialectBodies(),
        },
      },
      ok: {
        status: 202,
        description: 'a receipt per event',
        content: json(z.object({ receipts: z.array(s.receipt) })),
      },
      errors: [409, 413, 415, 422],
    },
    {
      method: 'get',
      path: '/his/v1/events',
      operationId: 'listEvents',
      summary: 'The events of the practices in scope, newest first: ids and states, a page at a time',
      tag: 'HIS',
      roles: ['practice', 'auditor', 'operator'],
      request: { query: practiceEventQuery },
      ok: {
        status: 200,
        description:
          'the page, newest received first (with _since or _pollFrom: most recently changed first); `pollFrom`: ' +
          'the next poll’s _pollFrom; `next`: the path of the next page (absent on the last); no personal data',
        content: json(
          z.object({
            events: z.array(
              z.object({
                id: z.uuid().meta({ description: 'jeugdbrug’s event id, as in the receipt' }),
                eventId: z.string().meta({ description: 'the practice’s own event id' }),
                eventType: z.string(),
                state: z.enum(EVENT_STATES),
                stateReason: z.string().nullable(),
                receivedAt: z.iso.datetime(),
                updatedAt: z.iso.datetime().meta({
                  description:
                    'when the transaction that last changed its state began (what _since filters); it may commit ' +
                    'later, so poll with _pollFrom',
                }),
                deliveredBefore: z.boolean().meta({
                  description:
                    'a dead event the municipality had received before (a redelivery of it failed): it has it, so ' +
                    'it is not one to send again',
                }),
              }),
            ),
            pollFrom: z.string().meta({
              description:
                'opaque: give it as _pollFrom in the next poll, which then has every event whose state changed ' +
                'after this poll read, a change still being written meanwhile included (some seen now may come ' +
                'again); the same on every page of one poll',
            }),
            next: z.string().optional(),
          }),
        ),
      },
    },
    {
      method: 'get',
      path: '/his/v1/events/{id}',
      operationId: 'getEventStatus',
      summary: 'State, history and deliveries of one event',
      tag: 'HIS',
      roles: ['practice', 'auditor', 'operator'],
      request: { params: idParam('jeugdbrug’s event id') },
      ok: { status: 200, description: 'the event', content: json(s.eventStatus) },
    },
    {
      method: 'get',
      path: '/his/v1/schema/{dialect}',
      operationId: 'getDialectSchema',
      summary: 'JSON Schema of a dialect’s record',
      tag: 'HIS',
      roles: ['practice', 'auditor', 'operator'],
      request: { params: z.object({ dialect: z.enum(dialectNames) }) },
      ok: { status: 200, description: 'JSON Schema', content: json(s.jsonSchemaDocument) },
    },
    {
      method: 'get',
      path: '/admin/v1/dead-letters',
      operationId: 'listDeadLetters',
      summary: 'Dead letters with a summary of the receiver’s answer (never its text)',
      tag: 'Admin',
      roles: ['operator'],
      request: { query: deadLetterFilter },
      ok: {
        status: 200,
        description: 'dead letters, oldest first, at most `limit`; `total` counts every match',
        content: json(z.object({ deadLetters: z.array(s.deadLetter), total: z.number().int() })),
      },
    },
    {
      method: 'post',
      path: '/admin/v1/dead-letters/{id}/replay',
      operationId: 'replayDeadLetter',
      summary:
        'Replay one dead letter (decided again before sending); 409 when it is not dead (any more), its content was ' +
        'purged, or it is a withdrawal notice to a format that has no message for one (it would die again)',
      tag: 'Admin',
      roles: ['operator'],
      request: { params: idParam('delivery id') },
      ok: { status: 202, description: 'replayed', content: json(s.replayed) },
      errors: [409],
    },
    {
      method: 'post',
      path: '/admin/v1/dead-letters/replay',
      operationId: 'replayDeadLetters',
      summary: 'Replay the dead letters matching the filter, the oldest `limit` of those a replay can send',
      tag: 'Admin',
      roles: ['operator'],
      request: { body: { content: json(deadLetterFilter) } },
      ok: {
        status: 202,
        description:
          'replayed; `remaining` dead letters a replay can send still match (call again while above 0); those it ' +
          'cannot send stay dead, are not in `remaining`, and are counted by reason in `skipped` (`not-carried`: ' +
          'withdrawal notices to a format that has none; `purged`: content removed by retention), the oldest ' +
          '`limit` of each listed in `notCarried` and `purged`',
        content: json(
          s.replayed
            .extend({
              purged: z.array(z.uuid()).optional(),
              notCarried: z.array(z.uuid()).optional(),
              remaining: z.number().int(),
              skipped: z
                .array(
                  z.object({
                    reason: z.enum(['not-carried', 'purged']),
                    count: z.number().int(),
                    details: z.string(),
                  }),
                )
                .optional(),
            })
            .meta({
              id: 'ReplayedMatching',
            }),
        ),
      },
    },
    {
      method: 'post',
      path: '/admin/v1/deliveries/{id}/redeliver',
      operationId: 'redeliverDelivery',
      summary:
        'Send a delivered delivery again (the receiver lost it), with the same idempotency key, decided again first; ' +
        'audited with the reason. 409 when it is not delivered, its content was purged, or it cannot go out again',
      tag: 'Admin',
      roles: ['operator'],
      request: { params: idParam('delivery id'), body: { content: json(redeliverBody) } },
      ok: { status: 202, description: 'on its way again', content: json(s.redelivered) },
      repeat: { status: 200, description: 'not sent: decided again and denied, listed in `denied`' },
      errors: [409],
    },
    {
      method: 'post',
      path: '/admin/v1/deliveries/redeliver',
      operationId: 'redeliverDestination',
      summary:
        'Send again what was delivered to a destination from `from` (the receiver’s restore point) until `to`, ' +
        'the oldest `limit` of them, each decided again first; audited with the reason',
      tag: 'Admin',
      roles: ['operator'],
      request: { body: { content: json(redeliveryWindow) } },
      ok: {
        status: 202,
        description:
          'on their way again, and those denied; `notSent` those that cannot go out again (why); `remaining` how ' +
          'many are delivered in the window after the last one looked at, and `after` what to send for them',
        content: json(
          s.redelivered
            .extend({
              notSent: z.array(z.object({ id: z.uuid(), reason: z.string() })).optional(),
              remaining: z.number().int(),
              after: deliveredAfter.optional(),
            })
            .meta({ id: 'RedeliveredWindow' }),
        ),
      },
    },
    {
      method: 'get',
      path: '/admin/v1/agreements',
      operationId: 'listAgreements',
      summary: 'Agreements in force (configuration)',
      tag: 'Admin',
      roles: ['operator'],
      ok: { status: 200, description: 'agreements', content: json(z.object({ agreements: z.array(s.anyJson) })) },
    },
    {
      method: 'get',
      path: '/admin/v1/destinations',
      operationId: 'listDestinations',
      summary: 'Destinations (secrets left out)',
      tag: 'Admin',
      roles: ['operator'],
      ok: { status: 200, description: 'destinations', content: json(z.object({ destinations: z.array(s.anyJson) })) },
    },
    {
      method: 'get',
      path: '/admin/v1/queues',
      operationId: 'getQueueDepths',
      summary: 'Queue depths: the deliver queues of the destinations within the scope, and map and feedback as totals',
      tag: 'Admin',
      roles: ['operator'],
      ok: { status: 200, description: 'queue depths', content: json(z.object({ queues: z.array(s.anyJson) })) },
    },
    {
      method: 'get',
      path: '/admin/v1/destinations/status',
      operationId: 'listDestinationHealth',
      summary: 'Health of every destination',
      tag: 'Admin',
      roles: ['operator'],
      ok: {
        status: 200,
        description: 'destination health',
        content: json(z.object({ destinations: z.array(s.destinationStatus) })),
      },
    },
    {
      method: 'get',
      path: '/admin/v1/destinations/{id}/status',
      operationId: 'getDestinationHealth',
      summary: 'Health of one destination',
      tag: 'Admin',
      roles: ['operator'],
      request: { params: z.object({ id: z.string() }) },
      ok: { status: 200, description: 'destination health', content: json(s.destinationStatus) },
    },
    {
      method: 'post',
      path: '/admin/v1/destinations/{id}/pause',
      operationId: 'pauseDestination',
      summary: 'Pause a destination (audited)',
      tag: 'Admin',
      roles: ['operator'],
      request: { params: z.object({ id: z.string() }), body: { content: json(pauseBody) } },
      ok: { status: 200, description: 'paused', content: json(s.destinationChange) },
    },
    {
      method: 'post',
      path: '/admin/v1/destinations/{id}/resume',
      operationId: 'resumeDestination',
      summary: 'Resume a destination (audited)',
      tag: 'Admin',
      roles: ['operator'],
      request: { params: z.object({ id: z.string() }) },
      ok: { status: 200, description: 'resumed', content: json(s.destinationChange) },
    },
    {
      method: 'post',
      path: '/admin/v1/destinations/{id}/end-pending',
      operationId: 'endPendingToRemovedDestination',
      summary:
        'End the pending deliveries to a destination no longer configured, the oldest `limit` (1000 unless given): ' +
        'each cancelled, not sent, its event failed with a reason the practice reads (decided with it while ' +
        'another of its deliveries waits); audited in each practice’s ' +
        'chain with the reason. 409 naming a destination that is configured; 404 when none is pending there',
      tag: 'Admin',
      roles: ['operator'],
      request: {
        params: z.object({ id: z.string() }),
        body: { content: json(endPendingBody.required({ reason: true })) },
      },
      ok: {
        status: 200,
        description: 'ended; `remaining`: those still pending (call again while above 0)',
        content: json(z.object({ destination: z.string(), ended: z.array(z.string()), remaining: z.number().int() })),
      },
      errors: [404, 409],
    },
    {
      method: 'get',
      path: '/admin/v1/feedback',
      operationId: 'listStatusUpdates',
      summary: 'Status updates for practices (dead ones by default)',
      tag: 'Admin',
      roles: ['operator'],
      request: { query: feedbackFilter },
      ok: {
        status: 200,
        description: 'status updates',
        content: json(z.object({ feedback: z.array(s.practiceSendOutcome) })),
      },
    },
    {
      method: 'post',
      path: '/admin/v1/feedback/replay',
      operationId: 'replayToPractice',
      summary:
        'Replay a practice’s dead status updates and trajectory events, or those of one `kind` (trajectory events decided again before ' +
        'sending), the oldest `limit` of them, each audited as a replay of one',
      tag: 'Admin',
      roles: ['operator'],
      request: { body: { content: json(toPracticeReplayFilter) } },
      ok: {
        status: 202,
        description:
          'replayed, by kind; `remaining` dead messages to the practice still wait (call again while above 0); a ' +
          'practice outside the operator’s scope has none',
        content: json(
          z.object({
            replayed: z.object({ statusUpdates: z.array(z.uuid()), trajectoryEvents: z.array(z.uuid()) }),
            remaining: z.number().int(),
          }),
        ),
      },
    },
    {
      method: 'post',
      path: '/admin/v1/feedback/{id}/replay',
      operationId: 'replayStatusUpdate',
      summary: 'Replay a status update to its practice',
      tag: 'Admin',
      roles: ['operator'],
      request: { params: idParam('feedback id') },
      ok: { status: 202, description: 'replayed', content: json(s.replayed) },
      errors: [409],
    },
    {
      method: 'get',
      path: '/admin/v1/trajectory-events',
      operationId: 'listTrajectoryEvents',
      summary: 'Trajectory events municipalities sent to practices (dead ones by default), without their content',
      tag: 'Admin',
      roles: ['operator'],
      request: { query: trajectoryEventFilter },
      ok: {
        status: 200,
        description: 'trajectory events',
        content: json(z.object({ trajectoryEvents: z.array(s.practiceSendOutcome) })),
      },
    },
    {
      method: 'post',
      path: '/admin/v1/trajectory-events/{id}/replay',
      operationId: 'replayTrajectoryEvent',
      summary: 'Replay a municipality’s trajectory event to its practice (decided again before sending)',
      tag: 'Admin',
      roles: ['operator'],
      request: { params: idParam('trajectory event id') },
      ok: { status: 202, description: 'replayed', content: json(s.replayed) },
      errors: [409],
    },
    {
      method: 'post',
      path: '/municipality/v1/referrals/{id}/status',
      operationId: 'postReferralStatus',
      summary: 'A municipality’s status on a referral delivered to it, by the identifier it received',
      tag: 'Municipality',
      roles: ['municipality'],
      request: {
        params: referralKey,
        headers: idempotencyKeyHeader,
        body: { required: true, content: json(statusUpdateSchema) },
      },
      ok: { status: 202, description: 'stored', content: json(s.statusUpdateView) },
      repeat: {
        status: 200,
        description:
          'the update recorded, for a repeated Idempotency-Key with the same body, or for the current status sent ' +
          'again with the same day and details; nothing is sent to the practice again',
      },
      errors: [409, 422],
    },
    {
      method: 'get',
      path: '/municipality/v1/referrals/{id}/status',
      operationId: 'getReferralStatus',
      summary: 'The status updates sent on a referral, and its timeline with waiting times',
      tag: 'Municipality',
      roles: ['municipality', 'operator'],
      request: { params: referralKey },
      ok: {
        status: 200,
        description: 'status updates and timeline',
        content: json(
          z.object({
            referral: z.uuid().meta({
              description:
                'jeugdbrug’s id of the referral: its current event, the newest delivered to the caller (a correction ' +
                'by the practice is a new event); each status update names it too, and the event it was recorded on',
            }),
            statusUpdates: z.array(s.statusUpdateView),
            timeline: s.anyJson,
            cancelledByPractice: z
              .object({
                on: z.iso
                  .date()
                  .meta({ description: 'the day the practice cancelled the referral (Europe/Amsterdam)' }),
                reachedAt: z.iso.datetime().meta({ description: 'when the cancellation reached the municipality' }),
              })
              .nullable()
              .meta({ description: 'the practice’s cancellation that reached the municipality; null while none did' }),
            withdrawalNotice: z
              .object({
                madeAt: z.iso.datetime().meta({ description: 'when jeugdbrug made the withdrawal notice' }),
                noticeState: z.enum(['pending', 'delivered', 'dead', 'cancelled']).meta({
                  description:
                    'its delivery to the municipality: dead where the format carries no notice (isamenleving)',
                }),
              })
              .nullable()
              .meta({
                description:
                  'the child’s consent no longer covers the referral (withdrawn, recorded in error or an objection): ' +
                  'the withdrawal notice made for the version you received; null while none was (also meta.tag ' +
                  'consent-withdrawn on GET /fhir/ServiceRequest)',
              }),
          }),
        ),
      },
      errors: [409],
    },
    {
      method: 'post',
      path: '/municipality/v1/trajectories/events',
      operationId: 'postTrajectoryEvent',
      summary:
        'A trajectory event registered in the municipality’s system (intake, contact, referral, closure), for the ' +
        'child’s practice; only where the agreement names the municipality as system of record (else 403)',
      tag: 'Municipality',
      roles: ['municipality'],
      request: { body: { required: true, content: json(trajectoryEventSchema) } },
      ok: {
        status: 202,
        description:
          'stored, decided and (when permitted) on its way to the practice (409 when its eventId came before with ' +
          'other content)',
        content: json(s.trajectoryEventView),
      },
      repeat: {
        status: 200,
        description:
          'the first answer, for a repeated eventId with the same content (202 when the first was never ' +
          'acknowledged: answered 503 after it was stored)',
      },
      errors: [409, 422],
    },
    {
      method: 'post',
      path: '/fhir/Task',
      operationId: 'createTask',
      summary:
        'A referral’s status as a FHIR Task (focus: the ServiceRequest by identifier or reference), with the status ' +
        'route’s rules; answered as a FHIR create',
      tag: 'FHIR',
      roles: ['municipality'],
      request: {
        query: z.object({ _format: readQuery.shape._format, _pretty: readQuery.shape._pretty }),
        headers: idempotencyKeyHeader.extend({
          'if-none-exist': z
            .string()
            .optional()
            .meta({
              description:
                'identifier=[system|]value: a conditional create; a Task you sent before with that identifier is ' +
                'answered 200 and nothing is stored (412 when several match; any other search is a 400)',
            }),
          prefer: z
            .enum(['return=representation', 'return=minimal', 'return=OperationOutcome'])
            .optional()
            .meta({
              description:
                'the Task (the default), no body, or an OperationOutcome of severity information, with a warning at ' +
                `each element taken but not kept (${NOT_KEPT_TEXT}); named back in Preference-Applied`,
            }),
        }),
        body: {
          required: true,
          // Another fhirVersion in the media type is a 415 (fhirResourceBodyOf).
          content: Object.fromEntries(FHIR_JSON_MEDIA_TYPES.map((type) => [type, { schema: taskSchema }])),
        },
      },
      ok: {
        status: 201,
        description:
          'stored: the Task as stored and sent on to the practice (id and identifier: the status update’s id), ' +
          'meta.lastUpdated also as Last-Modified; Location: the Task’s read, GET /fhir/Task/{id}',
        content: fhirJson(s.fhirResource('Task')),
      },
      repeat: {
        status: 200,
        description:
          'nothing new stored: the Task stored the first time, for a repeated Idempotency-Key with the same body or ' +
          'the current status sent again with the same day and details (the day the Task says: executionPeriod.start, ' +
          'else lastModified, else authoredOn), or the Task an If-None-Exist found',
      },
      // 404: the referral the focus names is unknown or not delivered to the caller.
      errors: [404, 409, 412, 422],
    },
    {
      method: 'post',
      path: '/admin/v1/events/{id}/redecide',
      operationId: 'redecideEvent',
      summary: 'Decide a denied event again (sent when now permitted)',
      tag: 'Admin',
      roles: ['operator'],
      request: { params: idParam('jeugdbrug’s event id') },
      ok: {
        status: 202,
        description: 'the new decision',
        content: json(z.object({ id: z.uuid(), result: z.string() })),
      },
      errors: [409],
    },
    {
      method: 'post',
      path: '/admin/v1/events/{id}/remap',
      operationId: 'remapEvent',
      summary: 'Map a failed event again from its stored record, after its dialect was fixed',
      tag: 'Admin',
      roles: ['operator'],
      request: { params: idParam('jeugdbrug’s event id') },
      ok: {
        status: 202,
        description: 'mapped and valid: the event is received again and goes through the map stage as if new',
        content: json(z.object({ id: z.uuid(), result: z.literal('remapped') })),
      },
      errors: [409, 422],
    },
    {
      method: 'get',
      path: '/municipality/v1/monitoring',
      operationId: 'getMonitoringReport',
      summary: 'The monitoring report of a municipality and period (FHIR MeasureReport, or CSV)',
      tag: 'Municipality',
      roles: ['municipality', 'operator', 'auditor'],
      request: { query: monitoringQuerySchema },
      ok: {
        status: 200,
        description:
          'a summary MeasureReport, small cells withheld, also where another period or practice would give them back ' +
          'by difference; status pending while the period runs (cost over the days so far); 422 for a period that has ' +
          'not started; a municipality key only for whole quarters, half-years and years (else 422 naming from); an ' +
          "auditor or operator scoped to practices alone gets its practice's report; CSV with Accept: text/csv or " +
          '_format=csv',
        content: { ...fhirJson(s.fhirResource('MeasureReport')), 'text/csv': { schema: z.string() } },
      },
      errors: [406, 409, 422],
    },
    {
      method: 'get',
      path: '/municipality/v1/monitoring/chart.svg',
      operationId: 'getMonitoringChart',
      summary: 'An SVG bar chart of one group or stratifier of the monitoring report',
      tag: 'Municipality',
      roles: ['municipality', 'operator', 'auditor'],
      request: { query: monitoringQuerySchema },
      ok: { status: 200, description: 'the chart', content: { 'image/svg+xml': { schema: z.string() } } },
      // 406: a _format the report has no form in (Accept is not read: the chart is SVG).
      errors: [404, 406, 409, 422],
    },
    {
      method: 'post',
      path: '/municipality/v1/monitoring/$push',
      operationId: 'pushMonitoringReport',
      summary: 'Push the monitoring report of a period to the municipality’s destination, as a delivery',
      tag: 'Municipality',
      roles: ['municipality', 'operator'],
      request: { query: monitoringPushQuerySchema },
      ok: {
        status: 202,
        description: 'the delivery (retried, dead-lettered and replayed like any)',
        content: json(
          z.object({
            deliveryId: z.uuid(),
            eventId: z.uuid(),
            destination: z.string(),
            state: z.enum(['pending', 'delivered', 'dead', 'cancelled']),
            idempotencyKey: z.string().meta({ description: 'stable per municipality, period and report version' }),
            municipality: z.string(),
            period: z.string(),
            version: z.string().meta({ description: 'digest of the figures: a new version replaces the earlier' }),
            duplicate: z.boolean(),
          }),
        ),
      },
      repeat: { status: 200, description: 'the earlier delivery, when the same figures were pushed before' },
      // 422: the period has not ended yet (its report is pending; pushed once it has ended).
      errors: [409, 422],
    },
    {
      method: 'get',
      path: '/fhir/Measure/poh-jeugd-monitoring',
      operationId: 'getMonitoringMeasure',
      summary: 'The Measure the monitoring report reports on',
      tag: 'FHIR',
      roles: ALL_ROLES,
      request: { query: readQuery, headers: preferHandling },
      ok: { status: 200, description: 'the Measure', content: fhirJson(s.fhirResource('Measure')) },
      conditional: true,
    },
    {
      method: 'get',
      path: '/fhir/metadata',
      operationId: 'getCapabilityStatement',
      summary: 'CapabilityStatement',
      tag: 'FHIR',
      roles: 'public',
      request: {
        query: readQuery.extend({ mode: z.enum(['full']).optional() }),
        headers: preferHandling,
      },
      ok: {
        status: 200,
        description: 'what this FHIR server serves',
        content: fhirJson(s.fhirResource('CapabilityStatement')),
      },
    },
    ...fhirRoutes(providers),
    {
      method: 'get',
      path: '/audit/v1/verify',
      operationId: 'verifyAuditChains',
      summary: 'Recompute a hash chain (or all in scope)',
      tag: 'Audit',
      roles: ['practice', 'auditor', 'operator'],
      request: { query: verifyQuery },
      ok: {
        status: 200,
        description: 'the verdict, with how long audit rows are kept (`auditRetentionDays`: AUDIT_RETENTION_DAYS)',
        content: json(
          z.union([
            s.chainVerdict,
            z.object({ ok: z.boolean(), auditRetentionDays: z.number(), chains: z.array(s.chainVerdict) }),
          ]),
        ),
      },
    },
    {
      method: 'get',
      path: '/audit/v1/integrity-history',
      operationId: 'getAuditIntegrityHistory',
      summary: 'The chains’ changes of verdict (found broken, acknowledged, intact again), newest first, paged',
      tag: 'Audit',
      roles: ['practice', 'auditor', 'operator'],
      request: { query: integrityHistoryQuery },
      ok: {
        status: 200,
        description: 'a page of changes; `next`: the older page, `previous`: the newer one, when there are any',
        content: json(
          z.object({
            changes: z.array(
              z.looseObject({
                tenant: z.string(),
                verdict: z.enum(['broken', 'acknowledged', 'intact']),
                changedAt: z.string(),
              }),
            ),
            next: z.string().optional(),
            previous: z.string().optional(),
          }),
        ),
      },
    },
    {
      method: 'get',
      path: '/audit/v1/keys',
      operationId: 'getAuditKeys',
      summary: 'The public keys (JWK Set, Ed25519) that sign chain heads and exports; no API key needed',
      tag: 'Audit',
      roles: 'public',
      ok: {
        status: 200,
        description: 'a JWK Set; `audit-verify verify-export --keys` and `audit-verify verify --keys` read it',
        content: json(
          z.object({ keys: z.array(z.looseObject({ kty: z.string(), crv: z.string(), kid: z.string() })) }),
        ),
      },
    },
    {
      method: 'get',
      path: '/audit/v1/export',
      operationId: 'exportAuditChain',
      summary: 'Export a period of a chain, verifiable offline',
      tag: 'Audit',
      // Not a practice: the rows hold the auditors' reads, which its searches leave out (docs/audit.md).
      roles: ['auditor', 'operator'],
      request: { query: exportQuery },
      ok: {
        status: 200,
        description: 'NDJSON (a head line, then one AuditEvent row per line) or CSV',
        content: { 'application/x-ndjson': { schema: z.string() }, 'text/csv': { schema: z.string() } },
      },
      // The chain contradicts its signed checkpoint (rewritten or cut): its end is not signed, nothing exported.
      errors: [409],
    },
    {
      method: 'post',
      path: '/audit/v1/acknowledge',
      operationId: 'acknowledgeAuditChainBreak',
      summary:
        'Acknowledge the break verification found at row `brokenAtSeq`: recorded for good, the chain signed and ' +
        'exported again with the break stated',
      tag: 'Audit',
      roles: ['auditor'],
      request: {
        body: {
          required: true,
          content: { 'application/x-www-form-urlencoded': { schema: acknowledgeBody }, ...json(acknowledgeBody) },
        },
      },
      ok: {
        status: 201,
        description: 'the acknowledgement: rows, problem, who, when, the head',
        content: json(s.anyJson),
      },
      // 409: the chain is not broken at that row now (intact, or broken elsewhere first).
      errors: [403, 409, 415],
    },
    {
      method: 'get',
      path: '/audit/v1/overview',
      operationId: 'getChildOverview',
      summary: 'The child’s overview (NEN 7513): every AuditEvent about the child, as a search by it finds them',
      tag: 'Audit',
      roles: ALL_ROLES,
      request: { query: overviewQuery },
      ok: { status: 200, description: 'the overview', content: json(s.anyJson) },
      errors: [422],
    },
    {
      method: 'post',
      path: '/audit/v1/overview',
      operationId: 'searchChildOverview',
      summary: 'The child’s overview, the BSN in the body (a form or JSON), so that no URL or access log holds it',
      tag: 'Audit',
      roles: ALL_ROLES,
      request: {
        body: {
          required: true,
          content: { 'application/x-www-form-urlencoded': { schema: overviewQuery }, ...json(overviewQuery) },
        },
      },
      ok: { status: 200, description: 'the overview', content: json(s.anyJson) },
      errors: [415, 422],
    },
    {
      method: 'post',
      path: '/policy/v1/$explain',
      operationId: 'explainDecision',
      summary: 'The decision the policy engine would take now, and why',
      tag: 'Policy',
      roles: ['practice', 'auditor', 'operator'],
      request: { body: { required: true, content: json(explainSchema) } },
      ok: { status: 200, description: 'the decision and what it considered', content: json(s.anyJson) },
      errors: [422],
    },
  ];
}

export interface OpenApiOptions {
  readonly providers: readonly FhirResourceProvider[];
  readonly publicBaseUrl: string;
  readonly version: string;
}

/** The paths and methods of the API, for the 405 handler and the route test. */
export function documentedRoutes(providers: readonly FhirResourceProvider[]): { method: Method; path: string }[] {
  return routes(providers).map(({ method, path }) => ({ method, path }));
}

/** The OpenAPI 3.1 document, generated from the routes' zod schemas by @asteasolutions/zod-to-openapi. */
export function openApiDocument(opts: OpenApiOptions): ReturnType<OpenApiGeneratorV31['generateDocument']> {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description:
      'An API key (jb_…, also accepted as X-API-Key) or a JWT of a trusted issuer (JWT_ISSUERS_FILE) carrying iss, aud, ' +
      'exp, sub, a role claim (jeugdbrug_role) and the scope: jeugdbrug_practices (AGB codes) or ' +
      'jeugdbrug_municipalities (GM codes), an array or one space-separated string (README, "Tokens from an identity ' +
      'provider")',
  });
  for (const d of DIALECTS) {
    registry.registerComponent('schemas', dialectSchemaName(d.name), withoutSchemaKeyword(d.jsonSchema()));
  }
  for (const r of routes(opts.providers)) {
    const authenticated = r.roles !== 'public';
    const statuses = [
      ...(r.request?.query || r.request?.body || r.request?.params ? [400] : []),
      // Every authenticated route reads PostgreSQL or Redis (the rate limit) before it answers.
      ...(authenticated ? [401, 403, 429, 503] : []),
      ...(r.path.includes('{') ? [404] : []),
      ...(r.request?.body ? [413, 415] : []),
      405,
      ...(r.path.startsWith('/fhir/') ? [406] : []),
      500,
      ...(r.errors ?? []),
    ];
    const content = r.ok.content ? { content: r.ok.content } : {};
    const rateLimit = authenticated ? RATE_LIMIT_HEADERS : {};
    const okHeaders: Headers = {
      ...(r.conditional ? READ_HEADERS : {}),
      ...(r.ok.status === 201 ? LOCATION : {}),
      ...rateLimit,
    };
    const headers = Object.keys(okHeaders).length > 0 ? { headers: okHeaders } : {};
    const responses: Record<number, ResponseConfig> = {
      [r.ok.status]: { description: r.ok.description, ...content, ...headers },
    };
    if (r.conditional) {
      responses[304] = { description: 'not modified: If-None-Match or If-Modified-Since met the current answer' };
    }
    if (r.repeat) {
      responses[r.repeat.status] = { description: r.repeat.description, ...content, ...headers };
    }
    for (const status of [...new Set(statuses)].sort()) {
      const description = r.errorText?.[status] ?? ERROR_TEXT[status] ?? 'error';
      const errorHeaders: Headers = { ...ERROR_HEADERS[status], ...(status === 401 ? {} : rateLimit) };
      responses[status] = {
        description,
        content: fhirJson(s.operationOutcome),
        ...(Object.keys(errorHeaders).length > 0 ? { headers: errorHeaders } : {}),
      };
    }
    const roles = authenticated ? r.roles : [];
    registry.registerPath({
      method: r.method,
      path: r.path,
      operationId: r.operationId,
      summary: r.summary,
      description: authenticated ? `Roles: ${roles.join(', ')}.` : 'No authentication.',
      tags: [r.tag],
      security: authenticated ? [{ bearer: [] }] : [],
      'x-roles': roles,
      ...(r.request ? { request: r.request } : {}),
      responses,
    });
  }
  registerNotificationWebhook(registry);
  const doc = new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'jeugdbrug',
      version: opts.version,
      description:
        'Integration middleware between Dutch GP information systems and municipal social-domain systems, on FHIR ' +
        'R4. Errors are FHIR OperationOutcomes whose issue.expression names the field. The request bodies of ' +
        'POST /his/v1/events are described per dialect in components.schemas (GenericJsonBody, ' +
        'FhirBundleBody, CsvRow), as GET /his/v1/schema/{dialect} serves them.',
    },
    servers: [{ url: opts.publicBaseUrl }],
  });
  return doc;
}

/**
 * What a `webhook` destination receives (docs/delivery.md, "Signed webhook"), as OpenAPI 3.1 `webhooks` says what a
 * receiver implements: one POST per delivery attempt, signed as Standard Webhooks specifies, and what its answers do.
 */
function registerNotificationWebhook(registry: OpenAPIRegistry): void {
  const header = (description: string) => z.string().meta({ description });
  registry.registerWebhook({
    method: 'post',
    path: 'event-notification',
    operationId: 'receiveEventNotification',
    summary: "A delivery to a webhook destination: a FHIR notification Bundle, signed with the destination's secret",
    description:
      "Sent to the destination's baseUrl, once per attempt (delivery is at least once: drop repeats by webhook-id). " +
      'Verify the signature with a Standard Webhooks library over the raw body before parsing it. docs/delivery.md, ' +
      '"Signed webhook".',
    request: {
      headers: z.object({
        'webhook-id': header('the idempotency key: the same on every attempt and replay of one message'),
        'webhook-timestamp': header('Unix seconds of this attempt'),
        'webhook-signature': header('v1,<base64 HMAC-SHA256 over "<webhook-id>.<webhook-timestamp>.<body>">'),
        'Idempotency-Key': header('equal to webhook-id'),
      }),
      body: {
        content: fhirJson(
          z
            .looseObject({
              resourceType: z.literal('Bundle'),
              type: z.literal('history'),
              identifier: z.object({ system: z.string(), value: z.string() }),
              timestamp: z.string().meta({ description: "this attempt's notification, new on each attempt" }),
              entry: z.array(z.looseObject({})).meta({
                description:
                  'first the SubscriptionStatus as R4 Parameters (topic https://jeugdbrug.nl/fhir/SubscriptionTopic/' +
                  '<event type>, notification-event with event-number = the idempotency key, timestamp = when ' +
                  'the event occurred, focus), then every resource of the event with its deterministic id',
              }),
            })
            .meta({ id: 'EventNotification', description: 'R4 Subscriptions Backport notification Bundle' }),
        ),
      },
    },
    responses: {
      '2XX': { description: 'received, a repeat too (by webhook-id): the delivery is done' },
      409: { description: 'to a first attempt: a dead letter at once; to a repeat: retried (still being processed)' },
      429: { description: 'retried, after Retry-After when given' },
      503: { description: 'retried with backoff (as every 5xx, a timeout or a broken connection); counts to a pause' },
    },
  });
}

function dialectSchemaName(dialect: string): string {
  return { 'generic-json': 'GenericJsonBody', 'fhir-bundle': 'FhirBundleBody', csv: 'CsvRow' }[dialect] ?? dialect;
}

/**
 * The body of `POST /his/v1/events` per media type, from the dialects that read it: a JSON type's body is one of their
 * schemas; a text type's is text, whose records (rows) are described by the dialect's schema.
 */
function dialectBodies(): Record<string, { schema: object }> {
  const mediaTypes = [...new Set(DIALECTS.flatMap((d) => d.contentTypes))];
  return Object.fromEntries(
    mediaTypes.map((type): [string, { schema: object }] => {
      const refs = DIALECTS.filter((d) => d.contentTypes.includes(type)).map((d) => dialectRef(d.name));
      if (isJsonMediaType(type)) {
        return [type, { schema: refs.length === 1 ? refs[0]! : { oneOf: refs } }];
      }
      const rows = refs.map((r) => r.$ref.split('/').pop()).join(' or ');
      return [type, { schema: { type: 'string', description: `one event per row; a row as in ${rows}` } }];
    }),
  );
}

/** A reference to a dialect's body schema (a CSV row's for csv), registered from the dialect's jsonSchema(). */
function dialectRef(dialect: string): { $ref: string } {
  return { $ref: `#/components/schemas/${dialectSchemaName(dialect)}` };
}
