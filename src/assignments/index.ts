// The admin side's shared logic (issue 5): validation, assign/unassign, effective settings.
export * from './assign.js';
export * from './connection.js';
export * from './validate.js';
