import { z } from 'zod';
import { INT32_MAX, INT32_MIN } from '../shared/storable.ts';

/** Admin-API schemas of OCPP 1.6 structures an operator sends through to stations (OCPP's own field names). */

/**
 * An id or count the gateway keeps in a 32-bit column (charging profile ids, stack levels,
 * transaction ids, list versions): larger is a 400 naming the field, not a station call whose
 * answer cannot be recorded.
 */
export const int32 = () => z.number().int().min(INT32_MIN).max(INT32_MAX);

/** connectorId 0 is the station as a whole where OCPP allows it. */
export const connector = z.number().int().min(0).max(100);
export const outlet = z.number().int().min(1).max(100);
export const dateTime = z.iso.datetime({ offset: true }).describe('RFC 3339 date-time');
export const idTag = z.string().min(1).max(20);

export const authorizationStatus = z.enum(['Accepted', 'Blocked', 'Expired', 'Invalid', 'ConcurrentTx']);

/** OCPP 1.6 ChargingSchedule, in OCPP's own field names. */
const chargingSchedule = z.strictObject({
  duration: int32().min(0).optional(),
  startSchedule: dateTime.optional(),
  chargingRateUnit: z.enum(['A', 'W']),
  chargingSchedulePeriod: z
    .array(
      z.strictObject({
        startPeriod: int32().min(0),
        limit: z.number().min(0).multipleOf(0.1),
        numberPhases: z.number().int().min(1).max(3).optional(),
      }),
    )
    .min(1),
  minChargingRate: z.number().min(0).multipleOf(0.1).optional(),
});

/** OCPP 1.6 ChargingProfile (csChargingProfiles), in OCPP's own field names. */
export const chargingProfile = z
  .strictObject({
    chargingProfileId: int32().min(1),
    transactionId: int32().optional(),
    stackLevel: int32().min(0),
    chargingProfilePurpose: z.enum(['ChargePointMaxProfile', 'TxDefaultProfile', 'TxProfile']),
    chargingProfileKind: z.enum(['Absolute', 'Recurring', 'Relative']),
    recurrencyKind: z.enum(['Daily', 'Weekly']).optional(),
    validFrom: dateTime.optional(),
    validTo: dateTime.optional(),
    chargingSchedule,
  })
  .meta({ id: 'ChargingProfile' });

