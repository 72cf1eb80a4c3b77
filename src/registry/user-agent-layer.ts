import type { Logger } from "../log/logger.js";
import { redactUrl } from "./errors.js";
import type { Exchange, Layer, Send } from "./exchange.js";

/** The user-agent layer: names the client on every exchange and logs it at debug level (URL redacted). */
export function userAgentLayer(userAgent: string, logger?: Logger): Layer {
  return (next: Send): Send =>
    (ex: Exchange) => {
      logger?.debug(`${ex.method} ${redactUrl(ex.url)}`);
      return next({ ...ex, headers: { "user-agent": userAgent, ...ex.headers } });
    };
}
