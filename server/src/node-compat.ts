/**
 * Colyseus 0.18 targets Node ≥ 22 and reads the global `WebSocket` (for `WebSocket.OPEN`) when a
 * client reconnects; Node 20 has no such global, so reconnection would throw. Provide the `ws`
 * implementation as that global when it is missing. Import this before any Colyseus module runs.
 */
import { WebSocket as NodeWebSocket } from 'ws';

const g = globalThis as { WebSocket?: unknown };
if (typeof g.WebSocket === 'undefined') g.WebSocket = NodeWebSocket;
