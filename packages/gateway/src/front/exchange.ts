import type { IncomingHttpHeaders } from 'node:http';
import { errorToProblem, Headers } from '@flotilla/core';
import type { BalancerPick } from '@flotilla/discovery';
import {
  isAbortError,
  isFailure,
  isIdempotentMethod,
  type Retry,
  type RetryCall,
} from '@flotilla/resilience';
import { preflightHeaders, redirectHeaders, staticHeaders } from '../answers.js';
import type { Claims } from '../auth/outcome.js';
import type { RequestLike } from '../auth/request.js';
import type { CompositeAction } from '../composite/compile.js';
import { composeAnswer } from '../composite/respond.js';
import { UpstreamStatusFailure } from '../errors.js';
import type { RouteFeatures } from '../features/build.js';
import type { Gateway } from '../gateway.js';
import { hasRequestBody } from '../proxy/body.js';
import { clientClosed } from '../proxy/client-closed.js';
import { attemptDeadline, attemptTimedOut, deadlineExceeded, deadlineFrom } from '../proxy/deadline.js';
import { forwardedRequestHeaders } from '../proxy/headers.js';
import type { Http1Controller, Http1DispatchOptions, Http1Handler } from '../proxy/http1/pool.js';
import { nextTraceparent, requestIdOf } from '../proxy/ids.js';
import type { CompiledRoute, RouteAction, Upstream } from '../routes/compile.js';
import { applyHeaderOps } from '../routes/header-ops.js';
import type { RouteMatch } from '../routes/table.js';
import type { ResponseCache } from '../traffic/cache.js';
import {
  type AttemptState,
  type ServiceUpstream,
  type UpstreamPool,
  upstreamError,
} from '../upstreams/upstreams.js';
import { AttemptAdmission } from './admission.js';
import { FrontAnswer } from './answer.js';
import { CacheFill } from './cache-fill.js';
import type { DeadlineList, DeadlineLists, Due } from './deadlines.js';
import { DeferredAttempt } from './deferred-attempt.js';
import type { FrontRequest } from './request-head.js';

/** What an exchange uses of the gateway. */
export type FrontHost = Pick<
  Gateway,
  'logger' | 'metrics' | 'upstreams' | 'pickLeg' | 'upstreamPath' | 'featuresOf' | 'admission'
>;

/** What an exchange uses of its client connection. */
export interface FrontSink {
  readonly remoteAddress: string | undefined;
  /** `Connection`/`Keep-Alive` header lines for the answer being written now. */
  connectionLines(): string;
  /** The connection ends after the answer being written (said before its head is). */
  closeAfterAnswer(): void;
  /** Writes bytes to the client; false when the socket's buffer is full (wait for `onDrain`). */
  write(data: string | Buffer): boolean;
  cork(): void;
  uncork(): void;
  /** Calls `resume` once the client's socket drained. */
  onDrain(resume: () => void): void;
  /** The answer is complete: the next request may be read. */
  finished(exchange: FrontExchange): void;
  /** The answer cannot be completed: the connection is dropped. */
  destroy(): void;
}

/**
 * One request the fast-path front serves itself (its body, if any, already whole) on a proxy
 * route (`Gateway.frontMatch`): a CORS preflight answered by the route's policy, else checked by
 * the route's auth and rate limit if it has them, answered from the route's cache if it holds
 * the answer, else sent through the upstream's pool under the route's deadline, each attempt
 * admitted by the upstream's breaker and bulkhead, and retried as the route's retry policy
 * decides. The answer is the one the node:http path gives (the upstream's head and body with the
 * gateway's headers, a cached answer, a preflight's 204, a 401/403/429/502/503/504 problem, or
 * the fallback), written straight to the client's socket by its {@link FrontAnswer}; the
 * exchange decides which answer it is and runs the attempts.
 */
