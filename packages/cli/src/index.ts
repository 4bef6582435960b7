/**
 * @mailmesh/cli: the `mailmesh` command (bin `mailmesh`, src/bin.ts) and the pieces
 * other tooling may reuse: run the command line in-process, compile YAML into config
 * documents, plan and publish them, and the dev-mode port plan.
 */
export { runCli } from './cli.js';
export {
  CliError,
  UsageError,
  ConfigInvalidError,
  ApplyConflictError,
  BusUnavailableError,
  PeerMissingError,
  PortInUseError,
  ChildStartError,
  ChildCrashedError,
  InvalidMailIdError,
  MailNotFoundError,
  NotSupportedError,
  NotProvisionedError,
  formatIssue,
  type ConfigIssue,
} from './errors.js';
export { readSources, type SourceFile } from './apply/files.js';
export {
  compileSources,
  DEFAULT_NAMESPACE,
  type CompileOptions,
  type CompiledConfig,
  type CompiledResource,
  type LiveView,
} from './apply/compile.js';
export {
  planChanges,
  summarize,
  canonicalJson,
  type Change,
  type ChangeAction,
  type LiveEntry,
  type PlanOptions,
} from './apply/plan.js';
export { openConfigBucket, readLive, publishChanges, type PublishResult } from './apply/publish.js';
export { applyConfig, liveViewOf, type ApplyRequest, type ApplyOutcome } from './apply/apply.js';
export { dnsAnswer, type DnsAnswer } from './commands/dns.js';
export { devPorts, type DevPorts, type PublicPorts, type InternalPorts } from './dev/ports.js';
export { devPlatform } from './dev/platform.js';
export { runDev, DevSession, type DevOptions, type DevState } from './dev/dev.js';
export { traceMail, checkMailId, type TraceResult } from './commands/trace.js';
export { listQueue } from './commands/queue.js';
export { eventLine, listLines, showLines, traceEvent, type TraceEvent } from './queue/format.js';
