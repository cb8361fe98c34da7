import type { Logger } from 'pino';
import type { AuditWriter } from '../audit/writer';
import type { HeadSigner, SigningKeys } from '../audit/signed-heads';
import type { BuildInfo } from '../kernel/build-info';
import type { Config } from '../kernel/config';
import type { SharedConcurrencyLimit } from '../kernel/shared-concurrency-limit';
import type { Registry } from './registry';
import type { Metrics } from '../kernel/metrics';
import type { Db } from '../kernel/db';
import type { OutageLog } from '../kernel/outage';
import type { PayloadCipher } from '../kernel/payload-crypto';
import type { QueueSet } from './queues';

/** What the API handlers and the workers share: handed around explicitly, so tests can run several side by side. */
export interface PipelineContext {
  readonly config: Config;
  /** Which build this process is (version and commit), read once at start-up. */
  readonly build: BuildInfo;
  readonly db: Db;
  readonly registry: Registry;
  readonly cipher: PayloadCipher;
  readonly audit: AuditWriter;
  readonly queues: QueueSet;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** Logs an outage of PostgreSQL or Redis once when it starts and once when it ends. */
  readonly outages: OutageLog;
  /** The audit chain heads' signing keys and signer (checkpoints outside PostgreSQL). */
  readonly signedHeads: { readonly keys: SigningKeys; readonly signer: HeadSigner };
  /**
   * The monitoring reports computed at once for requests, by every API process on the same Redis and QUEUE_PREFIX
   * together (MONITORING_REPORT_CONCURRENCY). Absent in a `ROLE=worker` process: it answers no request for a report,
   * and the scheduled pushes it makes are not limited.
   */
  readonly monitoringReports?: SharedConcurrencyLimit;
}