export class FrontExchange implements Http1Handler, Due {
  /** The attempt in flight's deadline: its per-try timeout's, or the request's. */
  deadline = 0;
  previousDue: Due | undefined;
  nextDue: Due | undefined;
  dueList: DeadlineList | undefined;
  private controller: Http1Controller | undefined;
  /** The attempt in flight while its pool has not started it (undici's): no controller yet. */
  private deferred: DeferredAttempt | undefined;
  /**
   * The deadline's own timer when it is not one of a fixed length (a client's deadline earlier
   * than the route's, what is left of the request's deadline for a retry).
   */
  private timer: NodeJS.Timeout | undefined;
  /** The route's retry policy for this leg; undefined without retries. */
  private retry: Retry | undefined;
  /** What the retry policy reads of this request: idempotent, and its deadline. */
  private call: RetryCall | undefined;
  /** Attempts started (a refused instance's next pick is part of the same attempt). */
  private attempt = 0;
  /** The per-try timeout the attempt in flight ends at (before the request's deadline); 0 for none. */
  private perTryMs = 0;
  /** The wait before the next attempt. */
  private backoff: NodeJS.Timeout | undefined;
  /** The admissions of the attempt in flight by the upstream's breaker and bulkhead, if it has any. */
  private admission: AttemptAdmission | undefined;
  private sent = 0;
  /** The head arrived and waits for the end of the pool's read (see `UpstreamPool.endsReads`). */
  private headDue = false;
  /** The attempt's pool calls `onReadEnd`. */
  private readsEnd = false;
  private readonly route: CompiledRoute;
  /** The leg of a proxy route's target the request goes to, picked when it is sent. */
  private leg!: Upstream;
  /** The request as dispatched (again to another instance when a service's refuses it). */
  private options: (Http1DispatchOptions & { headers: Record<string, string> }) | undefined;
  /** A service leg's attempt in flight: settled when its head or error arrives. */
  private pick: BalancerPick | undefined;
  /** A composite route's legs in flight (aborted when the client leaves). */
  private legs: Set<AttemptState> | undefined;
  /** A service leg's attempts: the instances tried (a refused one is not tried again). */
  private attempts: AttemptState | undefined;
  private readonly requestId: string;
  /** The route's auth, rate limit, CORS and cache, if it has any. */
  private readonly features: RouteFeatures | undefined;
  /** What is written to the client. */
  private readonly reply: FrontAnswer;

  constructor(
    private readonly host: FrontHost,
    private readonly lists: DeadlineLists,
    private readonly sink: FrontSink,
    private readonly request: FrontRequest,
    private readonly match: RouteMatch,
    started: number,
    /** The request's body, whole (the front takes only `Content-Length` ones), or null. */
    private readonly body: Buffer | null = null,
  ) {
    this.route = match.route;
    this.requestId = requestIdOf(request.headers[Headers.requestId]);
    this.features = host.featuresOf(this.route);
    this.reply = new FrontAnswer(this, host, sink, request, this.route, this.requestId, started);
  }

  /**
   * Checks the request against the route's features, if it has any, then sends it upstream;
   * `pathname` and `search` are the client's.
   */
  start(pathname: string, search: string): void {
    const features = this.features;
    if (features === undefined) {
      this.send(pathname, search, undefined, undefined);
      return;
    }
    const request = this.request;
    const req = { method: request.method, url: request.url, headers: request.headers, socket: this.sink };
    const preflight = features.cors?.preflight(req);
    if (preflight !== undefined) {
      // A CORS preflight is answered here, before any other check (browsers send it without
      // credentials), as `Admission.admit` answers it on the node:http path.
      if (preflight.problem) this.reply.problem(preflight.problem, preflight.headers);
      else this.reply.whole(preflight.status, preflightHeaders(preflight.headers, this.requestId), NO_BYTES);
      return;
    }
    // CORS headers go on every answer, refusals included (as on the node:http path). An
    // auth-only route adds none.
    const extra = features.cors ? features.cors.headers(req) : {};
    if (features.cors !== undefined || features.rateLimit !== undefined || features.cache !== undefined)
      this.reply.extra = extra;
    this.host.admission.access(req, this.route, features, extra, this.requestId).then(
      (access) => {
        if (this.reply.over) return; // the client left meanwhile
        try {
          if (!access.ok) this.reply.problem(access.problem, access.headers);
          else if (!features.cache?.applies(req) || !this.fromCache(features.cache, req, access.claims))
            this.send(pathname, search, access.principal, access.claims);
        } catch (error) {
          this.drop(error);
        }
      },
      (error: unknown) => this.drop(error),
    );
  }

