/**
 * Command-line parsing for the project's CLIs (node:util parseArgs): `--help`/`-h` prints the usage
 * to stdout and exits 0; a bad option prints the problem and the usage to stderr and exits 2, instead
 * of a stack trace.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Parsed<T extends ParseArgsConfig> = ReturnType<typeof parseArgs<T>>;

export function parseCliArgs<T extends ParseArgsConfig>(command: string, usage: string, config: T, argv: string[] = process.argv.slice(2)): Parsed<T> {
  const text = usage.endsWith('\n') ? usage : usage + '\n';
  const withHelp = { ...config, args: argv, options: { ...config.options, help: { type: 'boolean', short: 'h' } } } as T;
  let parsed: Parsed<T>;
  try {
    parsed = parseArgs(withHelp);
  } catch (err) {
    if (argv.includes('--help') || argv.includes('-h')) {
      process.stdout.write(text);
      process.exit(0);
    }
    process.stderr.write(`${command}: ${(err as Error).message}\n${text}`);
    process.exit(2);
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(text);
    process.exit(0);
  }
  delete (parsed.values as { help?: boolean }).help;
  return parsed;
}
