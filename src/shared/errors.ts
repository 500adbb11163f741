/**
 * Domain errors. Adapters map them: the admin API to HTTP statuses, the OCPP side to
 * CALLERROR codes. Code never matches on messages; it checks the class or `code`.
 */
export abstract class AppError extends Error {
  abstract readonly code: string;
  constructor(
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** Input that breaks a rule the schema cannot express (HTTP 400). */
export class ValidationError extends AppError {
  readonly code = 'validation_error';
}

export class NotFoundError extends AppError {
  readonly code = 'not_found';
  constructor(
    readonly resource: string,
    readonly id: string,
  ) {
    super(`${resource} ${id} not found`, { resource, id });
  }
}

/** A state conflict (HTTP 409); `code` says which. */
export class ConflictError extends AppError {
  constructor(
    readonly code: string,
    message: string,
    details?: unknown,
  ) {
    super(message, details);
  }
}

export class UnauthorizedError extends AppError {
  readonly code = 'unauthorized';
}

/** The station holds no live connection to any gateway node. */
export class StationOfflineError extends AppError {
  readonly code = 'station_offline';
  constructor(readonly identity: string) {
    super(`charge station ${identity} is not connected`, { ocpp_id: identity });
  }
}

/** The station did not answer a call in time. */
export class StationTimeoutError extends AppError {
  readonly code = 'station_timeout';
  constructor(
    readonly identity: string,
    readonly action: string,
  ) {
    super(`charge station ${identity} did not answer ${action} in time`, {
      ocpp_id: identity,
      action,
    });
  }
}

/**
 * The station answered a call with a CALLERROR (NotImplemented, NotSupported, …) instead of a
 * result (HTTP 502: the upstream refused the call itself, not what it asked).
 */
export class StationCallError extends AppError {
  readonly code = 'station_call_error';
  constructor(
    readonly identity: string,
    readonly action: string,
    readonly ocppErrorCode: string,
    ocppMessage: string,
  ) {
    super(`charge station ${identity} answered ${action} with ${ocppErrorCode}${ocppMessage ? `: ${ocppMessage}` : ''}`, {
      ocpp_id: identity,
      action,
      ocpp_error_code: ocppErrorCode,
    });
  }
}

/** The database cannot be reached right now (HTTP 503, CALLERROR InternalError). */
export class UnavailableError extends AppError {
  readonly code = 'service_unavailable';
}

/** The API key may not do this (an organization-scoped key managing global things). */
export class ForbiddenError extends AppError {
  readonly code = 'forbidden';
}

/**
 * The gateway cannot start as configured, for a reason the operator fixes by changing its
 * configuration (the message says how). Printed as it is, without a stack.
 */
export class CannotStartError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}
