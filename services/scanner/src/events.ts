/** The scanner's log event names (STYLE.md: one catalog per service). */
export const events = {
  started: 'scanner.started',
  scanned: 'scanner.scanned',
  tempfail: 'scanner.tempfail',
  dsn: 'scanner.dsn',
  bodyUnavailable: 'scanner.body_unavailable',
  eventPublishFailed: 'scanner.event_publish_failed',
  testHold: 'scanner.test_hold',
  inlineListening: 'scanner.inline.listening',
  inlineScanned: 'scanner.inline.scanned',
  inlineExpired: 'scanner.inline.expired',
  inlineInvalid: 'scanner.inline.invalid',
  inlineFailed: 'scanner.inline.failed',
  inlineBodyUnavailable: 'scanner.inline.body_unavailable',
  inlineReplyFailed: 'scanner.inline.reply_failed',
} as const;
