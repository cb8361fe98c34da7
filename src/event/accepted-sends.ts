import { z } from 'zod';
import type { QueueSet } from './queues';
import { grouped, perResource, type GroupCall } from './stage-batch';

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
const agreementSchema = z.object({ id: z.string(), version: z.number(), digest: z.string().optional() });

const acceptedSendSchema = z.object({
  status: z.number().int(),
  at: z.string(),
  purpose: z.string(),
  resources: z.array(z.string()),
  agreement: agreementSchema.optional(),
  /**
   * A withdrawal notice: the agreements of the disclosures it covers (`agreement` is the first of them), which may
   * be more than one. Absent from notes written before, and for a child's event.
   */
  agreements: z.array(agreementSchema).optional(),
  consentIds: z.array(z.string()),
  /** The version of each consent the decision read (migration 087); absent from notes of older builds. */
  consentVersions: z.record(z.string(), z.number().int()).optional(),
  /** The child's consents as the decision read them (`<id>@<version>`), to see whether they changed by the send's end. */
  consentsSeen: z.array(z.string()).optional(),
  /** Set once the disclosure's AuditEvent is durable, so a second recording does not audit it twice. */
  audited: z.boolean().default(false),
});

export type AcceptedSend = z.infer<typeof acceptedSendSchema>;

/** As long as a failed deliver job is kept (queues.ts): longer than any retry or reconcile could take. */
const KEEP_S = 30 * 24 * 3600;

const keyOf = (queues: QueueSet, idempotencyKey: string): string => `${queues.prefix}:accepted:${idempotencyKey}`;

/** One Redis command on a note: read it, write it, or drop it. */
type NoteCommand =
  | { readonly op: 'get'; readonly key: string }
  | { readonly op: 'set'; readonly key: string; readonly value: string }
  | { readonly op: 'del'; readonly key: string };

/**
 * A group's commands as one script: one command for Redis and for the process, where a pipeline would cost the
 * process about as much as the round trips it saves (ioredis copies every script BullMQ defined into each pipeline).
 * KEYS are the notes; ARGV[1] how long a written note is kept, then per key its command and the note to write ('' for
 * a read or a drop). Answers per key: the note read, or nil.
 */
const NOTE_COMMANDS = `
local answers = {}
for i, key in ipairs(KEYS) do
  local op = ARGV[2 * i]
  if op == 'get' then
    answers[i] = redis.call('GET', key)
  elseif op == 'set' then
    redis.call('SET', key, ARGV[2 * i + 1], 'EX', ARGV[1])
    answers[i] = false
  else
    redis.call('DEL', key)
    answers[i] = false
  end
end
return answers
`;

/**
 * The drops that wait to travel with the next note command of this process (see forgetAcceptedSend), and the timer
 * that sends them on their own when no command comes.
 */
interface PendingDrops {
  keys: string[];
  timer: NodeJS.Timeout | undefined;
}

const pendingDropsOf = perResource((_queues: QueueSet): PendingDrops => ({ keys: [], timer: undefined }));

/** How long a drop waits for another note command to travel with before it goes alone. */
const DROP_WITHIN_MS = 1000;

/**
 * Runs the commands as one script, after the drops waiting to go: those were asked for earlier, so they run first.
 * When the script fails the drops wait again (a drop made twice is harmless).
 */
async function runCommands(queues: QueueSet, commands: readonly NoteCommand[]): Promise<(string | null)[]> {
  const client = await queues.redisClient();
  // Taken right before the script is sent, so a script sent after it can never run before these drops.
  const pending = pendingDropsOf(queues);
  clearTimeout(pending.timer);
  pending.timer = undefined;
  const drops = pending.keys.splice(0).map((key): NoteCommand => ({ op: 'del', key }));
  const all = [...drops, ...commands];
  let replies: unknown;
  try {
    replies = await client.eval(
      NOTE_COMMANDS,
      all.length,
      ...all.map((c) => c.key),
      KEEP_S,
      ...all.flatMap((c) => [c.op, c.op === 'set' ? c.value : '']),
    );
  } catch (err) {
    waitToDrop(
      queues,
      drops.map((d) => d.key),
    );
    throw err;
  }
  if (!Array.isArray(replies) || replies.length !== all.length) {
    throw new Error('the notes script answered in an unexpected shape');
  }
  const answers = replies.slice(drops.length);
  return commands.map((c, i) => (c.op === 'get' && typeof answers[i] === 'string' ? answers[i] : null));
}

