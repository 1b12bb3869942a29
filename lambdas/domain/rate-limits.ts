/**
 * Rate limits: fixed windows, counted per source IP for requests without a valid key and per
 * account for authenticated ones. Sized so that a plugin or vault-agent run never meets them
 * (its calls are sequential and each waits on an S3 transfer); they stop floods and guessing.
 */

/** At most `limit` requests per `windowSeconds`. */
export interface RateLimit {
  limit: number;
  windowSeconds: number;
}

/** The two classes of callers. */
export interface RateLimits {
  /** Requests without a valid API key (register, verify, reporterror, wrong keys), per source IP. */
  anonymousPerIp: RateLimit;
  /** Requests with a valid key, per account (all its keys and sites together). */
  perAccount: RateLimit;
}

/** Limits of a deployment (the Lambda functions use these). */
export const DEFAULT_RATE_LIMITS: RateLimits = {
  anonymousPerIp: { limit: 60, windowSeconds: 60 },
  perAccount: { limit: 1200, windowSeconds: 60 },
};

/** The window `now` (epoch seconds) falls in, and the seconds until it ends (≥ 1). */
export function rateWindow(now: number, windowSeconds: number): { start: number; retryAfter: number } {
  const start = now - (now % windowSeconds);
  return { start, retryAfter: Math.max(1, start + windowSeconds - now) };
}
