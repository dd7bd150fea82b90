import { describeFix, fixOf, type ErrorFix, type FixCall } from '@sharc/protocol';

/**
 * Errors carry their fix as data (`details.fix`: an SDK option, or a call) and their message
 * words it for the SDK (`pass { replace: true }`). The CLI words it with its own flags and
 * commands instead: this is the one table from SDK option and call names to the CLI's.
 */
const FLAG_OF_OPTION: Readonly<Record<string, string>> = {
  replace: '--replace',
  timeoutMs: '--timeout-ms',
  copies: '--copies',
  partitions: '--partitions',
  dtype: '--dtype',
  shape: '--shape',
};

const COMMAND_OF_CALL: Readonly<Record<FixCall, string>> = {
  list: 'list the stored arrays with sharc ls',
};

/** How a CLI user applies `fix`, or undefined when no flag or command does it. */
function cliWording(fix: ErrorFix): string | undefined {
  if ('call' in fix) return COMMAND_OF_CALL[fix.call];
  // fromFile's resident: false / 'auto' is put's --stream / --stream auto.
  if (fix.option === 'resident') return fix.value === false ? 'use --stream' : fix.value === 'auto' ? 'use --stream auto' : undefined;
  const flag = FLAG_OF_OPTION[fix.option];
  if (flag === undefined) return undefined;
  return fix.value === true ? `use ${flag}` : `use ${flag} ${String(fix.value)}`;
}

/** The message of `error` with its fix said as CLI flags and commands (as it is when it has none). */
export function cliMessage(error: Error): string {
  const found = fixOf(error);
  const how = found === undefined ? undefined : cliWording(found.fix);
  return found === undefined || how === undefined ? error.message : `${found.problem}: ${describeFix(found.fix, how)}`;
}