/** One command on its own, as itself; with the drops waiting to go, in one script with them. */
async function runCommand(queues: QueueSet, c: NoteCommand): Promise<string | null> {
  if (pendingDropsOf(queues).keys.length > 0) {
    const [answer] = await runCommands(queues, [c]);
    return answer ?? null;
  }
  const client = await queues.redisClient();
  switch (c.op) {
    case 'get':
      return client.get(c.key);
    case 'set':
      await client.set(c.key, c.value, { EX: KEEP_S });
      return null;
    case 'del':
      await client.del(c.key);
      return null;
  }
}

/** Adds drops to those waiting to go, and makes sure they go within DROP_WITHIN_MS even when no command comes. */
function waitToDrop(queues: QueueSet, keys: readonly string[]): void {
  const pending = pendingDropsOf(queues);
  pending.keys.push(...keys);
  if (pending.keys.length > 0 && !pending.timer) {
    pending.timer = setTimeout(() => {
      pending.timer = undefined;
      // A failure leaves them waiting for the next command; the notes expire in any case.
      flushAcceptedSendDrops(queues).catch(() => undefined);
    }, DROP_WITHIN_MS);
    // Waiting drops must not keep the process alive; shutdown sends them (flushAcceptedSendDrops).
    pending.timer.unref();
  }
}

/**
 * Every deliver job reads the note before it sends and writes it twice after, three commands per delivery, plus the
 * drop once the outcome is recorded, which travels with a later command (forgetAcceptedSend). The commands that the
 * jobs of one process make at about the same moment go to Redis as one script (stage-batch.ts: alone at low load,
 * in groups under load); each is still awaited where it was, so the order the note's guarantee rests on (noted
 * before the audit, audited before the outcome is recorded) is unchanged. The keys share the queue prefix's hash
 * tag, so on a Redis Cluster a group lives on one shard.
 */
const noteCommand = perResource((queues: QueueSet): GroupCall<NoteCommand, string | null> =>
  grouped(
    (commands) => runCommands(queues, commands),
    (c) => runCommand(queues, c),
    { maxInFlight: 2, collect: 'turn' },
  ),
);

/** Notes that the receiver accepted the delivery with this idempotency key. Throws when Redis does not answer. */
export async function rememberAcceptedSend(
  queues: QueueSet,
  idempotencyKey: string,
  accepted: AcceptedSend,
): Promise<void> {
  await queues.timed(
    noteCommand(queues)({ op: 'set', key: keyOf(queues, idempotencyKey), value: JSON.stringify(accepted) }),
    'remember accepted send',
  );
}

/** The note of an earlier accepted send of this delivery, if any. Throws when Redis does not answer. */
export async function tryGetAcceptedSend(queues: QueueSet, idempotencyKey: string): Promise<AcceptedSend | undefined> {
  const raw = await queues.timed(
    noteCommand(queues)({ op: 'get', key: keyOf(queues, idempotencyKey) }),
    'read accepted send',
  );
  if (raw === null) {
    return undefined;
  }
  const parsed = acceptedSendSchema.safeParse(JSON.parse(raw) as unknown);
  return parsed.success ? parsed.data : undefined;
}

/**
 * Drops the note once the delivery is recorded in PostgreSQL. The drop waits to travel with this process's next note
 * command (at a steady rate, the next delivery's read), or goes alone within DROP_WITHIN_MS: a recorded delivery is
 * no longer pending, and its jobs stop before reading a note, so a note that outlives its delivery for that moment
 * changes nothing, and the drop costs no round trip of its own. Returns at once; a drop that fails waits for the next
 * command, and the note expires in any case.
 */
export function forgetAcceptedSend(queues: QueueSet, idempotencyKey: string): void {
  waitToDrop(queues, [keyOf(queues, idempotencyKey)]);
}

/**
 * Drops the note of a delivery at once, and waits for it: before a delivered delivery is sent again on purpose
 * (redeliver.ts), whose note, had its lazy drop been lost, would have the new round record instead of send. Throws
 * when Redis does not answer.
 */
export async function dropAcceptedSend(queues: QueueSet, idempotencyKey: string): Promise<void> {
  await queues.timed(noteCommand(queues)({ op: 'del', key: keyOf(queues, idempotencyKey) }), 'drop accepted send');
}

/** Sends the drops that wait for a command now: at shutdown, before Redis is closed. */
export async function flushAcceptedSendDrops(queues: QueueSet): Promise<void> {
  if (pendingDropsOf(queues).keys.length > 0) {
    await queues.timed(runCommands(queues, []), 'drop accepted-send notes');
  }
}