  /**
   * Answers from the route's cache when it holds a fresh answer (true), as `Admission.admit`
   * does on the node:http path; on a miss, the upstream's answer gets `x-cache: MISS` and a copy
   * of its body is kept for `cache.store` if it ends within the cache's entry limit.
   */
  private fromCache(cache: ResponseCache, req: RequestLike, claims: Claims | undefined): boolean {
    const reply = this.reply;
    const hit = this.host.admission.fromCache(cache, req, this.route, claims, reply.extra!, this.requestId);
    if (hit === undefined) {
      reply.filling = new CacheFill(cache, req, claims);
      return false;
    }
    reply.whole(hit.status, hit.headers, hit.body);
    return true;
  }

  /** A fault of the front outside the connection's read loop (which catches the others): the connection goes. */
  drop(error: unknown): void {
    this.host.logger.error(
      { err: error, route: this.route.id },
      'fast-path front failed; connection dropped',
    );
    this.abandon();
    this.sink.destroy();
  }

  /** Answers a static, redirect or composite route's request, as `Gateway.act` does on node:http's path. */
  private answerLocally(
    action: RouteAction,
    search: string,
    principal: string | undefined,
    claims: Claims | undefined,
  ): void {
    const reply = this.reply;
    if (action.kind === 'static') {
      const response = action.response;
      reply.whole(
        response.status,
        staticHeaders(this.route, response, this.requestId, reply.extra),
        response.body,
      );
    } else if (action.kind === 'redirect') {
      const headers = redirectHeaders(
        this.route,
        action,
        this.match.params,
        search,
        this.requestId,
        reply.extra,
      );
      reply.whole(action.status, headers, NO_BYTES);
    } else if (action.kind === 'composite') this.compose(action, search, principal, claims);
  }

  /**
   * Calls a composite route's legs and answers their merged JSON or its problem, as
   * `respondComposite` does on node:http's path (a fault of the gateway: its 500).
   */
  private compose(
    action: CompositeAction,
    search: string,
    principal: string | undefined,
    claims: Claims | undefined,
  ): void {
    const reply = this.reply;
    const legs = new Set<AttemptState>();
    this.legs = legs;
    const admitted =
      this.features === undefined ? undefined : { extra: reply.extra ?? {}, principal, claims };
    const host = this.host;
    composeAnswer(host.upstreams, host.metrics, this.match, action, {
      headers: this.request.headers,
      remoteAddress: this.sink.remoteAddress,
      encrypted: false,
      search,
      requestId: this.requestId,
      admitted,
      states: legs,
    }).then(
      (answer) => {
        this.legs = undefined;
        if (reply.over) return;
        if (answer.ok) reply.whole(200, answer.headers, answer.body);
        else reply.problem(answer.problem, reply.extra);
      },
      (error: unknown) => {
        this.legs = undefined;
        host.logger.error({ err: error, route: this.route.id }, 'answering the request failed');
        if (!reply.over) reply.problem(errorToProblem(error, this.requestId), undefined);
      },
    );
  }

