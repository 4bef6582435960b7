/**
 * @mailmesh/proto: the wire contract. Every subject, stream, consumer, bucket and
 * header name (names.ts), the generated mailmesh.v1 message types and schemas
 * (src/gen, from mailmesh/v1/*.proto), and their validators (validate.ts).
 */
export * from './names.js';
export * from './validate.js';
export * from './gen/mailmesh/v1/common_pb.js';
export * from './gen/mailmesh/v1/envelope_pb.js';
export * from './gen/mailmesh/v1/scan_pb.js';
export * from './gen/mailmesh/v1/delivery_pb.js';
export * from './gen/mailmesh/v1/audit_pb.js';
export * from './gen/mailmesh/v1/load_pb.js';
