import { createHash } from 'node:crypto';
import type { Db } from '../../db/index.ts';
import type { Rate } from '../../db/tables/wallets.ts';
import { resolveRate } from '../billing/rates.ts';
import { findTokenByIdTag } from '../tokens/tokens.ts';
import { OPEN_STATUSES } from './billing.ts';

export type AuthorizationStatus = 'Accepted' | 'Blocked' | 'Expired' | 'Invalid' | 'ConcurrentTx';

/** Why a token was refused, for logs and the operator; the charger sees only the status. */
export type RefusalReason =
  | 'unknown_token'
  | 'token_inactive'
  | 'user_inactive'
  | 'token_expired'
  | 'no_wallet'
  | 'insufficient_balance'
  | 'no_rate'
  | 'rate_inactive'
  | 'currency_mismatch'
  | 'concurrent_transaction';

export interface AuthorizationDecision {
  status: AuthorizationStatus;
  reason?: RefusalReason;
  /** the token's own expiry, passed to the charger's authorization cache */
  expiryDate?: Date;
  /** the parentIdTag of every token paying from the same wallet (walletGroupTag) */
  group?: string;
  tokenId?: string;
  userId?: string;
  walletId?: string;
  walletCurrency?: string;
  balance?: number;
  minimumBalance?: number;
  rate?: Rate;
}

/**
 * May this idTag charge at this station (and connector)? SPEC section 3:
 * unknown token → Invalid; token or user inactive → Blocked; token expired → Expired;
 * no wallet, balance below the owner's organization minimum (or at/below zero), no usable rate, or a rate whose
 * currency is not the wallet's → Blocked; the token already in a transaction elsewhere →
 * ConcurrentTx; otherwise Accepted. (A wallet may fund several sessions, through several tokens.)
 *
 * "Elsewhere": another station, or another connector of this one when the connector is known. A
 * transaction still open on this very connector does not count: a new start there ends it.
 */
export async function decideAuthorization(
  db: Db,
  input: { idTag: string; stationId: string; connectorId?: number | undefined },
  now: Date,
): Promise<AuthorizationDecision> {
  const token = await findTokenByIdTag(db, input.idTag);
  if (!token) return { status: 'Invalid', reason: 'unknown_token' };

  const owner = await db
    .selectFrom('users as u')
    .innerJoin('organizations as o', 'o.id', 'u.organization_id')
    .leftJoin('wallets as w', 'w.user_id', 'u.id')
    .select([
      'u.id as user_id',
      'u.active as user_active',
      'o.minimum_balance_to_start_session as minimum',
      'w.id as wallet_id',
      'w.balance as balance',
      'w.currency as currency',
    ])
    .where('u.id', '=', token.user_id)
    .executeTakeFirstOrThrow();

  const base = {
    tokenId: token.id,
    userId: owner.user_id,
    ...(token.expires_at ? { expiryDate: token.expires_at } : {}),
    ...(owner.wallet_id ? { group: walletGroupTag(owner.wallet_id) } : {}),
  };
  if (!token.active) return { ...base, status: 'Blocked', reason: 'token_inactive' };
  if (!owner.user_active) return { ...base, status: 'Blocked', reason: 'user_inactive' };
  if (token.expires_at && token.expires_at.getTime() <= now.getTime()) {
    return { ...base, status: 'Expired', reason: 'token_expired' };
  }
  if (await inTransactionElsewhere(db, token.id, input)) {
    return { ...base, status: 'ConcurrentTx', reason: 'concurrent_transaction' };
  }
  if (!owner.wallet_id || owner.balance === null) return { ...base, status: 'Blocked', reason: 'no_wallet' };
  const money = {
    walletId: owner.wallet_id,
    walletCurrency: owner.currency ?? undefined,
    balance: owner.balance,
    minimumBalance: owner.minimum,
  };
  // A wallet at or below zero never starts, even where the minimum is 0: it would be stopped at once.
  if (owner.balance < owner.minimum || owner.balance <= 0) {
    return { ...base, ...money, status: 'Blocked', reason: 'insufficient_balance' };
  }
  const rate = await resolveRate(db, input.stationId, input.connectorId);
  if (!rate) return { ...base, ...money, status: 'Blocked', reason: 'no_rate' };
  if (!rate.active) return { ...base, ...money, rate, status: 'Blocked', reason: 'rate_inactive' };
  if (rate.currency !== owner.currency) {
    return { ...base, ...money, rate, status: 'Blocked', reason: 'currency_mismatch' };
  }
  return { ...base, ...money, rate, status: 'Accepted' };
}

async function inTransactionElsewhere(
  db: Db,
  tokenId: string,
  at: { stationId: string; connectorId?: number | undefined },
): Promise<boolean> {
  const open = await db
    .selectFrom('sessions')
    .select(['station_id', 'connector_id'])
    .where('token_id', '=', tokenId)
    .where('status', 'in', [...OPEN_STATUSES])
    .execute();
  return open.some((s) => s.station_id !== at.stationId || (at.connectorId !== undefined && s.connector_id !== at.connectorId));
}

/**
 * The parentIdTag shared by every token that pays from one wallet (all of its user's tokens):
 * chargers treat idTags with the same parent as one group, so any card of the wallet may stop a
 * transaction another one started, and a reservation for the group accepts each of them. An
 * IdToken is at most 20 characters and a wallet id is 24, so the tag is derived: `W` and 19 hex
 * digits of the id's SHA-256 (no secret: it only names the group).
 */
export function walletGroupTag(walletId: string): string {
  return 'W' + createHash('sha256').update(walletId).digest('hex').slice(0, 19).toUpperCase();
}

/**
 * The idTagInfo a charger receives, and keeps in its authorization cache. A wallet token's
 * entry expires `expiryS` seconds from now (or at the token's own expiry, if sooner): a balance
 * changes by the minute, so an offline charger must not trust an Accepted for long. With the
 * cache keys the gateway sets (docs/interop.md), an expired entry offline is an unknown idTag,
 * which is refused. A low balance is `Blocked` (OCPP 1.6 has no NoCredit status).
 */
export function idTagInfoOf(
  decision: AuthorizationDecision,
  now: Date,
  expiryS: number,
): { status: AuthorizationStatus; expiryDate?: string; parentIdTag?: string } {
  let expiry = decision.expiryDate;
  if (decision.group && expiryS > 0) {
    const short = new Date(now.getTime() + expiryS * 1000);
    if (!expiry || short < expiry) expiry = short;
  }
  return {
    status: decision.status,
    ...(expiry ? { expiryDate: expiry.toISOString() } : {}),
    ...(decision.group ? { parentIdTag: decision.group } : {}),
  };
}
