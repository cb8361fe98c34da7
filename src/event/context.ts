import type { Logger } from 'pino';
import type { AuditWriter } from '../audit/writer';
import type { Config } from '../kernel/config';
import type { Registry } from './registry';
import type { Metrics } from '../kernel/metrics';
import type { Db } from '../kernel/db';
import type { PayloadCipher } from '../kernel/payload-crypto';
import type { QueueSet } from './queues';

/** What the API handlers and the workers share: handed around explicitly, so tests can run several side by side. */
export interface PipelineContext {
  readonly config: Config;
  readonly db: Db;
  readonly registry: Registry;
  readonly cipher: PayloadCipher;
  readonly audit: AuditWriter;
  readonly queues: QueueSet;
  readonly log: Logger;
  readonly metrics: Metrics;
}
