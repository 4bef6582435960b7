'use strict';
/* eslint-disable @typescript-eslint/no-require-imports -- Haraka loads plugins as CommonJS */
// SMTP AUTH PLAIN/LOGIN (RFC 4954), offered only after TLS.
const mm = require('./_mailmesh.js');

exports.register = function () {
  this.register_hook('unrecognized_command', 'mailmesh');
};

exports.mailmesh = function (next, connection, params) {
  mm.run(this, 'unrecognized_command', next, connection, params);
};