  private send(
    pathname: string,
    search: string,
    principal: string | undefined,
    claims: Claims | undefined,
  ): void {
    const request = this.request;
    const route = this.route;
    if (route.action.kind !== 'proxy') {
      this.answerLocally(route.action, search, principal, claims);
      return;
    }
    const leg = this.host.pickLeg(route);
    this.leg = leg;
    const policies = this.host.upstreams.policies;
    this.retry = route.retry === undefined ? undefined : policies.retryOf(route, leg);
    const guards = policies.guardsOf(leg);
    if (guards !== undefined) this.admission = new AttemptAdmission(guards);
    const headers = forwardedRequestHeaders(request.headers, this.sink.remoteAddress, false, {
      requestId: this.requestId,
      traceparent: nextTraceparent(request.headers[Headers.traceparent]),
    });
    if (principal !== undefined) headers[Headers.principal] = principal;
    if (route.requestHeaders) applyHeaderOps(headers, route.requestHeaders);
    const now = Date.now();
    const deadline = deadlineFrom(route, request.headers, now);
    if (deadline <= now) {
      // A client's deadline that passed already: no attempt, nor a call for the retry policy.
      this.fail(deadlineExceeded(deadline));
      return;
    }
    this.options = {
      path: this.host.upstreamPath(route, leg, this.match, pathname, search),
      method: request.method,
      headers: headers as Record<string, string>,
      body: this.body,
      // The client's names and values passed the front's parser; the gateway's own are safe
      // (the principal is base64url). Routes with header operations keep the pool's check: their
      // values are checked when the routes load, but a route compiled another way may skip that.
      headersChecked: route.requestHeaders === undefined,
    };
    const retry = this.retry;
    if (retry !== undefined) {
      // As on the node:http path: a request with a body is never retried, only sent to another
      // instance when the first refused the connection.
      const idempotent = !hasRequestBody(request.headers) && isIdempotentMethod(request.method);
      this.call = { idempotent, dl: deadline };
      retry.onCall(now);
    }
    this.startAttempt(deadline, now);
  }

  /**
   * Starts an attempt at `now`: under its per-try timeout when the route has one that ends before
   * `deadline` (the request's), as the node:http path's pipeline runs it; the upstream is told
   * the attempt's deadline.
   */
  private startAttempt(deadline: number, now: number): void {
    this.backoff = undefined;
    this.attempt++;
    if (this.admission !== undefined) {
      try {
        this.admission.admit();
      } catch (rejection) {
        // The breaker is open or the bulkhead full: a 503 (or the fallback), never retried.
        this.attemptEnded(rejection);
        return;
      }
    }
    if (deadline <= now) {
      // A retry's wait that ran late: admitted (as the pipeline admits before it looks at the
      // time), the attempt never runs; its admissions go back unused.
      this.admission?.release(undefined, false);
      this.attemptEnded(deadlineExceeded(deadline));
      return;
    }
    const due = attemptDeadline(this.route, deadline, now);
    this.perTryMs = due < deadline ? due - now : 0;
    this.options!.headers[Headers.deadline] = String(Math.floor(due));
    this.deadline = due;
    // A deadline of a fixed length (the route's timeout, a per-try timeout) joins the list of that
    // length; any other (a client's earlier one, what is left for a retry) gets a timer of its own.
    const left = due - now;
    if (this.perTryMs > 0 || left === this.route.timeoutMs) this.lists.of(left).add(this);
    else this.timer = setTimeout(abortAtDeadline, left, this);
    this.sent = performance.now();
    this.dispatch();
  }

  /**
   * Sends the request: to the URL leg's pool, or to an instance of the service leg picked as the
   * node:http path picks it (`Upstreams.pick`: the route's strategy, ejected and tried
   * instances left out).
   */
  private dispatch(): void {
    const leg = this.leg;
    const upstreams = this.host.upstreams;
    this.controller = undefined;
    if (leg.kind === 'url') {
      this.dispatchTo(upstreams.pool(leg.origin));
      return;
    }
    this.attempts ??= { tried: new Set(), body: NO_BODY, current: undefined };
    let pick: BalancerPick;
    try {
      pick = upstreams.pick(leg, this.attempts.tried);
    } catch (error) {
      // No instance available (or no registry): a failed attempt, then a 503 as on node:http.
      this.attemptEnded(error);
      return;
    }
    this.pick = pick;
    let pool: UpstreamPool;
    try {
      pool = upstreams.instancePool(pick.instance);
    } catch (error) {
      this.attemptFailed(error as Error); // a host that makes no URL: a failed attempt
      return;
    }
    this.dispatchTo(pool);
  }

