import { z } from 'zod';
import { scanDecimal } from '../shared/decimal.ts';
import { INT32_MAX, INT32_MIN, isInt32 } from '../shared/storable.ts';

/**
 * Typed request/response pairs for OCPP 1.6J. ocpp-rpc's strict mode has already checked every
 * inbound payload against the official JSON schemas; these zod schemas type the payload for
 * the handlers and add the checks those schemas miss (an empty `meterValue`, a negative
 * connectorId, a sampled value that is not a number).
 */


/** RFC 3339 date-time; the zone may be missing (read as UTC: see `dateTime`). */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:?\d{2})?$/;
const ZONE = /([Zz]|[+-]\d{2}:?\d{2})$/;

/**
 * A timestamp from a charger. Firmware that leaves out the time zone means UTC in practice (OCPP
 * asks for UTC); such a value is read as UTC, not as the gateway's local time, and reported by
 * `lenienceOf` so it can be counted.
 */
export const dateTime = z
  .string()
  .refine((v) => DATE_TIME.test(v) && !Number.isNaN(Date.parse(ZONE.test(v) ? v : `${v}Z`)), 'must be a date-time')
  .transform((v) => (ZONE.test(v) ? v : `${v}Z`));
/**
 * An integer the gateway keeps in a 32-bit column (connector, transaction, reservation and
 * request ids): OCPP's schemas set no bound, but no id the gateway issues or stores is larger,
 * and a larger one reaching a statement shared with other stations' messages would fail them all.
 */
const int32 = (name: string) =>
  z.number().int().min(INT32_MIN, `${name} must be at least ${INT32_MIN}`).max(INT32_MAX, `${name} must be at most ${INT32_MAX}`);
const connectorId = int32('connectorId').min(0, 'connectorId must not be negative');
/**
 * A transactionId a station reports (MeterValues, StopTransaction): any integer JSON can carry
 * exactly. One beyond int32 is none the gateway issued, so it is read as an unknown transaction
 * (answered, with an alert), not refused: a refused StopTransaction would be sent again and again
 * and hold up the station's later transaction messages.
 */
const reportedTransactionId = z.number().int();
const idTag = z.string().max(20);

export const sampledValueSchema = z
  .object({
    value: z.string(),
    context: z.string().optional(),
    format: z.enum(['Raw', 'SignedData']).optional(),
    measurand: z.string().optional(),
    phase: z.string().optional(),
    location: z.string().optional(),
    unit: z.string().optional(),
  })
  .refine((s) => s.format === 'SignedData' || scanDecimal(s.value.trim()) !== undefined, {
    message: 'a Raw sampled value must be a number',
    path: ['value'],
  });

export const meterValueSchema = z.object({
  timestamp: dateTime,
  sampledValue: z.array(sampledValueSchema).min(1, 'sampledValue must not be empty'),
});

export const inbound = {
  BootNotification: z.object({
    chargePointVendor: z.string(),
    chargePointModel: z.string(),
    chargePointSerialNumber: z.string().optional(),
    chargeBoxSerialNumber: z.string().optional(),
    firmwareVersion: z.string().optional(),
    iccid: z.string().optional(),
    imsi: z.string().optional(),
    meterType: z.string().optional(),
    meterSerialNumber: z.string().optional(),
  }),
  Heartbeat: z.object({}),
  StatusNotification: z.object({
    connectorId,
    errorCode: z.string(),
    status: z.string(),
    info: z.string().optional(),
    timestamp: dateTime.optional(),
    vendorId: z.string().optional(),
    vendorErrorCode: z.string().optional(),
  }),
  Authorize: z.object({ idTag }),
  StartTransaction: z.object({
    connectorId: int32('connectorId').min(1, 'connectorId must be 1 or more'),
    idTag,
    meterStart: z.number().int().min(0, 'meterStart must not be negative'),
    // a reservation id no reservation can have (beyond 32 bits) is read as none: the start goes on
    reservationId: z
      .number()
      .int()
      .optional()
      .transform((v) => (v !== undefined && isInt32(v) ? v : undefined)),
    timestamp: dateTime,
  }),
  MeterValues: z.object({
    connectorId,
    transactionId: reportedTransactionId.optional(),
    meterValue: z.array(meterValueSchema).min(1, 'meterValue must not be empty'),
  }),
  StopTransaction: z.object({
    idTag: idTag.optional(),
    meterStop: z.number().int().min(0, 'meterStop must not be negative'),
    timestamp: dateTime,
    transactionId: reportedTransactionId,
    reason: z.string().optional(),
    transactionData: z.array(meterValueSchema).optional(),
  }),
  DataTransfer: z.object({
    vendorId: z.string(),
    messageId: z.string().optional(),
    data: z.string().optional(),
  }),
  FirmwareStatusNotification: z.object({ status: z.string() }),
  DiagnosticsStatusNotification: z.object({ status: z.string() }),
  // Security extension (1.6 security whitepaper): what a station reports by itself.
  SecurityEventNotification: z.object({ type: z.string(), timestamp: dateTime, techInfo: z.string().optional() }),
  LogStatusNotification: z.object({ status: z.string(), requestId: int32('requestId').optional() }),
  SignCertificate: z.object({ csr: z.string() }),
  SignedFirmwareStatusNotification: z.object({ status: z.string(), requestId: int32('requestId').optional() }),
} as const;

export type InboundAction = keyof typeof inbound;
export type InboundRequest<A extends InboundAction> = z.infer<(typeof inbound)[A]>;

export type AuthorizationStatus = 'Accepted' | 'Blocked' | 'Expired' | 'Invalid' | 'ConcurrentTx';
export interface IdTagInfo {
  status: AuthorizationStatus;
  expiryDate?: string;
  parentIdTag?: string;
}

export interface InboundResponses {
  BootNotification: { status: 'Accepted' | 'Pending' | 'Rejected'; currentTime: string; interval: number };
  Heartbeat: { currentTime: string };
  StatusNotification: Record<string, never>;
  Authorize: { idTagInfo: IdTagInfo };
  StartTransaction: { transactionId: number; idTagInfo: IdTagInfo };
  MeterValues: Record<string, never>;
  StopTransaction: { idTagInfo?: IdTagInfo };
  DataTransfer: { status: 'Accepted' | 'Rejected' | 'UnknownMessageId' | 'UnknownVendorId'; data?: string };
  FirmwareStatusNotification: Record<string, never>;
  DiagnosticsStatusNotification: Record<string, never>;
  SecurityEventNotification: Record<string, never>;
  LogStatusNotification: Record<string, never>;
  SignCertificate: { status: 'Accepted' | 'Rejected' };
  SignedFirmwareStatusNotification: Record<string, never>;
}
