/**
 * Bounds on what a kernel's console output may cost. A kernel that prints in a tight loop must
 * not flood NATS, the agent's log or its caller: lines are cut to a length, and each agent
 * forwards a bounded number of lines per job, then one line saying how many more it dropped.
 */

/** Characters of one line of kernel output at most: a longer line is cut, and says by how much. */
export const MAX_KERNEL_OUTPUT_LINE = 8192;
/** Lines of kernel output an agent forwards (and logs) per job at most. */
export const KERNEL_OUTPUT_LINES_PER_JOB = 1000;
/** Lines of kernel output one job.log message carries at most. */
export const MAX_KERNEL_OUTPUT_LINES_PER_MESSAGE = 1000;

/** `text` cut to MAX_KERNEL_OUTPUT_LINE characters, with a note of how many were left out. */
export function cutOutputLine(text: string): string {
  if (text.length <= MAX_KERNEL_OUTPUT_LINE) return text;
  return `${text.slice(0, MAX_KERNEL_OUTPUT_LINE)}… (${text.length - MAX_KERNEL_OUTPUT_LINE} more characters)`;
}
