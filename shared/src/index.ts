export * from './protocol.ts';
export * from './messages.ts';
export * from './state.ts';
