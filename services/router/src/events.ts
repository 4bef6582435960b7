/** Log event names of the router (pino `event` field), in one place. */
export const routerEvents = {
  started: 'router.started',
  routed: 'router.routed',
  quarantineOnScanned: 'router.quarantine_on_scanned',
  health: 'router.health',
} as const;
