/**
 * Messages between the orchestrator (`cli.ts` / `run.ts`) and its child processes over the fork IPC
 * channel. Times are epoch milliseconds (`Date.now()`), comparable across processes.
 */

/** Orchestrator → bot process: who to be. */
export interface BotProcessConfig {
  endpoint: string;
  /** Index of this process's first player (names are `bot<index>`), and how many it runs. */
  firstIndex: number;
  count: number;
  /** How many of them decode replicated state (the first `tracked` of this process). */
  tracked: number;
  inputHz: number;
  talkEveryS: number;
  /** NPC conversations this process may have in flight at once. */
  maxTalkers: number;
  seed: number;
  /** Concurrent join handshakes per process. */
  joinConcurrency: number;
  joinTimeoutMs: number;
  /** Epoch ms after which the process exits whatever happens. */
  hardDeadline: number;
}

export type ToBot =
  | { cmd: 'start'; config: BotProcessConfig }
  /** Everyone joined (or gave up): start counting bytes, latency and talks from now. */
  | { cmd: 'measure' }
  /** The measured phase is over: stop moving and talking, wait up to `drainMs` for turns in flight, leave, report. */
  | { cmd: 'stop'; drainMs: number };

/** One finished (or failed) NPC conversation turn, as a bot saw it. */
export interface TurnRecord {
  /** When the line was sent / when the first chunk arrived / when the turn ended (epoch ms). */
  sentAt: number;
  firstChunkAt: number | null;
  endedAt: number;
  npcId: string;
  /** 'stop' | 'length' | 'fallback' | 'cancelled' | 'error', or `refused:<code>` for a TalkError. */
  outcome: string;
  chunks: number;
  firstChunkMs: number | null;
  action: string | null;
}

export interface BotCounters {
  /** Movement intents sent (all bots). */
  intents: number;
  /** Bot-seconds spent walking (for the achieved input rate). */
  walkingSeconds: number;
  chats: number;
  /** Talks wanted but not started because the concurrency cap was reached or no tracked bot was free. */
  talksSkipped: number;
  /** Talks given up before speaking: the NPC could not be reached in time. */
  talksAbandoned: number;
  /** State-latency probes that never saw the expected change (blocked by a wall, or lost). */
  latencyUnmatched: number;
}

export type FromBot =
  | { event: 'ready' }
  | { event: 'joined'; joined: number; failed: number; joinMs: number[]; failures: string[] }
  | {
      event: 'progress';
      at: number;
      /** Errors since the last progress message, by kind. */
      errors: Record<string, number>;
      latencyMs: number[];
      turns: TurnRecord[];
      counters: BotCounters;
      /** Bytes received by this process's bots since the measured phase began (all bots, cumulative). */
      bytesSinceMeasure: number;
      connected: number;
      /** Turns waiting on or streaming an NPC reply right now. */
      talking: number;
      /** Event-loop utilisation of the bot process over the last interval (0..1). */
      elu: number;
    }
  | {
      event: 'final';
      measuredS: number;
      bytesPerClientS: number[];
      connectedAtEnd: number;
      talksInFlightAtEnd: number;
      /** CPU seconds (user + system, `process.cpuUsage`) this bot process spent during the measured phase. */
      cpuS: number;
    };

/** Orchestrator → server child. */
export type ToServer = { cmd: 'stop' };

/** Server child → orchestrator (and the in-process equivalent). */
export type FromServer =
  | { event: 'ready'; port: number }
  | {
      event: 'frames';
      at: number;
      /** World-room frame costs (simulation step + patch) in ms since the previous report, all rooms. */
      frames: number[];
      rooms: number;
      clients: number;
      elu: number;
      /** CPU seconds (user + system, every thread of the server process) per wall second since the previous report. */
      cpuCores: number;
      rssMb: number;
    };
