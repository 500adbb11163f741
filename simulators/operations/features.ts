/**
 * Operations of the optional 1.6 feature profiles: Firmware Management, Local Auth List
 * Management, Reservation and Smart Charging.
 */
import type { StationCore } from '../core.ts';
import type { LocalListEntry } from '../local-auth.ts';
import type { Operations } from '../handlers.ts';
import type { ReserveNowParams } from '../reservations.ts';
import type { ChargingProfile } from '../smart-charging.ts';

export function featureOperations(core: StationCore): Operations {
  const parts = () => core.parts;
  const localList = (params: Record<string, any>) => ({
    listVersion: Number(params.listVersion),
    updateType: String(params.updateType),
    localAuthorizationList: (params.localAuthorizationList ?? []) as LocalListEntry[],
  });

  return {
    // --- Firmware Management
    UpdateFirmware: {
      feature: 'FirmwareManagement',
      decide: () => ({}),
      follow: (params) => parts().maintenance.updateFirmware({ location: String(params.location), retrieveDate: String(params.retrieveDate) }),
    },
    GetDiagnostics: {
      feature: 'FirmwareManagement',
      decide: () => parts().maintenance.diagnosticsFile(),
      follow(_params, reply) {
        if (reply.fileName !== undefined) parts().maintenance.uploadDiagnostics();
      },
    },

    // --- Local Auth List Management
    SendLocalList: {
      feature: 'LocalAuthListManagement',
      decide: (params) => ({ status: parts().localAuth.check(localList(params)) }),
      apply(params, reply) {
        if (reply.status === 'Accepted') parts().localAuth.apply(localList(params));
      },
    },
    GetLocalListVersion: {
      feature: 'LocalAuthListManagement',
      decide: () => ({ listVersion: parts().localAuth.version() }),
    },

    // --- Reservation
    ReserveNow: {
      feature: 'Reservation',
      decide: (params) => ({ status: parts().reservations.check(params as ReserveNowParams) }),
      apply(params, reply) {
        if (reply.status === 'Accepted') parts().reservations.reserve(params as ReserveNowParams);
      },
    },
    CancelReservation: {
      feature: 'Reservation',
      decide: (params) => ({ status: parts().reservations.find(Number(params.reservationId)) ? 'Accepted' : 'Rejected' }),
      apply(params, reply) {
        if (reply.status === 'Accepted') parts().reservations.cancel(Number(params.reservationId));
      },
    },

    // --- Smart Charging
    SetChargingProfile: {
      feature: 'SmartCharging',
      decide: (params) => ({ status: parts().smartCharging.check(Number(params.connectorId), params.csChargingProfiles as ChargingProfile) }),
      apply(params, reply) {
        if (reply.status === 'Accepted') parts().smartCharging.install(Number(params.connectorId), params.csChargingProfiles as ChargingProfile);
      },
    },
    ClearChargingProfile: {
      feature: 'SmartCharging',
      decide: (params) => ({ status: parts().smartCharging.has(params) ? 'Accepted' : 'Unknown' }),
      apply(params, reply) {
        if (reply.status === 'Accepted') parts().smartCharging.clear(params);
      },
    },
    GetCompositeSchedule: {
      feature: 'SmartCharging',
      decide(params) {
        const connectorId = Number(params.connectorId);
        if (!parts().connectors.find(connectorId)) return { status: 'Rejected' };
        const unit = params.chargingRateUnit === 'A' || params.chargingRateUnit === 'W' ? params.chargingRateUnit : undefined;
        return parts().smartCharging.composite(connectorId, Number(params.duration), unit);
      },
    },
  };
}
