export type {
  CompiledDomain,
  CompiledGroup,
  CompiledMailbox,
  CompiledPolicy,
  DkimSettings,
  InlineScanFallback,
  InlineScanSettings,
  Limits,
  ListenerConfig,
  ListenerKind,
  PasswordHash,
  PlatformConfig,
  PolicyDirection,
  SecretRef,
  SmartHost,
  SmartHostTls,
  TlsFiles,
} from './compiled.js';
export {
  defaultAcceptanceDeadlineMs,
  defaultLimits,
  inlineScanFallbacks,
  listenerKinds,
} from './compiled.js';
export { ConfigError } from './errors.js';
export {
  buildSnapshot,
  ConfigSnapshot,
  encodeConfigValue,
  NetworkList,
  splitAddress,
  type LoginMatch,
  type RecipientMatch,
} from './snapshot.js';