  private dispatchTo(pool: UpstreamPool): void {
    this.readsEnd = pool.endsReads;
    if (pool.startsAtOnce) pool.dispatch(this.options!, this);
    else {
      // Undici's (https:) starts the request once it has a connection (see DeferredAttempt).
      this.deferred = new DeferredAttempt(this);
      pool.dispatch(this.options!, this.deferred);
    }
  }

  /** The next attempt, after the retry policy's wait (unless the client left meanwhile). */
  retryNow(): void {
    if (this.reply.over) return;
    this.startAttempt(this.call!.dl, Date.now());
  }

  /** Records the outcome of the service attempt in flight, once (see `Upstreams.settle`). */
  private settle(ok: boolean | undefined): void {
    const pick = this.pick;
    if (pick === undefined) return;
    this.pick = undefined;
    this.host.upstreams.settle(this.leg as ServiceUpstream, pick, ok);
  }

  /** The client went away: the upstream request is stopped, nothing more is written. */
  abandon(): void {
    if (!this.reply.abandon()) return;
    for (const leg of this.legs ?? []) leg.current?.abort(clientClosed());
    this.clearDeadline();
    if (this.backoff !== undefined) clearTimeout(this.backoff);
    this.stopAttempt(clientClosed());
  }

  /**
   * The attempt's deadline passed: the upstream request stops with the deadline's error (a 504),
   * or with its per-try timeout's, which the retry policy may retry.
   */
  expire(): void {
    const deadline = this.deadline;
    this.stopAttempt(
      this.perTryMs > 0 ? attemptTimedOut(this.route, this.perTryMs, deadline) : deadlineExceeded(deadline),
    );
  }

  /**
   * Stops the attempt in flight with `reason`: through its controller (the pool then reports the
   * error), or, when its pool has not started it yet, by letting it go and failing it now.
   */
  private stopAttempt(reason: Error): void {
    const deferred = this.deferred;
    if (deferred === undefined) {
      this.controller?.abort(reason);
      return;
    }
    this.deferred = undefined;
    deferred.release(reason);
    this.attemptFailedSafely(reason);
  }

