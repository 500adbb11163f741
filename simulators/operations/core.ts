/**
 * Core profile operations: remote start/stop, reset, unlock, availability, configuration,
 * the authorization cache and data transfer.
 */
import type { StationCore } from '../core.ts';
import type { ConnectorState } from '../connectors.ts';
import type { Operations, Params } from '../handlers.ts';
import { NOREPLY } from '../rpc.ts';
import type { ChargingProfile } from '../smart-charging.ts';

/** One stop delay in simulated seconds (a [min, max] range picks one at random). */
function stopDelay(core: StationCore): number {
  const delay = core.options.stopDelaySeconds ?? 0;
  if (typeof delay === 'number') return delay;
  const [min, max] = delay;
  return min + Math.random() * (max - min);
}

export function coreOperations(core: StationCore): Operations {
  const { config } = core;
  const rejectedOnce = new Set<number>();
  const parts = () => core.parts;

  /** The connector a RemoteStartTransaction would use, if it can take a session for `idTag`. */
  const remoteStartTarget = (params: Params): ConnectorState | undefined => {
    const { connectors, reservations } = parts();
    const idTag = String(params.idTag);
    const canStart = (c: ConnectorState | undefined): c is ConnectorState =>
      !!c &&
      c.id > 0 &&
      !c.session &&
      !c.starting &&
      !c.error &&
      !connectors.inoperative(c) &&
      ['Available', 'Preparing', 'Finishing', 'Reserved'].includes(c.status) &&
      reservations.claim(c, idTag) !== 'blocked';
    if (typeof params.connectorId === 'number') {
      const requested = connectors.find(params.connectorId);
      return canStart(requested) ? requested : undefined;
    }
    return connectors.outlets().find((c) => canStart(c));
  };

  /** A remote start may carry a charging profile, and then only a TxProfile. */
  const txProfileOrNone = (params: Params): boolean => {
    const profile = params.chargingProfile as ChargingProfile | undefined;
    return profile === undefined || profile.chargingProfilePurpose === 'TxProfile';
  };

  return {
    RemoteStartTransaction: {
      feature: 'Core',
      decide: (params) => ({ status: core.manual || (remoteStartTarget(params) && txProfileOrNone(params)) ? 'Accepted' : 'Rejected' }),
      apply(params, reply) {
        const idTag = String(params.idTag);
        const connector = reply.status === 'Accepted' && !core.manual ? remoteStartTarget(params) : undefined;
        const connectorId = connector?.id ?? (typeof params.connectorId === 'number' ? params.connectorId : undefined);
        core.emit('remoteStart', { connectorId, idTag, status: reply.status === 'Accepted' ? 'Accepted' : 'Rejected' });
        if (!connector) return;
        connector.starting = true;
        core.timers.immediate(() => {
          parts()
            .transactions.start(connector.id, idTag, { remote: true, reserved: true })
            .then((started) => {
              // The profile sent with the remote start governs the transaction it started (OCPP 1.6 5.11).
              const profile = params.chargingProfile as ChargingProfile | undefined;
              if (profile && started.outcome === 'Started') {
                parts().smartCharging.install(connector.id, { ...profile, transactionId: started.transactionId });
              }
            })
            .catch((err: unknown) => core.warn('remote start failed', err));
        });
      },
    },

    RemoteStopTransaction: {
      feature: 'Core',
      decide(params) {
        const transactionId = Number(params.transactionId);
        const mode = core.remoteStopMode;
        if (mode === 'ignore') {
          core.emit('remoteStop', { transactionId, status: 'Ignored' });
          return NOREPLY;
        }
        if (core.manual) return { status: 'Accepted' };
        const running = parts().connectors.byTransaction(transactionId) !== undefined;
        if (!running || mode === 'reject') return { status: 'Rejected' };
        if (mode === 'rejectFirst' && !rejectedOnce.has(transactionId)) {
          rejectedOnce.add(transactionId);
          return { status: 'Rejected' };
        }
        return { status: 'Accepted' };
      },
      apply(params, reply) {
        core.emit('remoteStop', { transactionId: Number(params.transactionId), status: reply.status === 'Accepted' ? 'Accepted' : 'Rejected' });
      },
      follow(params, reply) {
        const transactionId = Number(params.transactionId);
        const connector = parts().connectors.byTransaction(transactionId);
        if (reply.status !== 'Accepted' || !connector || core.manual || core.remoteStopMode === 'acceptNoStop') return;
        parts().transactions.stopAfter(connector, 'Remote', stopDelay(core));
      },
    },

    Reset: {
      feature: 'Core',
      decide: () => ({ status: parts().boot.isResetting ? 'Rejected' : 'Accepted' }),
      follow(params, reply) {
        if (reply.status !== 'Accepted') return;
        parts()
          .boot.reset(params.type === 'Hard' ? 'Hard' : 'Soft')
          .catch((err: unknown) => core.warn('reset failed', err));
      },
    },

    UnlockConnector: {
      feature: 'Core',
      decide(params) {
        const connector = parts().connectors.find(Number(params.connectorId));
        return { status: !connector || connector.id === 0 ? 'NotSupported' : 'Unlocked' };
      },
      follow(params, reply) {
        const { connectors, transactions } = parts();
        const connector = connectors.find(Number(params.connectorId));
        if (reply.status !== 'Unlocked' || !connector || connector.id === 0) return;
        if (connector.session) transactions.end(connector, 'UnlockCommand');
        else if (connector.status === 'Preparing' || connector.status === 'Finishing') connectors.setStatus(connector, connectors.idleStatus(connector));
      },
    },

    ChangeAvailability: {
      feature: 'Core',
      decide(params) {
        const { connectors } = parts();
        const connector = connectors.find(Number(params.connectorId));
        if (!connector) return { status: 'Rejected' };
        const affected = connector.id === 0 ? connectors.outlets() : [connector];
        const busy = params.type === 'Inoperative' && affected.some((c) => c.session || c.starting);
        return { status: busy ? 'Scheduled' : 'Accepted' };
      },
      apply(params, reply) {
        const connector = parts().connectors.find(Number(params.connectorId));
        if (!connector || (reply.status !== 'Accepted' && reply.status !== 'Scheduled')) return;
        const type = params.type === 'Inoperative' ? 'Inoperative' : 'Operative';
        // connector 0 is the whole charge point: a connector in a transaction follows it once the transaction ends
        if (type === 'Inoperative' && connector.id > 0 && (connector.session || connector.starting)) {
          connector.scheduledInoperative = true;
          return;
        }
        connector.scheduledInoperative = false;
        connector.availability = type;
        core.emit('availability', { connectorId: connector.id, availability: type });
      },
      follow() {
        const { connectors } = parts();
        for (const c of connectors.all) {
          if (c.id === 0) connectors.setStatus(c, c.availability === 'Inoperative' ? 'Unavailable' : 'Available');
          else connectors.settle(c);
        }
      },
    },

    GetConfiguration: {
      feature: 'Core',
      decide(params) {
        const keys = Array.isArray(params.key) ? params.key.map(String) : undefined;
        const { configurationKey, unknownKey } = config.get(keys);
        return unknownKey.length > 0 ? { configurationKey, unknownKey } : { configurationKey };
      },
    },

    ChangeConfiguration: {
      feature: 'Core',
      decide(params) {
        const key = String(params.key);
        const value = String(params.value);
        const status = config.check(key, value);
        return { status: status === 'Accepted' ? (parts().security.vetoChange(key, value) ?? status) : status };
      },
      apply(params, reply) {
        const key = String(params.key);
        const value = String(params.value);
        const stored = reply.status === 'Accepted' || reply.status === 'RebootRequired' ? config.change(key, value) : undefined;
        core.emit('configurationChanged', { key, value, status: String(reply.status) });
        if (stored !== 'Accepted') return;
        const { metering, boot } = parts();
        if (key === 'MeterValueSampleInterval') metering.rescheduleAll();
        else if (key === 'HeartbeatInterval') boot.setHeartbeatInterval(config.getInt('HeartbeatInterval', boot.heartbeatInterval));
        else if (key === 'ClockAlignedDataInterval') metering.scheduleClockAligned();
        else if (key === 'AuthorizationCacheEnabled' && !config.getBool(key, false)) parts().localAuth.clearCache();
      },
      follow(params, reply) {
        if (reply.status === 'Accepted') parts().security.applyChange(String(params.key), String(params.value));
      },
    },

    ClearCache: {
      feature: 'Core',
      decide: () => ({ status: 'Accepted' }),
      apply(_params, reply) {
        if (reply.status === 'Accepted') parts().localAuth.clearCache();
      },
    },

    DataTransfer: {
      feature: 'Core',
      decide: (params) => ({ status: params.vendorId === (core.options.vendor ?? 'SimVendor') ? 'UnknownMessageId' : 'UnknownVendorId' }),
    },
  };
}
