import type { ExecutionContext, Work } from '../policy.js';

/** Marks "not cancelled" (any value, even `undefined`, can be an abort reason). */
export const NONE: unique symbol = Symbol('flotilla.resilience.none');

/** Told when a context is cancelled. */
export interface CancelListener {
  onCancel(reason: unknown): void;
}

/** Told when the deadline list expires a context. */
export interface ExpiryOwner {
  expire(ctx: CallContext): void;
}

/**
 * The context of one call or one attempt: what `fn` receives as `ctx`, the node the deadline
 * list links, and a link in the cancellation tree.
 *
 * The `AbortSignal` is created only when `fn` reads `ctx.signal`. An `AbortController` plus its
 * listener bookkeeping costs more than the rest of a policy call, and most work that ignores the
 * signal would pay for nothing; cancellation is tracked in plain fields until someone looks.
 */
export class CallContext implements ExecutionContext, CancelListener {
  readonly fn: Work<unknown>;
  readonly key: string | undefined;
  readonly idempotent: boolean | undefined;
  readonly parent: CallContext | undefined;
  readonly attempt: number;
  /** Absolute deadline in clock ms; `Infinity` when there is none. */
  readonly dl: number;
  /** Caller's signal (root contexts only). */
  external: AbortSignal | undefined = undefined;
  /** Who handles expiry when this context sits in a deadline list. */
  owner: ExpiryOwner | undefined = undefined;
  /** Cancellation reason, `NONE` while live. */
  reason: unknown = NONE;
  /** Set once the attempt this context represents has an outcome. */
  done = false;
  // Deadline-list node fields.
  at = 0;
  prev: CallContext | undefined = undefined;
  next: CallContext | undefined = undefined;
  listed = false;
  private ctrl: AbortController | undefined = undefined;
  /** Cancellation listeners: the common single listener needs no Set. */
  private one: CancelListener | undefined = undefined;
  private many: Set<CancelListener> | undefined = undefined;
  private linked = false;

  constructor(
    fn: Work<unknown>,
    key: string | undefined,
    idempotent: boolean | undefined,
    parent: CallContext | undefined,
    attempt: number,
    dl: number,
  ) {
    this.fn = fn;
    this.key = key;
    this.idempotent = idempotent;
    this.parent = parent;
    this.attempt = attempt;
    this.dl = dl;
  }

  /** A child for one attempt (or one hedge) of this call. */
  child(attempt: number, dl: number): CallContext {
    return new CallContext(this.fn, this.key, this.idempotent, this, attempt, dl);
  }

  get deadline(): number | undefined {
    return this.dl === Number.POSITIVE_INFINITY ? undefined : this.dl;
  }

  get signal(): AbortSignal {
    let ctrl = this.ctrl;
    if (ctrl === undefined) {
      ctrl = this.ctrl = new AbortController();
      const reason = this.cancelReason();
      if (reason !== NONE) {
        ctrl.abort(reason);
      } else if (this.parent !== undefined && !this.done) {
        // From now on a cancelled parent must reach this signal eagerly.
        this.parent.listen(this);
        this.linked = true;
      }
    }
    return ctrl.signal;
  }

  /** Reason this context or an ancestor was cancelled, or `NONE`. */
  cancelReason(): unknown {
    for (let c: CallContext | undefined = this; c !== undefined; c = c.parent) {
      if (c.reason !== NONE) return c.reason;
    }
    return NONE;
  }

  /** True when something (a parent, a caller's signal) may cancel this context. */
  get cancellable(): boolean {
    return this.parent !== undefined || this.external !== undefined;
  }

  cancel(reason: unknown): void {
    if (this.reason !== NONE) return;
    this.reason = reason;
    this.ctrl?.abort(reason);
    const one = this.one;
    const many = this.many;
    this.one = undefined;
    this.many = undefined;
    one?.onCancel(reason);
    if (many !== undefined) for (const l of many) l.onCancel(reason);
  }

  onCancel(reason: unknown): void {
    this.cancel(reason);
  }

  /** `EventTarget` listener for the caller's signal. */
  handleEvent(): void {
    this.cancel(this.external?.reason);
  }

  listen(listener: CancelListener): void {
    if (this.one === undefined && this.many === undefined) {
      this.one = listener;
      return;
    }
    if (this.many === undefined) {
      this.many = new Set();
      if (this.one !== undefined) this.many.add(this.one);
      this.one = undefined;
    }
    this.many.add(listener);
  }

  unlisten(listener: CancelListener): void {
    if (this.one === listener) this.one = undefined;
    else this.many?.delete(listener);
  }

  /** Ends this context's attempt: it stops listening to its parent. */
  finish(): void {
    this.done = true;
    if (this.linked) {
      this.linked = false;
      this.parent?.unlisten(this);
    }
  }
}

/**
 * The context of a call that a policy runs entirely on its own fast path (see `soloCall` in
 * `policy.ts`): two fields instead of a full `CallContext`. Such a call has no deadline and
 * nothing can cancel it, so the `CallContext` is built only when the work reads `signal` or
 * passes the context on to a nested call, and then it is the one the engine would have built.
 */
export class SoloContext implements ExecutionContext {
  readonly fn: Work<unknown>;
  private cc: CallContext | undefined = undefined;

  constructor(fn: Work<unknown>) {
    this.fn = fn;
  }

  get attempt(): number {
    return 1;
  }

  get deadline(): undefined {
    return undefined;
  }

  get signal(): AbortSignal {
    return this.context().signal;
  }

  /** The equivalent `CallContext`, built once. */
  context(): CallContext {
    this.cc ??= new CallContext(this.fn, undefined, undefined, undefined, 1, Number.POSITIVE_INFINITY);
    return this.cc;
  }
}
