import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { rewriteOutboundFrame, toOcpp16ErrorCode } from '../../src/ocpp/wire.ts';
import { errorCodeForIssue } from '../../src/ocpp/handlers/index.ts';
import { inbound } from '../../src/ocpp/messages.ts';
import { scanDecimal } from '../../src/shared/decimal.ts';

describe('OCPP 1.6 CALLERROR spelling on the wire', () => {
  it.each([
    ['FormatViolation', 'FormationViolation'],
    ['OccurrenceConstraintViolation', 'OccurenceConstraintViolation'],
    ['RpcFrameworkError', 'FormationViolation'],
    ['MessageTypeNotSupported', 'NotSupported'],
    ['SomethingElse', 'GenericError'],
    ['OccurenceConstraintViolation', 'OccurenceConstraintViolation'],
    ['NotImplemented', 'NotImplemented'],
    ['InternalError', 'InternalError'],
  ])('%s → %s', (from, to) => {
    expect(toOcpp16ErrorCode(from)).toBe(to);
    const frame = JSON.stringify([4, 'id-1', from, 'desc', {}]);
    expect(JSON.parse(rewriteOutboundFrame(frame))).toEqual([4, 'id-1', to, 'desc', {}]);
  });

  it('leaves CALL and CALLRESULT frames untouched (even with an error-like payload)', () => {
    const call = JSON.stringify([2, 'x', 'DataTransfer', { data: 'FormatViolation' }]);
    const result = JSON.stringify([3, 'x', { status: 'FormatViolation' }]);
    expect(rewriteOutboundFrame(call)).toBe(call);
    expect(rewriteOutboundFrame(result)).toBe(result);
  });
});

describe('payload checks the bundled schemas miss', () => {
  const now = new Date().toISOString();
  const issue = (schema: z.ZodType, payload: unknown) => {
    const r = schema.safeParse(payload);
    expect(r.success).toBe(false);
    return errorCodeForIssue(r.error!.issues[0]!);
  };

  it('an empty meterValue or sampledValue is an occurrence violation', () => {
    expect(issue(inbound.MeterValues, { connectorId: 1, meterValue: [] })).toBe('OccurenceConstraintViolation');
    expect(issue(inbound.MeterValues, { connectorId: 1, meterValue: [{ timestamp: now, sampledValue: [] }] })).toBe(
      'OccurenceConstraintViolation',
    );
  });

  it('a negative connectorId is a property violation', () => {
    expect(issue(inbound.StatusNotification, { connectorId: -1, errorCode: 'NoError', status: 'Available' })).toBe(
      'PropertyConstraintViolation',
    );
    expect(issue(inbound.StartTransaction, { connectorId: 0, idTag: 'a', meterStart: 0, timestamp: now })).toBe(
      'PropertyConstraintViolation',
    );
  });

  it.each(['abc', '', '12a', '1,5', 'NaN', 'Infinity', '--1'])('the Raw value %j is refused', (value) => {
    expect(
      issue(inbound.MeterValues, { connectorId: 1, meterValue: [{ timestamp: now, sampledValue: [{ value }] }] }),
    ).toBe('PropertyConstraintViolation');
  });

  it.each(['0', '12', '12.5', '-3', '.5', '1e3', ' 7 '])('the Raw value %j passes', (value) => {
    expect(scanDecimal(value.trim())).toBeDefined();
    expect(
      inbound.MeterValues.safeParse({ connectorId: 1, meterValue: [{ timestamp: now, sampledValue: [{ value }] }] }).success,
    ).toBe(true);
  });

  it('SignedData values are not numeric-checked', () => {
    const payload = {
      connectorId: 1,
      meterValue: [{ timestamp: now, sampledValue: [{ value: 'AP//BASE64==', format: 'SignedData' }] }],
    };
    expect(inbound.MeterValues.safeParse(payload).success).toBe(true);
  });

  it('a timestamp that is not a date is refused', () => {
    expect(issue(inbound.StatusNotification, { connectorId: 1, errorCode: 'NoError', status: 'Available', timestamp: 'yesterday' })).toBe(
      'PropertyConstraintViolation',
    );
  });
});
