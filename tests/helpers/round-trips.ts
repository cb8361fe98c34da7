import pg from 'pg';
import { Redis, Cluster } from 'ioredis';

/** One round trip the process started: a PostgreSQL statement or a Redis command (a BullMQ script by its name). */
export interface RoundTrip {
  readonly to: 'postgres' | 'redis';
  /** The statement's first words, or the Redis command (`evalsha` named by its script: `moveToFinished`, …). */
  readonly what: string;
  /** Commands sent in this one write: more than one for an ioredis pipeline (BullMQ's `addBulk`). */
  commands: number;
}

/** What `countRoundTrips` noted, and a tally by `what`. */
export interface RoundTrips {
  readonly trips: RoundTrip[];
  tally(filter?: (t: RoundTrip) => boolean): Record<string, number>;
  stop(): void;
}

type SendCommand = (command: { name: string; args: unknown[] }, ...rest: unknown[]) => unknown;

/**
 * Notes every statement node-postgres sends and every command ioredis sends, in this process, until `stop`: the
 * round trips of a piece of the pipeline, counted whatever the machine's load (a group's statement is one). A BullMQ
 * script is named by the command BullMQ defined it as, without its key count (`moveToActive`, `addStandardJob`).
 * The commands of one pipeline are one round trip (`commands` says how many it carried); those of a blocking
 * connection count as well; `keep` leaves out what a test does not ask about.
 */
export function countRoundTrips(keep: (t: RoundTrip) => boolean = () => true): RoundTrips {
  const trips: RoundTrip[] = [];
  const note = (t: RoundTrip) => {
    if (keep(t)) {
      trips.push(t);
    }
  };
  const clientProto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const clientQuery = clientProto.query;
  clientProto.query = function (this: pg.Client, ...args: unknown[]) {
    const first = args[0];
    const text = typeof first === 'string' ? first : (first as { text?: unknown } | undefined)?.text;
    if (typeof text === 'string') {
      note({ to: 'postgres', what: text.replace(/\s+/g, ' ').trim().slice(0, 60), commands: 1 });
    }
    return clientQuery.apply(this, args);
  };
  // The pipeline a command was sent in (ioredis passes the pipeline's own stream): one round trip for all of it.
  let lastPipeline: { stream: unknown; trip: RoundTrip } | undefined;
  const originals = [Redis.prototype, Cluster.prototype].map((proto) => {
    const send = (proto as unknown as { sendCommand: SendCommand }).sendCommand;
    (proto as unknown as { sendCommand: SendCommand }).sendCommand = function (
      this: { scriptsSet?: Record<string, { sha: string }> },
      command,
      ...rest
    ) {
      let what = command.name;
      if (what === 'evalsha') {
        const sha = command.args[0];
        const named = Object.entries(this.scriptsSet ?? {}).find(([, s]) => s.sha === sha)?.[0];
        // BullMQ names its scripts `<name>:<version>` (older ones `<name>-<key count>`).
        what = named ? named.replace(/[:-][\d.]+$/, '') : 'evalsha';
      }
      const stream = rest[0];
      if (stream !== undefined && lastPipeline?.stream === stream && lastPipeline.trip.what === what) {
        lastPipeline.trip.commands++;
      } else {
        const trip: RoundTrip = { to: 'redis', what, commands: 1 };
        note(trip);
        lastPipeline = stream !== undefined ? { stream, trip } : undefined;
      }
      return send.call(this, command, ...rest);
    };
    return { proto, send };
  });
  return {
    trips,
    tally(filter = () => true) {
      const out: Record<string, number> = {};
      for (const t of trips.filter(filter)) {
        out[`${t.to} ${t.what}`] = (out[`${t.to} ${t.what}`] ?? 0) + 1;
      }
      return out;
    },
    stop() {
      clientProto.query = clientQuery;
      for (const { proto, send } of originals) {
        (proto as unknown as { sendCommand: SendCommand }).sendCommand = send;
      }
    },
  };
}
