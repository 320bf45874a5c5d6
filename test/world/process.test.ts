import { describe, expect, it } from 'vitest';
import { loadConfig, ConfigError } from '../../server/src/config.ts';
import { connect, waitFor } from '../support/world-server.ts';
import { freePort, spawnServer, waitForOutput } from '../support/server-process.ts';

describe('server process', () => {
  it('serves clients in other processes and shuts down cleanly on SIGTERM', async () => {
    const port = await freePort();
    const proc = spawnServer({ PORT: String(port) });
    try {
      await waitForOutput(proc, /worldmind server listening/);
      expect(proc.output()).toMatch(/native uWebSockets\.js binding/);
      const endpoint = `ws://127.0.0.1:${port}`;
      const a = await connect(endpoint, 'ProcA');
      const b = await connect(endpoint, 'ProcB', { reconnect: { enabled: false } });
      await waitFor('A sees B', () => a.avatars.get(b.sessionId));
      const z0 = a.avatars.get(b.sessionId)!.z;
      b.move({ dir: { x: 0, z: 1 } });
      await waitFor('A sees B move', () => a.avatars.get(b.sessionId)!.z > z0 + 0.5);

      const left = b.next('leave', 15_000);
      const stoppedAt = Date.now();
      proc.child.kill('SIGTERM');
      const exit = await proc.exited;
      expect(exit.code).toBe(0);
      expect(Date.now() - stoppedAt).toBeLessThan(10_000);
      const [code] = await left;
      expect(code).toBe(4001); // SERVER_SHUTDOWN
      expect(proc.output()).toMatch(/shutdown complete/);
      await a.leave();
    } finally {
      proc.child.kill('SIGKILL');
    }
  });

  it('refuses to start on bad configuration, naming each bad variable', async () => {
    expect(() => loadConfig({ PORT: 'eighty', AOI_RADIUS: '-3', ALLOW_UWS_FALLBACK: 'maybe' })).toThrow(ConfigError);
    try {
      loadConfig({ PORT: 'eighty', AOI_RADIUS: '-3' });
    } catch (err) {
      expect((err as Error).message).toMatch(/PORT="eighty"/);
      expect((err as Error).message).toMatch(/AOI_RADIUS="-3"/);
    }
    expect(() => loadConfig({ WALK_SPEED: '10', RUN_SPEED: '5' })).toThrow(/RUN_SPEED=5: must be at least WALK_SPEED/);

    const proc = spawnServer({ PORT: '99999', TICK_RATE: '0' });
    const exit = await proc.exited;
    expect(exit.code).toBe(1);
    expect(proc.output()).toMatch(/worldmind: invalid configuration/);
    expect(proc.output()).toMatch(/PORT="99999"/);
    expect(proc.output()).toMatch(/TICK_RATE="0"/);
  });

  it('refuses to start on a broken world map, and when the port is taken', async () => {
    const broken = spawnServer({ PORT: '0', WORLD_MAP: '/nonexistent/map.json' });
    expect((await broken.exited).code).toBe(1);
    expect(broken.output()).toMatch(/cannot read world map \/nonexistent\/map\.json/);

    const port = await freePort();
    const first = spawnServer({ PORT: String(port) });
    try {
      await waitForOutput(first, /listening/);
      const second = spawnServer({ PORT: String(port) });
      const exit = await Promise.race([second.exited, new Promise((r) => setTimeout(() => r('still running'), 15_000))]);
      second.child.kill('SIGKILL');
      expect(exit).toMatchObject({ code: 1 });
      expect(second.output()).toMatch(/could not listen on 127\.0\.0\.1:\d+/);
    } finally {
      first.child.kill('SIGKILL');
    }
  });

  it('refuses to start when uWebSockets.js fell back to its JavaScript shim', async () => {
    // The aliased package honours UWS_USE_FALLBACK, which forces the same path a missing binary takes.
    const proc = spawnServer({ PORT: '0', UWS_USE_FALLBACK: '1' });
    expect((await proc.exited).code).toBe(1);
    expect(proc.output()).toMatch(/fell back to its JavaScript shim.*ALLOW_UWS_FALLBACK=true/s);
  });
});
