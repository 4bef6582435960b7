/**
 * @mailmesh/router: turns a scanned mail into delivery jobs. Pure planning
 * (`expandRecipients`, `planRoutes`, transport rules) plus the consumer that runs
 * it (`startRouter`, `routeMail`).
 */
export { buildRouterConfig, type RouterConfig } from './config.js';
export {
  defaultExpandLimits,
  expandRecipients,
  MAX_HOPS,
  normalizeRemote,
  refusalKinds,
  type EnvelopeRecipient,
  type ExpandLimits,
  type Expansion,
  type ExpansionStep,
  type FinalRecipient,
  type HeaderFacts,
  type Refusal,
  type RefusalKind,
} from './expand.js';
export {
  domainsNeedingMx,
  governingDomain,
  planRoutes,
  senderDomainOf,
  transportRefusal,
  type MxFacts,
  type Plan,
  type PlannedJob,
} from './plan.js';
export {
  directionApplies,
  domainAllowed,
  domainGlob,
  transportRuleOf,
  type TransportRule,
} from './rules.js';
export { TransportRuleError } from './errors.js';
export {
  headerFacts,
  jobPart,
  recordOf,
  routeMail,
  startRouter,
  type RouteResult,
  type RouterDeps,
  type RouterOptions,
} from './service.js';
export { routerEvents } from './events.js';
