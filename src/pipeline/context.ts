import type { Logger } from 'pino';
import type { AuditWriter } from '../audit/writer';
import type { Config } from '../config/config';
import type { Registry } from '../config/registry';
import type { Metrics } from '../metrics';
import type { Db } from '../store/db';
import type { PayloadCipher } from '../store/payload-crypto';
import type { QueueSet } from './queue-set';

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
