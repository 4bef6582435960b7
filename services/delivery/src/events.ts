/** Log event names of delivery (pino `event` field), in one place. */
export const deliveryEvents = {
  attempt: 'delivery.attempt',
  attemptError: 'delivery.attempt_error',
  alreadyDone: 'delivery.already_done',
  health: 'delivery.health',
  poolOpen: 'delivery.pool_open',
} as const;
