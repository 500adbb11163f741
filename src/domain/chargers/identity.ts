/**
 * Charge point identities (the last path segment of the OCPP-J connection URL).
 *
 * OCPP limits an identity to 48 printable characters that are safe in a URL; we take that as
 * the characters RFC 3986 allows unescaped in a path segment: letters, digits and
 * `-._~!$&'()*+,;=:@`. Anything else (spaces, `%`, `/`, `?`, `#`, control bytes, non-ASCII)
 * is refused before any database lookup. `.` and `..` are refused too: URL libraries treat them
 * as path navigation, so a station could never be reached by them reliably.
 *
 * Identities match ignoring case: `cp-001` reaches the station registered as `CP-001`. The
 * registry keeps one station per case-folded identity (a unique index on `lower(ocpp_id)`).
 */
export const IDENTITY_PATTERN = /^(?!\.\.?$)[A-Za-z0-9\-._~!$&'()*+,;=:@]{1,48}$/;

export const IDENTITY_RULE =
  "1-48 characters: letters, digits and -._~!$&'()*+,;=:@ (not '.' or '..')";

export function isValidIdentity(identity: string): boolean {
  return IDENTITY_PATTERN.test(identity);
}

/** The form identities are compared in (identities are ASCII, so this is PostgreSQL's lower()). */
export function identityKey(identity: string): string {
  return identity.toLowerCase();
}
