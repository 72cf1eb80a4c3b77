import { parseChallenges, pickChallenge, type Challenge } from "./challenge.js";
import { startDeadline } from "./deadline.js";
import { registryError } from "./error-response.js";
import { NetworkError } from "./errors.js";
import type { CallOptions, Send } from "./exchange.js";
import { discard, headerValues, timeoutError, type HttpResponse } from "./http.js";
import type { Secrets } from "./redact.js";
import { SharedTask } from "./shared-task.js";

/** What a ping learns: the scheme to use and the auth challenge (none: anonymous access). */
export interface PingResult {
  readonly base: URL;
  readonly challenge: Challenge | undefined;
}

/** Options of {@link Pinger}. */
export interface PingerOptions {
  readonly registry: string;
  /** Plain HTTP may be tried after HTTPS fails (insecure or local registries). */
  readonly allowHttp: boolean;
  /** The HTTP layer (no auth, no retry: a failed ping is a failed attempt of the request it serves). */
  readonly send: Send;
  readonly secrets?: Secrets;
}

/** Whether a failure shows that the server speaks TLS but could not be trusted (certificates). */
function isTrustFailure(err: unknown): boolean {
  return err instanceof NetworkError && !err.temporary && err.code !== "ERR_SSL_WRONG_VERSION_NUMBER" && err.code !== "EPROTO";
}

/**
 * `GET /v2/` of one registry, made once and remembered once it succeeds. The ping is a single
 * exchange with no retry of its own: it runs as part of an attempt of the request that needs it,
 * so that request's retry owner decides whether to ping again. Concurrent requests share one ping.
 */
export class Pinger {
  private result: PingResult | undefined;
  private task: SharedTask<PingResult> | undefined;

  constructor(private readonly options: PingerOptions) {}

  /** The registry's scheme and challenge, pinging when nothing is remembered. */
  async ping(call: CallOptions = {}): Promise<PingResult> {
    if (this.result) return this.result;
    if (!this.task || this.task.abandoned) {
      // the shared exchange has no time limit of its own: each caller's wait has (below), and the
      // exchange is cancelled once no caller waits any more
      const task = new SharedTask((signal) => this.pingOnce({ signal }));
      this.task = task;
      task.outcome.then(
        (result) => (this.result = result),
        () => {
          if (this.task === task) this.task = undefined;
        },
      );
    }
    // a ping is one exchange per scheme tried, each allowed `timeoutMs`
    const limit = call.timeoutMs === undefined ? undefined : call.timeoutMs * this.schemes.length;
    const url = new URL(`https://${this.options.registry}/v2/`);
    const deadline = startDeadline(call.signal, limit, () => timeoutError({ method: "GET", url, timeoutMs: limit }));
    try {
      return await this.task.join(deadline.signal);
    } finally {
      deadline.clear();
    }
  }

  private get schemes(): string[] {
    return this.options.allowHttp ? ["https:", "http:"] : ["https:"];
  }

  private async pingOnce(call: CallOptions): Promise<PingResult> {
    let httpsError: unknown;
    for (const scheme of this.schemes) {
      const base = new URL(`${scheme}//${this.options.registry}`);
      let res: HttpResponse;
      try {
        res = await this.options.send({ method: "GET", url: new URL("/v2/", base), scopes: [], ...call });
      } catch (err) {
        if (call.signal?.aborted) throw err;
        httpsError ??= err;
        if (scheme === "http:" && !isTrustFailure(httpsError)) throw err;
        continue;
      }
      if (res.status === 200) {
        await discard(res);
        return { base, challenge: undefined };
      }
      if (res.status === 401) {
        const challenge = pickChallenge(parseChallenges(headerValues(res, "www-authenticate")));
        await discard(res);
        return { base, challenge };
      }
      const err = await registryError(res, "GET", this.options.secrets);
      // a TLS registry answers plain HTTP with 400: report why HTTPS failed instead
      if (res.status === 400 && httpsError instanceof Error) throw httpsError;
      throw err;
    }
    throw httpsError instanceof Error ? httpsError : new Error(`failed to reach registry ${this.options.registry}`);
  }
}
