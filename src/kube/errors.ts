/** Typed errors for API status codes, so callers branch on kinds, not numbers. */

export interface ApiStatus {
  kind?: string;
  message?: string;
  reason?: string;
  code?: number;
  details?: { causes?: { message?: string; field?: string }[]; retryAfterSeconds?: number };
}

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly status: ApiStatus,
    readonly method: string,
    readonly path: string,
  ) {
    super(`${method} ${path}: ${statusCode} ${status.reason ?? ""} ${status.message ?? ""}`.trim());
    this.name = new.target.name;
  }

  /** Seconds the server asked us to wait, if it said. */
  get retryAfterSeconds(): number | undefined {
    return this.status.details?.retryAfterSeconds;
  }
}

/** 409: the object changed since we read it (or already exists on create). Requeue quietly. */
export class ConflictError extends ApiError {}
/** 404 */
export class NotFoundError extends ApiError {}
/** 410: the resourceVersion is too old; relist. */
export class GoneError extends ApiError {}
/** 429: rate limited, or an eviction blocked by a PodDisruptionBudget. */
export class TooManyRequestsError extends ApiError {}
/** 422: the request is invalid (admission or schema). */
export class InvalidError extends ApiError {}
/** 403 */
export class ForbiddenError extends ApiError {}

export function apiError(statusCode: number, status: ApiStatus, method: string, path: string): ApiError {
  switch (statusCode) {
    case 404:
      return new NotFoundError(statusCode, status, method, path);
    case 409:
      return new ConflictError(statusCode, status, method, path);
    case 410:
      return new GoneError(statusCode, status, method, path);
    case 422:
      return new InvalidError(statusCode, status, method, path);
    case 429:
      return new TooManyRequestsError(statusCode, status, method, path);
    case 403:
      return new ForbiddenError(statusCode, status, method, path);
    default:
      return new ApiError(statusCode, status, method, path);
  }
}

/**
 * A write this replica may not send: it is not the leader, or it can no longer prove it still holds
 * the leader lease. Thrown before anything is sent (or when the fence aborts a write in flight); the
 * new leader will do the work, so callers drop it quietly.
 */
export class NotLeaderError extends Error {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly inFlight = false,
  ) {
    super(`${method} ${path}: not the leader${inFlight ? " (aborted in flight)" : ""}`);
    this.name = "NotLeaderError";
  }
}
