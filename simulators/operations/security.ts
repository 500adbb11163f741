/** Operations of the OCPP 1.6 Security extension (certificates, signed firmware, logs). */
import type { StationCore } from '../core.ts';
import type { Operations } from '../handlers.ts';
import type { GetLogParams, SignedUpdateFirmwareParams } from '../maintenance.ts';
import type { CertificateUse } from '../security.ts';

export function securityOperations(core: StationCore): Operations {
  const parts = () => core.parts;
  return {
    InstallCertificate: {
      feature: 'Security',
      decide: async (params) => ({ status: await parts().security.checkInstall(String(params.certificate)) }),
      async apply(params, reply) {
        if (reply.status === 'Accepted') await parts().security.install(params.certificateType as CertificateUse, String(params.certificate));
      },
    },
    GetInstalledCertificateIds: {
      feature: 'Security',
      decide: (params) => parts().security.ids(params.certificateType as CertificateUse),
    },
    DeleteCertificate: {
      feature: 'Security',
      decide: (params) => ({ status: parts().security.checkDelete(params.certificateHashData) }),
      apply(params, reply) {
        if (reply.status === 'Accepted') parts().security.delete(params.certificateHashData);
      },
    },
    CertificateSigned: {
      feature: 'Security',
      decide: async (params) => ({ status: await parts().security.checkSigned(String(params.certificateChain)) }),
      apply(params, reply) {
        if (reply.status === 'Accepted') parts().security.storeSigned(String(params.certificateChain));
      },
      follow(_params, reply) {
        if (reply.status === 'Accepted') parts().security.useClientCertificate();
      },
    },
    SignedUpdateFirmware: {
      feature: 'Security',
      decide: async (params) => ({ status: await parts().maintenance.checkSignedUpdate(params as SignedUpdateFirmwareParams) }),
      follow(params, reply) {
        if (reply.status === 'Accepted' || reply.status === 'AcceptedCanceled') {
          parts().maintenance.signedUpdateFirmware(params as SignedUpdateFirmwareParams);
        }
      },
    },
    GetLog: {
      feature: 'Security',
      decide: (params) => parts().maintenance.logAnswer(params as GetLogParams),
      follow(params, reply) {
        if (reply.status === 'Accepted' || reply.status === 'AcceptedCanceled') parts().maintenance.uploadLog(params as GetLogParams);
      },
    },
  };
}
