export type { Peer, ProcessPeer, TcpServicePeer } from './types.js';
export {
  startNats,
  natsConfig,
  type NatsPeer,
  type NatsUser,
  type StartNatsOptions,
} from './nats.js';
export { startMinio, type MinioPeer, type StartMinioOptions } from './minio.js';
export { startClamd, EICAR_SIGNATURE, type StartClamdOptions } from './clamd.js';
export { startSpamd, type StartSpamdOptions } from './spamd.js';
export {
  startKube,
  kubeconfigYaml,
  KUBE_CONTEXT,
  type KubePeer,
  type StartKubeOptions,
} from './kube.js';
export { EICAR, GTUBE } from './strings.js';
export { freePort } from './internal/ports.js';
export { binPath, binDir } from './internal/bin.js';
export { BinaryNotFoundError, PeerStartError, PeerStateError } from './internal/errors.js';
export { makeSelfSignedCert } from './cert.js';
