import type { Etcd3 } from 'etcd3';

type KeepAliveStream = Awaited<ReturnType<Etcd3['leaseClient']['leaseKeepAlive']>>;

/**
 * One long-lived LeaseKeepAlive stream for every renewal of this process. etcd has no unary
 * keepalive call; opening a stream per renewal (as etcd3's `keepaliveOnce` does) would cost a
 * round trip more at thousands of renewals per second. Answers come back in request order per
 * lease id.
 */
export class KeepAlives {
  private stream: Promise<KeepAliveStream> | undefined;
  private readonly waiting = new Map<string, ((ttl: number) => void)[]>();
  private readonly failing = new Set<(error: Error) => void>();

  constructor(
    private readonly etcd: Etcd3,
    private readonly timeoutMs = 5_000,
  ) {}

  /** Renews a lease; resolves with its remaining TTL in seconds (≤ 0: the lease is gone). */
  async keepAlive(leaseId: string): Promise<number> {
    const stream = await this.open();
    return new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => fail(new Error(`etcd did not answer a lease keepalive within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      timer.unref();
      const done = (ttl: number) => {
        clearTimeout(timer);
        this.failing.delete(fail);
        resolve(ttl);
      };
      const fail = (error: Error) => {
        clearTimeout(timer);
        this.failing.delete(fail);
        const list = this.waiting.get(leaseId);
        const index = list?.indexOf(done) ?? -1;
        if (list && index >= 0) list.splice(index, 1);
        reject(error);
      };
      this.failing.add(fail);
      let list = this.waiting.get(leaseId);
      if (!list) {
        list = [];
        this.waiting.set(leaseId, list);
      }
      list.push(done);
      stream.write({ ID: leaseId });
    });
  }

  close(): void {
    const stream = this.stream;
    this.stream = undefined;
    stream?.then((s) => s.end()).catch(() => {});
    this.broken(new Error('keepalive stream closed'));
  }

  private open(): Promise<KeepAliveStream> {
    if (!this.stream) {
      const opening = this.etcd.leaseClient.leaseKeepAlive().then((stream) => {
        stream.on('data', (res: { ID: string; TTL: string }) => {
          const list = this.waiting.get(String(res.ID));
          const next = list?.shift();
          if (list && list.length === 0) this.waiting.delete(String(res.ID));
          next?.(Number(res.TTL));
        });
        const lost = (error: Error) => {
          if (this.stream === opening) this.stream = undefined;
          this.broken(error);
        };
        stream.on('error', lost);
        stream.on('end', () => lost(new Error('keepalive stream ended')));
        return stream;
      });
      opening.catch(() => {
        if (this.stream === opening) this.stream = undefined;
      });
      this.stream = opening;
    }
    return this.stream;
  }

  private broken(error: Error): void {
    for (const fail of [...this.failing]) fail(error);
    this.waiting.clear();
  }
}
