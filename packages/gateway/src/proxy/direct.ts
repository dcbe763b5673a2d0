import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Admitted } from '../features/admit.js';
import type { Gateway } from '../gateway.js';
import type { CompiledRoute, Upstream } from '../routes/compile.js';
import { type AttemptState, type UpstreamPool, upstreamError } from '../upstreams/upstreams.js';
import { abortAtDeadline, deadlineExceeded } from './deadline.js';
import { type HeadListener, UpstreamExchange } from './exchange.js';
import { answerFailure } from './failure.js';
import type { Http1DispatchOptions } from './http1/pool.js';

/** What a direct attempt uses of the gateway. */
export type DirectHost = Pick<Gateway, 'logger' | 'metrics' | 'relay'>;

/**
 * One attempt to a URL target under a deadline timer, driven by callbacks: the path of a route
 * whose pipeline is the timeout alone (the plain route), with no policy engine and no promise
 * chain per request. The answers are the general path's: the head is relayed (an upstream's own
 * 5xx too), a failure becomes the route's fallback or a 502/504 problem.
 */
export class DirectAttempt implements HeadListener {
  private timer: NodeJS.Timeout | undefined;
  private sent = 0;

  constructor(
    private readonly host: DirectHost,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly route: CompiledRoute,
    private readonly leg: Upstream & { kind: 'url' },
    private readonly state: AttemptState,
    private readonly requestId: string,
    private readonly admitted: Admitted | undefined,
  ) {}

  /** Sends the request through `pool`; the head must arrive by `deadline` (Unix ms). */
  start(pool: UpstreamPool, options: Http1DispatchOptions, deadline: number): void {
    const left = deadline - Date.now();
    if (left <= 0) {
      this.onFailure(deadlineExceeded(deadline));
      return;
    }
    const exchange = new UpstreamExchange(this);
    this.state.current = exchange;
    this.timer = setTimeout(abortAtDeadline, left, this.state, deadline);
    this.sent = performance.now();
    pool.dispatch(options, exchange);
  }

  onHead(exchange: UpstreamExchange): void {
    clearTimeout(this.timer);
    this.host.metrics?.upstreamDuration(this.leg.key, (performance.now() - this.sent) / 1000);
    this.host.relay(this.res, this.route, exchange, this.requestId, this.admitted);
  }

  onFailure(error: Error): void {
    clearTimeout(this.timer);
    const state = this.state;
    answerFailure(
      this.host.logger,
      this.req,
      this.res,
      this.route,
      state,
      upstreamError(error, this.leg.key, state),
      this.requestId,
      this.admitted?.extra,
    );
  }
}
