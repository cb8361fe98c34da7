import { z } from 'zod';
import type { QueueSet } from './queues';

/**
 * "Sent once means sent once": the fact that a receiver accepted a delivery (2xx) is kept in Redis, keyed by the
 * delivery's idempotency key, before anything is written to PostgreSQL. When recording the outcome then fails (the
 * database is restarting), the job is retried, finds this note and only records; it never sends again. The note
 * outlives the job itself (a job that used up its attempts is replaced by the reconciler with a fresh one), so it
 * lives under its own key rather than in the job's data.
 *
 * What is kept is what the disclosure's audit needs besides the event itself: the HTTP status, the ids of the
 * resources sent, the agreement and consent ids. No personal data: Redis never holds any.
 */
const acceptedSendSchema = z.object({
  status: z.number().int(),
  at: z.string(),
  purpose: z.string(),
  resources: z.array(z.string()),
  agreement: z.object({ id: z.string(), version: z.number() }).optional(),
  consentIds: z.array(z.string()),
  /** Set once the disclosure's AuditEvent is durable, so a second recording does not audit it twice. */
  audited: z.boolean().default(false),
});

export type AcceptedSend = z.infer<typeof acceptedSendSchema>;

/** As long as a failed deliver job is kept (queues.ts): longer than any retry or reconcile could take. */
const KEEP_S = 30 * 24 * 3600;

const keyOf = (queues: QueueSet, idempotencyKey: string): string => `${queues.prefix}:accepted:${idempotencyKey}`;

/** Notes that the receiver accepted the delivery with this idempotency key. Throws when Redis does not answer. */
export async function rememberAcceptedSend(
  queues: QueueSet,
  idempotencyKey: string,
  accepted: AcceptedSend,
): Promise<void> {
  const client = await queues.timed(queues.map.getBackend().connection.client, 'redis client');
  await queues.timed(
    client.set(keyOf(queues, idempotencyKey), JSON.stringify(accepted), { EX: KEEP_S }),
    'remember accepted send',
  );
}

/** The note of an earlier accepted send of this delivery, if any. Throws when Redis does not answer. */
export async function tryGetAcceptedSend(queues: QueueSet, idempotencyKey: string): Promise<AcceptedSend | undefined> {
  const client = await queues.timed(queues.map.getBackend().connection.client, 'redis client');
  const raw = await queues.timed(client.get(keyOf(queues, idempotencyKey)), 'read accepted send');
  if (raw === null) {
    return undefined;
  }
  const parsed = acceptedSendSchema.safeParse(JSON.parse(raw) as unknown);
  return parsed.success ? parsed.data : undefined;
}

/** Drops the note once the delivery is recorded in PostgreSQL; a failure only leaves it to expire. */
export async function forgetAcceptedSend(queues: QueueSet, idempotencyKey: string): Promise<void> {
  const client = await queues.timed(queues.map.getBackend().connection.client, 'redis client');
  await queues.timed(client.del(keyOf(queues, idempotencyKey)), 'forget accepted send');
}
