'use strict';
// Haraka's log lines go to the service's pino logger (JSON), not to stdout.
/* global OK */
const HOST = Symbol.for('mailmesh.ingress.host');

exports.register = function () {
  this.register_hook('log', 'mailmesh');
};

exports.mailmesh = function (next, logger, log) {
  const host = globalThis[HOST];
  if (!host) return next();
  host.harakaLog(log.level, log.data);
  next(OK);
};
