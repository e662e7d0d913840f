// Durations on the command line: plain seconds (10, 0.5) or a number with
// a unit (500ms, 10s, 1m, 1h).

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Returns the duration in milliseconds, or undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (match === null) return undefined;

  const milliseconds = Number(match[1]) * UNIT_MS[match[2] ?? 's'];
  // setTimeout takes at most 2^31-1 ms (about 24.8 days).
  return Number.isFinite(milliseconds) && milliseconds <= 2 ** 31 - 1 ? Math.round(milliseconds) : undefined;
}

export function formatDuration(milliseconds: number): string {
  return milliseconds % 1000 === 0 ? `${milliseconds / 1000}s` : `${milliseconds}ms`;
}
