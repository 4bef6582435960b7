import { Counter, Gauge, Histogram, type Registry } from '@mailmesh/runtime';

export interface IngressMetrics {
  readonly sessions: Counter<'listener'>;
  readonly activeSessions: Gauge<'listener'>;
  readonly accepted: Counter<'listener'>;
  /** `stage` is the SMTP phase (connect, auth, mail, rcpt, data); `reason` the enhanced status code. */
  readonly rejected: Counter<'stage' | 'code' | 'reason'>;
  readonly acceptanceSeconds: Histogram<'outcome'>;
  readonly auditDropped: Counter;
  /** Spool objects written for small bodies, and the mails in them (the group commit's yield). */
  readonly spoolObjects: Counter;
  readonly spoolMails: Counter;
}

export function ingressMetrics(registry: Registry): IngressMetrics {
  return {
    sessions: new Counter({
      name: 'mailmesh_ingress_sessions_total',
      help: 'SMTP sessions opened, by listener',
      labelNames: ['listener'],
      registers: [registry],
    }),
    activeSessions: new Gauge({
      name: 'mailmesh_ingress_sessions_active',
      help: 'SMTP sessions open now, by listener',
      labelNames: ['listener'],
      registers: [registry],
    }),
    accepted: new Counter({
      name: 'mailmesh_ingress_accepted_total',
      help: 'Mails accepted durably (answered 250 to DATA), by listener',
      labelNames: ['listener'],
      registers: [registry],
    }),
    rejected: new Counter({
      name: 'mailmesh_ingress_rejected_total',
      help: 'Refusals (4xx/5xx replies given by Mailmesh policy), by phase, code and enhanced code',
      labelNames: ['stage', 'code', 'reason'],
      registers: [registry],
    }),
    acceptanceSeconds: new Histogram({
      name: 'mailmesh_ingress_acceptance_seconds',
      help: 'End of DATA to the durable-acceptance outcome (spool write + publish ack)',
      labelNames: ['outcome'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    auditDropped: new Counter({
      name: 'mailmesh_ingress_audit_dropped_total',
      help: 'Session audit records that could not be published',
      registers: [registry],
    }),
    spoolObjects: new Counter({
      name: 'mailmesh_ingress_spool_objects_total',
      help: 'Spool objects written for small bodies (one PUT each; a segment holds several mails)',
      registers: [registry],
    }),
    spoolMails: new Counter({
      name: 'mailmesh_ingress_spool_mails_total',
      help: 'Small bodies stored through the group commit; divided by spool objects: mails per PUT',
      registers: [registry],
    }),
  };
}
