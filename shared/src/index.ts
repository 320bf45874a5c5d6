export * from './protocol.ts';
export * from './messages.ts';
export * from './state.ts';
export * from './display-name.ts';
export * from './auth.ts';
export * from './studio.ts';
export * from './voice.ts';
