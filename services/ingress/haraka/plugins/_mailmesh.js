'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- Haraka loads plugins as CommonJS */
// Shared by the mailmesh_* shims (not a plugin itself). Every decision lives in
// @mailmesh/ingress (src/host.ts and the pure functions it calls); a shim only
// hands its hook over and makes sure Haraka's `next` runs exactly once.

const constants = require('haraka-constants');

const HOST = Symbol.for('mailmesh.ingress.host');

function once(next) {
  let called = false;
  return (code, msg) => {
    if (called) return;
    called = true;
    next(code, msg);
  };
}

exports.run = function (plugin, hook, next, connection, params) {
  const done = once(next);
  const host = globalThis[HOST];
  if (!host) {
    plugin.logcrit('mailmesh ingress host is not installed');
    // 421 4.3.0 via Haraka's DENYSOFTDISCONNECT: never accept mail without the host.
    return done(constants.denysoftdisconnect, '4.3.0 Service not available');
  }
  try {
    host.hook(hook, done, connection, params);
  } catch (err) {
    plugin.logcrit(`mailmesh ${hook} failed: ${err}`);
    done(constants.denysoft, '4.3.0 Internal error');
  }
};
