/**
 * How a test (or the CLI) tells the station to answer the central system's calls differently
 * from what it would decide on its own: per operation, for every call or for the next few, with
 * a status, a whole payload, a delay, a CALLERROR, or no answer at all.
 */

export interface AnswerSpec {
  /** The status to answer with; the station then acts as if it had decided it itself. */
  status?: string;
  /** The whole answer payload (for operations whose answer is not just a status). */
  payload?: Record<string, unknown>;
  /** Answer only after this many real ms. */
  delayMs?: number;
  /** Never answer (the central system's call times out). */
  noReply?: boolean;
  /** Answer with a CALLERROR of this OCPP-J code (e.g. NotImplemented, NotSupported, InternalError). */
  callError?: string;
}

/** A status (e.g. 'Rejected', 'UnlockFailed'), or the full form. */
export type Answer = string | AnswerSpec;

/** An answer for every call, or a function of the call's payload (undefined: the station decides). */
export type AnswerRule = Answer | ((params: Record<string, unknown>) => Answer | undefined);

export function toSpec(answer: Answer): AnswerSpec {
  return typeof answer === 'string' ? { status: answer } : answer;
}

export class AnswerBook {
  private readonly rules = new Map<string, AnswerRule>();
  private readonly queued = new Map<string, Answer[]>();

  constructor(initial: Partial<Record<string, AnswerRule>> = {}) {
    for (const [action, rule] of Object.entries(initial)) {
      if (rule !== undefined) this.rules.set(action, rule);
    }
  }

  /** How every later call of `action` is answered; undefined gives the station its own answers back. */
  set(action: string, rule: AnswerRule | undefined): void {
    if (rule === undefined) this.rules.delete(action);
    else this.rules.set(action, rule);
  }

  /** Answers for the next calls of `action`, one each, before the standing rule applies again. */
  once(action: string, ...answers: Answer[]): void {
    this.queued.set(action, [...(this.queued.get(action) ?? []), ...answers]);
  }

  clear(): void {
    this.rules.clear();
    this.queued.clear();
  }

  /** The answer to give to this call, if one was set. */
  take(action: string, params: Record<string, unknown>): AnswerSpec | undefined {
    const queue = this.queued.get(action);
    if (queue && queue.length > 0) {
      const next = queue.shift()!;
      if (queue.length === 0) this.queued.delete(action);
      return toSpec(next);
    }
    const rule = this.rules.get(action);
    if (rule === undefined) return undefined;
    const answer = typeof rule === 'function' ? rule(params) : rule;
    return answer === undefined ? undefined : toSpec(answer);
  }
}
