/** The scanner's log event names (STYLE.md: one catalog per service). */
export const events = {
  started: 'scanner.started',
  scanned: 'scanner.scanned',
  tempfail: 'scanner.tempfail',
  dsn: 'scanner.dsn',
  bodyUnavailable: 'scanner.body_unavailable',
  eventPublishFailed: 'scanner.event_publish_failed',
  testHold: 'scanner.test_hold',
} as const;