  private clearDeadline(): void {
    this.dueList?.remove(this);
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  onRequestStart(controller: Http1Controller): void {
    this.deferred = undefined;
    this.controller = controller;
  }

  onResponseStart(_controller: Http1Controller, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return; // 1xx: the final response follows
    // Called by the pool, which swallows a handler's fault: one here costs the connection.
    try {
      this.headArrived(statusCode, headers);
    } catch (error) {
      this.drop(error);
    }
  }

  private headArrived(statusCode: number, headers: IncomingHttpHeaders): void {
    this.settle(statusCode < 500);
    if (statusCode < 500) this.admission?.release(undefined);
    else {
      // A failure for the breaker; the retry policy counts it as not retried (it is relayed).
      const failure = new UpstreamStatusFailure(statusCode);
      this.admission?.release(failure);
      this.retry?.decide(this.call!, this.attempt, failure, Date.now());
    }
    if (this.reply.over) return;
    this.clearDeadline();
    this.host.metrics?.upstreamDuration(this.leg.key, (performance.now() - this.sent) / 1000);
    this.reply.upstreamHead(statusCode, headers);
    // After the bytes being parsed now, which often hold the whole body: then head and body
    // leave in one write. The gateway's pool says when its read is over (`onReadEnd`, or the
    // answer's end); with undici's, the next tick.
    if (this.readsEnd) this.headDue = true;
    else process.nextTick(writeHead, this);
  }

  onResponseData(controller: Http1Controller, chunk: Buffer): void {
    this.reply.upstreamData(controller, chunk);
  }

  /** Writes the upstream's head, with the body received so far (see `FrontAnswer.flushHead`). */
  flushHead(): void {
    this.reply.flushHead(this.controller);
  }

  onReadEnd(): void {
    if (!this.headDue) return;
    this.headDue = false;
    writeHead(this);
  }

  onResponseEnd(): void {
    this.reply.upstreamEnd();
    if (this.headDue) {
      this.headDue = false;
      writeHead(this); // with the whole body: it stores and completes the answer
    }
  }

  onResponseError(_controller: Http1Controller, error: Error): void {
    this.deferred = undefined; // an attempt may fail before its pool started it
    this.attemptFailedSafely(error);
  }

  /** As in onResponseStart: a fault here costs the connection (the pool would swallow it). */
  private attemptFailedSafely(error: Error): void {
    try {
      this.attemptFailed(error);
    } catch (fault) {
      this.drop(fault);
    }
  }

  /** The attempt in flight failed or was aborted before it ended. */
  private attemptFailed(error: Error): void {
    // An aborted attempt (the client left) is no failure of the instance; a deadline is.
    this.settle(isAbortError(error) ? undefined : !isFailure(error));
    const leg = this.leg;
    const attempts = this.attempts;
    if (this.reply.started) {
      // The head arrived already (its admissions went back with it): all that is left is
      // cutting the answer short.
      this.reply.cut();
      return;
    }
    if (
      !this.reply.over &&
      leg.kind === 'service' &&
      attempts &&
      this.host.upstreams.triesElsewhere(leg, error, attempts)
    ) {
      this.dispatch(); // refused: the next instance, within the same attempt, as on node:http
      return;
    }
    this.attemptEnded(upstreamError(error, leg.key, attempts ?? NO_ATTEMPT));
  }

  /**
   * The attempt failed with `failure` before a head: its admissions go back, and the retry
   * policy, if the route has one, decides whether another attempt follows; otherwise the answer
   * is the failure's.
   */
  private attemptEnded(failure: unknown): void {
    this.admission?.release(failure);
    const retry = this.retry;
    if (retry !== undefined) {
      this.clearDeadline();
      const now = Date.now();
      // Asked also when the client left (the failure is its abort, never retried), as the
      // node:http path's pipeline asks.
      const delay = retry.decide(this.call!, this.attempt, failure, now);
      if (this.reply.over) return;
      if (delay === 0) {
        this.startAttempt(this.call!.dl, now);
        return;
      }
      if (delay > 0) {
        this.backoff = setTimeout(attemptAgain, delay, this);
        return;
      }
    }
    if (!this.reply.over) this.fail(failure);
  }

  /** The exchange failed before a head: its deadline stops, the answer is the failure's. */
  private fail(error: unknown): void {
    this.clearDeadline();
    this.reply.fail(error);
  }
}

/**
 * The front's request bodies are whole before the first attempt and can be sent again, unlike a
 * stream that node:http's path has started reading: for `Upstreams.triesElsewhere` and
 * `upstreamError`, never started. (A request with a body is still never retried after it went
 * out: it is not idempotent, which the retry policy checks first.)
 */
const NO_BODY = Object.freeze({ started: false });
/** The body of an answer that has none. */
const NO_BYTES = Buffer.alloc(0);
/** Attempt state for `upstreamError` on a URL leg: one attempt and a body that can be sent again. */
const NO_ATTEMPT: AttemptState = Object.freeze({
  tried: new Set<string>(),
  body: NO_BODY,
  current: undefined,
});

function writeHead(exchange: FrontExchange): void {
  // From process.nextTick, where a fault would end the process, or from the pool, which would
  // swallow it or fail the request: it costs the connection.
  try {
    exchange.flushHead();
  } catch (error) {
    exchange.drop(error);
  }
}

function abortAtDeadline(exchange: FrontExchange): void {
  exchange.expire();
}

/** Timer callback: the retry policy's wait is over; the next attempt starts. */
function attemptAgain(exchange: FrontExchange): void {
  // From a timer: a fault here would end the process, so it costs the connection.
  try {
    exchange.retryNow();
  } catch (error) {
    exchange.drop(error);
  }
}
