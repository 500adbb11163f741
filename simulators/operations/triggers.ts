/** TriggerMessage (Remote Trigger profile) and ExtendedTriggerMessage (Security extension). */
import type { StationCore } from '../core.ts';
import type { Operation, Operations, Params, Reply } from '../handlers.ts';

type Sender = (connectorId: number | undefined) => void;

export function triggerOperations(core: StationCore): Operations {
  const parts = () => core.parts;

  /** Messages both triggers can ask for. */
  const common: Record<string, Sender> = {
    BootNotification: () => void parts().boot.boot(false),
    Heartbeat: () => parts().boot.heartbeat().catch((err: unknown) => core.warn('Heartbeat failed', err)),
    StatusNotification: (connectorId) => {
      const { connectors } = parts();
      const targets = connectorId !== undefined ? [connectors.at(connectorId)] : connectors.all;
      for (const c of targets) connectors.sendStatus(c.id);
    },
    MeterValues: (connectorId) => {
      const { connectors, metering } = parts();
      const targets = connectorId !== undefined ? [connectors.at(connectorId)] : connectors.outlets();
      for (const c of targets.filter((t) => t.id > 0)) metering.sendTriggered(c);
    },
  };

  const trigger = (senders: Record<string, Sender>): Operation => {
    const validConnector = (params: Params) => params.connectorId === undefined || parts().connectors.find(Number(params.connectorId)) !== undefined;
    return {
      feature: 'RemoteTrigger',
      decide(params): Reply {
        if (!validConnector(params)) return { status: 'Rejected' };
        return { status: senders[String(params.requestedMessage)] ? 'Accepted' : 'NotImplemented' };
      },
      follow(params, reply) {
        if (reply.status !== 'Accepted' || !validConnector(params)) return;
        senders[String(params.requestedMessage)]?.(params.connectorId === undefined ? undefined : Number(params.connectorId));
      },
    };
  };

  return {
    TriggerMessage: trigger({
      ...common,
      DiagnosticsStatusNotification: () => parts().maintenance.reportDiagnostics(),
      FirmwareStatusNotification: () => parts().maintenance.reportFirmware(false),
    }),
    ExtendedTriggerMessage: {
      ...trigger({
        ...common,
        // the Security extension reports firmware through SignedFirmwareStatusNotification
        FirmwareStatusNotification: () => parts().maintenance.reportFirmware(true),
        LogStatusNotification: () => parts().maintenance.reportLog(),
        SignChargePointCertificate: () => {
          parts()
            .security.signCertificate()
            .catch((err: unknown) => core.warn('SignCertificate failed', err));
        },
      }),
      feature: 'Security',
    },
  };
}
