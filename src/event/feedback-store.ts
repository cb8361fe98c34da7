import type { Task } from '@medplum/fhirtypes';
import type { ReferralStatus } from '../../mappings/practice/to-task';
import type { Db } from '../kernel/db';
import { recordAttemptOn, type AttemptColumns, type AttemptOutcome } from './delivery-store';

export type FeedbackState = 'pending' | 'delivered' | 'dead';

export interface FeedbackRow extends AttemptColumns<FeedbackState> {
  id: string;
  inbox_id: string;
  tenant: string;
  municipality: string;
  status: ReferralStatus;
  service_request_status: string;
  task: Task;
  request_key: string | null;
  submitted_by: string;
}

export interface NewFeedback {
  id: string;
  inboxId: string;
  tenant: string;
  municipality: string;
  status: ReferralStatus;
  serviceRequestStatus: string;
  task: Task;
  requestKey: string | undefined;
  submittedBy: string;
  idempotencyKey: string;
}

/**
 * Stores a status update. With the municipality's own request key, a repeated request is one update: the second
 * call returns the first row and `duplicate: true`.
 */
export async function insertFeedback(db: Db, f: NewFeedback): Promise<{ row: FeedbackRow; duplicate: boolean }> {
  const [inserted] = await db.query<FeedbackRow>(
    `INSERT INTO feedback (id, inbox_id, tenant, municipality, status, service_request_status, task, request_key,
       submitted_by, idempotency_key, state)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'pending')
     ON CONFLICT (inbox_id, request_key) DO NOTHING RETURNING *`,
    [
      f.id,
      f.inboxId,
      f.tenant,
      f.municipality,
      f.status,
      f.serviceRequestStatus,
      JSON.stringify(f.task),
      f.requestKey ?? null,
      f.submittedBy,
      f.idempotencyKey,
    ],
  );
  if (inserted) {
    return { row: inserted, duplicate: false };
  }
  const [existing] = await db.query<FeedbackRow>('SELECT * FROM feedback WHERE inbox_id = $1 AND request_key = $2', [
    f.inboxId,
    f.requestKey ?? null,
  ]);
  if (!existing) {
    throw new Error(`feedback for ${f.inboxId} vanished`);
  }
  return { row: existing, duplicate: true };
}

export async function tryGetFeedback(db: Db, id: string): Promise<FeedbackRow | undefined> {
  const [row] = await db.query<FeedbackRow>('SELECT * FROM feedback WHERE id = $1', [id]);
  return row;
}

export async function listFeedbackOf(db: Db, inboxId: string): Promise<FeedbackRow[]> {
  return db.query<FeedbackRow>('SELECT * FROM feedback WHERE inbox_id = $1 ORDER BY created_at, id', [inboxId]);
}

/** Records the outcome of one attempt to send a status update (see `recordAttemptOn`). */
export function recordFeedbackAttempt(db: Db, id: string, a: AttemptOutcome<FeedbackState>): Promise<boolean> {
  return recordAttemptOn(db, 'feedback', id, a);
}

/** Gives a dead feedback delivery a new round; undefined when it is not dead. */
export async function reviveFeedback(db: Db, id: string): Promise<FeedbackRow | undefined> {
  const [row] = await db.query<FeedbackRow>(
    `UPDATE feedback SET state = 'pending', round = round + 1, attempts = 0, updated_at = now()
     WHERE id = $1 AND state = 'dead' RETURNING *`,
    [id],
  );
  return row;
}
