import { spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Redis } from 'ioredis';
import { freePort } from './product-process';
import { spawnRedisServer, waitForRedis, withRedis } from './redis-server';
import { waitFor } from './wait-for';

export interface ClusterNode {
  readonly port: number;
  readonly dir: string;
  child: ChildProcess;
}

const isRunning = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;

/** Resolves once the process has ended, also when it ended by a signal before this was called. */
const ended = (c: ChildProcess): Promise<void> =>
  isRunning(c) ? new Promise((r) => c.once('exit', () => r())) : Promise.resolve();

/** Answers whether nothing listens on `port` on 127.0.0.1. */
async function isFree(port: number): Promise<boolean> {
  const srv = net.createServer();
  return new Promise((resolve) => {
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/** A free port whose cluster bus port (port + 10000) is free too. */
async function freeClusterPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = await freePort();
    if (port < 55_000 && !taken.has(port) && !taken.has(port + 10_000) && (await isFree(port + 10_000))) {
      taken.add(port);
      taken.add(port + 10_000);
      return port;
    }
  }
}

/**
 * A real Redis Cluster from `redis-server` binaries on 127.0.0.1: `masters` primaries with `replicas` replicas each,
 * every node in a temp dir of its own with an append-only file, joined with `redis-cli --cluster create`. A short
 * node timeout makes a failover take seconds; replicas may always take over (validity factor 0), so a busy machine
 * that delays replication does not leave a slot without a primary.
 */
export class LocalRedisCluster {
  private constructor(readonly nodes: ClusterNode[]) {}

  static async start(masters = 3, replicas = 1): Promise<LocalRedisCluster> {
    const taken = new Set<number>();
    const nodes: ClusterNode[] = [];
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const port = await freeClusterPort(taken);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `jeugdbrug-cluster-${port}-`));
      nodes.push({ port, dir, child: LocalRedisCluster.spawnNode(port, dir) });
    }
    const cluster = new LocalRedisCluster(nodes);
    try {
      for (const n of nodes) {
        await waitForRedis(n.port);
      }
      const create = spawnSync(
        'redis-cli',
        [
          '--cluster',
          'create',
          ...nodes.map((n) => `127.0.0.1:${n.port}`),
          '--cluster-replicas',
          String(replicas),
          '--cluster-yes',
        ],
        { encoding: 'utf8', timeout: 60_000 },
      );
      if (create.status !== 0) {
        throw new Error(`redis-cli --cluster create failed: ${create.stdout}${create.stderr}`);
      }
      await cluster.waitUntilHealthy(masters);
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  }

  private static spawnNode(port: number, dir: string): ChildProcess {
    return spawnRedisServer(port, dir, [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      '2000',
      '--cluster-replica-validity-factor',
      '0',
    ]);
  }

  /** `host:port,…` of every node, as REDIS_CLUSTER_NODES takes it. */
  get seeds(): string {
    return this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',');
  }

  private command<T>(port: number, fn: (r: Redis) => Promise<T>): Promise<T> {
    return withRedis(port, fn);
  }

  /** `CLUSTER NODES` as seen from a live node: each node's port, flags and the primary it replicates. */
  async topology(): Promise<{ id: string; port: number; flags: string[]; primaryId: string }[]> {
    for (const n of this.nodes.filter((x) => isRunning(x.child))) {
      try {
        const text = await this.command(n.port, (r) => r.call('CLUSTER', 'NODES') as Promise<string>);
        return text
          .trim()
          .split('\n')
          .map((line) => {
            const [id = '', addr = '', flags = '', primaryId = ''] = line.split(' ');
            return { id, port: Number(/:(\d+)@/.exec(addr)?.[1]), flags: flags.split(','), primaryId };
          });
      } catch {
        // try the next node
      }
    }
    throw new Error('no cluster node answers');
  }

  /** Waits until every live node reports `cluster_state:ok` and `masters` primaries hold the slots. */
  async waitUntilHealthy(masters: number): Promise<void> {
    await waitFor(
      'the cluster to be healthy',
      async () => {
        const live = this.nodes.filter((n) => isRunning(n.child));
        for (const n of live) {
          const info = await this.command(n.port, (r) => r.call('CLUSTER', 'INFO') as Promise<string>);
          if (!info.includes('cluster_state:ok')) {
            return false;
          }
        }
        const primaries = (await this.topology()).filter(
          (t) => t.flags.includes('master') && !t.flags.includes('fail'),
        );
        return primaries.length === masters;
      },
      60_000,
      250,
    );
  }

  /** The node that is primary for the slot of `key` now. */
  async primaryFor(key: string): Promise<ClusterNode> {
    const live = this.nodes.find((n) => isRunning(n.child));
    if (!live) {
      throw new Error('no cluster node is running');
    }
    const slot = await this.command(live.port, (r) => r.call('CLUSTER', 'KEYSLOT', key) as Promise<number>);
    const slots = await this.command(
      live.port,
      (r) => r.call('CLUSTER', 'SLOTS') as Promise<[number, number, [string, number, string]][]>,
    );
    const range = slots.find(([from, to]) => slot >= from && slot <= to);
    const node = this.nodes.find((n) => n.port === range?.[2][1]);
    if (!node) {
      throw new Error(`no primary for slot ${slot}`);
    }
    return node;
  }

  /** Waits until the cluster has marked `node` failed and promoted one of its replicas, and is healthy again. */
  async waitForFailover(node: ClusterNode, masters: number): Promise<void> {
    await waitFor(
      `the cluster to mark :${node.port} failed`,
      async () => (await this.topology()).find((t) => t.port === node.port)?.flags.includes('fail'),
      60_000,
      250,
    );
    await this.waitUntilHealthy(masters);
  }

  /** The ports of the live nodes that hold at least one key matching `pattern` (each node scanned on its own). */
  async nodesHolding(pattern: string): Promise<number[]> {
    const ports: number[] = [];
    for (const n of this.nodes.filter((x) => isRunning(x.child))) {
      const [, keys] = await this.command(n.port, (r) => r.scan('0', 'MATCH', pattern, 'COUNT', 10_000));
      if (keys.length > 0) {
        ports.push(n.port);
      }
    }
    return ports;
  }

  /** Kills a node outright (no shutdown, no final AOF write). */
  async kill(node: ClusterNode): Promise<void> {
    node.child.kill('SIGKILL');
    await ended(node.child);
  }

  async stop(): Promise<void> {
    for (const n of this.nodes) {
      n.child.kill('SIGKILL');
    }
    await Promise.all(this.nodes.map((n) => ended(n.child)));
    for (const n of this.nodes) {
      fs.rmSync(n.dir, { recursive: true, force: true });
    }
  }
}
